"""Browser tests: the back office in a real headless Chromium (Debian's `chromium` package, which
scripts/test installs), driven by Playwright for Python through `executable_path`, against a real
`platlogs serve` (gunicorn) subprocess on the SQLite store.

Fixtures — everything a new browser test needs:

  live_server       (module) a LiveServer: one gunicorn per test module, in a temporary data dir.
                    .url                          base URL, e.g. http://127.0.0.1:41234
                    .create_user(role, ...)       a user made with `platlogs users create` -> User
                                                  (must_change=True: `users reset-password` as well,
                                                  so the first sign-in forces a password change)
                    .ingest(events)               POST /api/v1/events with an ingest key -> JSON answer
                    .cli(*args)                   any `platlogs` command against this server's data
                    .get(path, **kw)              plain HTTP GET (requests), for API checks
                    .admin                        the `admin` user with its one-time password
  new_page          (function) factory: new_page() -> a Page in a fresh browser context (own cookies)
                    whose base_url is the live server, so `page.goto("/")` works. Every page made
                    is watched: the test fails at teardown if a Content-Security-Policy violation
                    or an uncaught JS error was reported in any of them (see BrowserLog).
  page              (function) new_page(), signed out.
  signed_in_page    (function) factory: signed_in_page("security") -> a new Page signed in through
                    the real login form as a fresh user of that role (a forced password change is
                    handled); signed_in_page(user=some_user) signs in an existing User — through the
                    form the first time in the module, later by reusing that session's cookies
                    (reuse=False: the form every time). The User is on `page.platlogs_user`. Go to
                    the page you test first: a new sign-in ends on the search page, a reused one
                    on about:blank.
  sign_in           (function) sign_in(page, user) -> fills and submits the login form on `page`
                    (and the password change form when it appears); returns the page.
  browser_log       (function) the BrowserLog shared by the test's pages: .console (every console
                    message, as "type: text"), .csp, .errors; browser_log.expect("...") allows a
                    known problem matching the text instead of failing on it.
  browser           (session)  the Playwright Browser (Chromium, headless).
  chromium_path     (session)  the Chromium binary: $PLATLOGS_TEST_CHROMIUM, /usr/bin/chromium or
                    `chromium` on PATH; without one the tests skip, except in CI (PLATLOGS_CI=1),
                    where they fail.

Example:

    def test_errors_page(live_server, signed_in_page):
        live_server.ingest([{"message": "boom", "log": {"level": "error"}}])
        page = signed_in_page("technical")
        page.goto("/errors")
        expect(page.get_by_text("boom")).to_be_visible()

(`expect` is playwright.sync_api.expect: it waits, up to 5 s, for what it checks.)

Notes: events without "@timestamp" get the time of ingest, so they are on the search page's default
"last 24 hours"; give them "event": {"id": ...} to open /events/<id>. All tests of a module share
its server: give users and events names of their own (create_user() picks unique names by itself).
The server throttles sign-in (5 failures per username, 20 per address in 15 minutes answer 429):
keep wrong-password attempts in a module few. Windows are 1440x900; actions wait up to 10 s. A
test that provokes a CSP report or a JS error on purpose says so with browser_log.expect(...).
"""
from __future__ import annotations

import itertools
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests

CLI = [sys.executable, "-m", "app.cli"]

# Without the networking switches Chromium keeps trying to reach Google's services (component
# updates, safe browsing, sync...), which on a closed network is a stream of refused connections.
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
]


def find_chromium() -> str | None:
    """$PLATLOGS_TEST_CHROMIUM when set (as it is), else /usr/bin/chromium, else `chromium` on PATH."""
    if os.environ.get("PLATLOGS_TEST_CHROMIUM"):
        return os.environ["PLATLOGS_TEST_CHROMIUM"]
    return "/usr/bin/chromium" if os.access("/usr/bin/chromium", os.X_OK) else shutil.which("chromium")


def launch_chromium(playwright, executable_path: str, **kwargs):
    """Debian's Chromium, headless, with the switches above (tools/screenshots.py uses the same)."""
    return playwright.chromium.launch(executable_path=executable_path, args=CHROMIUM_ARGS, headless=True, **kwargs)


@pytest.fixture(scope="session")
def chromium_path() -> str:
    """The Chromium binary; without one the test skips — except in CI (PLATLOGS_CI=1), where a
    skipped browser test would hide a failure, so it fails (as tests/conftest.py's services)."""
    path = find_chromium()
    if path and os.path.isfile(path) and os.access(path, os.X_OK):
        return path
    what = (f"PLATLOGS_TEST_CHROMIUM={path} is not an executable file" if os.environ.get("PLATLOGS_TEST_CHROMIUM")
            else "no Chromium (no /usr/bin/chromium, no chromium on PATH)")
    if os.environ.get("PLATLOGS_CI") == "1":
        pytest.fail(f"{what}: CI requires it (scripts/test installs Debian's chromium package)", pytrace=False)
    pytest.skip(f"{what}: no browser to test in (scripts/test installs Debian's chromium package when root)")


@pytest.fixture(scope="session")
def browser(chromium_path):
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:  # the `test` extra was not installed
        if os.environ.get("PLATLOGS_CI") == "1":
            pytest.fail("the playwright package is missing: CI requires it (pip install -e '.[test]')", pytrace=False)
        pytest.skip("the playwright package is not installed (pip install -e '.[test]')")
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright, chromium_path)
        yield browser
        browser.close()


# -- the server ---------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class User:
    username: str
    password: str          # the current password (updated by sign_in after a forced change)
    role: str
    must_change: bool = False
    new_password: str = field(default="")  # chosen at the forced change

    def __post_init__(self):
        self.new_password = self.new_password or f"{self.username}-chosen-pw-1"


class LiveServer:
    """A `platlogs serve` subprocess with its own data directory; see the module docstring."""

    _names = itertools.count(1)

    def __init__(self, data_dir: Path):
        self.data_dir = data_dir
        # Every setting at its default (SQLite store and meta DB in data_dir), whatever the shell has.
        self.env = {name: value for name, value in os.environ.items()
                    if not name.startswith("PLATLOGS_") or name.startswith("PLATLOGS_TEST_") or name == "PLATLOGS_CI"}
        self.env["PLATLOGS_DATA_DIR"] = str(data_dir)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = data_dir.parent / "server.log"
        self.admin: User | None = None
        self.sessions: dict[str, dict] = {}  # username -> Playwright storage state (signed_in_page)
        self._ingest_key: str | None = None
        self._proc: subprocess.Popen | None = None

    def start(self, timeout: float = 30) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "wb")  # a file, not a pipe: nobody has to keep reading it
        self._proc = subprocess.Popen([*CLI, "serve", "--port", str(self.port), "--workers", "2"], env=self.env,
                                      stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        deadline = time.monotonic() + timeout
        while True:
            if self._proc.poll() is not None:
                raise AssertionError(f"platlogs serve exited with {self._proc.returncode}:\n{self.log()}")
            try:
                if requests.get(self.url + "/api/v1/health", timeout=1).ok:
                    break
            except (requests.ConnectionError, requests.Timeout):   # a loaded machine: a first answer slower than 1 s
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise AssertionError(f"platlogs serve did not answer /api/v1/health in {timeout:.0f} s:\n{self.log()}")
            time.sleep(0.1)
        match = re.search(r"one-time password\s+(\S+)", self.log())
        if match:
            self.admin = User("admin", match.group(1), "administrator", must_change=True)

    def stop(self) -> None:
        if self._proc is None or self._proc.poll() is not None:
            return
        self._proc.terminate()
        try:
            self._proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self._proc.pid, 9)
            self._proc.wait()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    # -- helpers ------------------------------------------------------------------------

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        result = subprocess.run([*CLI, *args], env=self.env, capture_output=True, text=True, timeout=120)
        if check and result.returncode != 0:
            raise AssertionError(f"platlogs {' '.join(args)} failed ({result.returncode}): {result.stderr}")
        return result

    def create_user(self, role: str = "operations", username: str | None = None, password: str | None = None,
                    must_change: bool = False) -> User:
        """A new back-office user. `platlogs users create` never forces a change, so with
        must_change=True the password is then replaced by `users reset-password`'s one-time one."""
        username = username or f"{role[:4]}{next(self._names)}"
        password = password or f"{username}-password-1"
        self.cli("users", "create", username, "--role", role, "--password", password)
        if must_change:
            out = self.cli("users", "reset-password", username).stdout
            password = re.search(r"one-time password for \S+: (\S+)", out).group(1)
        return User(username, password, role, must_change=must_change)

    @property
    def ingest_key(self) -> str:
        if self._ingest_key is None:
            # (its creation is an admin_action event in the store: a name no test searches for)
            self._ingest_key = self.cli("keys", "create", "--scope", "ingest", "--name", "suite-shipper").stdout.strip()
        return self._ingest_key

    def ingest(self, events: list[dict] | dict, expect_status: int | None = 200) -> dict:
        """POST events (one object or a list) to /api/v1/events; checks the status (None: any)."""
        response = requests.post(self.url + "/api/v1/events", json=events, timeout=30,
                                 headers={"Authorization": f"Bearer {self.ingest_key}"})
        if expect_status is not None:
            assert response.status_code == expect_status, f"ingest answered {response.status_code}: {response.text}"
        return response.json()

    def get(self, path: str, **kwargs) -> requests.Response:
        return requests.get(self.url + path, timeout=kwargs.pop("timeout", 30), **kwargs)


@pytest.fixture(scope="module")
def live_server(tmp_path_factory):
    server = LiveServer(tmp_path_factory.mktemp("live") / "data")
    server.start()
    yield server
    server.stop()


# -- pages -------------------------------------------------------------------------------------

# Runs in every document before its own scripts: CSP violations are also reported as DOM events,
# which catch what the console might word differently. (Playwright's init scripts are not subject
# to the page's CSP.)
_CSP_LISTENER = """
document.addEventListener('securitypolicyviolation', (e) => {
  try { window.__platlogsCsp && window.__platlogsCsp(
    `Content Security Policy: ${e.violatedDirective} blocked ${e.blockedURI || 'inline'} at ${e.sourceFile || document.location.href}:${e.lineNumber}`);
  } catch (_) {}
}, true);
"""


class BrowserLog:
    """What the test's pages reported: all console messages, CSP violations, uncaught errors."""

    def __init__(self):
        self.console: list[str] = []
        self.csp: list[str] = []
        self.errors: list[str] = []
        self._expected: list[re.Pattern] = []

    def expect(self, pattern: str) -> None:
        """Allow problems matching `pattern` (a regular expression) in this test."""
        self._expected.append(re.compile(pattern))

    def watch(self, context, page) -> None:
        context.expose_function("__platlogsCsp", lambda text: self.csp.append(text))
        context.add_init_script(_CSP_LISTENER)
        page.on("console", self._on_console)
        page.on("pageerror", lambda error: self.errors.append(f"uncaught {error.name}: {error.message}\n{error.stack}"))

    def _on_console(self, message) -> None:
        text = f"{message.type}: {message.text}"
        self.console.append(text)
        if "Content Security Policy" in message.text or "Content-Security-Policy" in message.text:
            self.csp.append(text)

    def problems(self) -> list[str]:
        return [p for p in self.csp + self.errors if not any(x.search(p) for x in self._expected)]


@pytest.fixture
def browser_log() -> BrowserLog:
    return BrowserLog()


@pytest.fixture
def new_page(browser, live_server, browser_log):
    contexts = []

    def make(**context_options):
        context_options.setdefault("base_url", live_server.url)
        context_options.setdefault("viewport", {"width": 1440, "height": 900})
        context = browser.new_context(**context_options)
        context.set_default_timeout(10_000)
        page = context.new_page()
        browser_log.watch(context, page)
        contexts.append(context)
        return page

    yield make
    for context in contexts:
        context.close()
    problems = browser_log.problems()
    if problems:
        pytest.fail("the browser reported CSP violations or JS errors:\n  " + "\n  ".join(problems), pytrace=False)


@pytest.fixture
def page(new_page):
    return new_page()


def _submit_login(page, user: User) -> None:
    page.goto("/login")
    page.locator("input[name=username]").fill(user.username)
    page.locator("input[name=password]").fill(user.password)
    with page.expect_navigation():
        page.get_by_role("button", name="Sign in").click()


@pytest.fixture
def sign_in():
    def do(page, user: User):
        """Sign `user` in through the form on `page`; a forced password change is made with
        user.new_password (and user.password updated). Ends on the page the app lands on."""
        _submit_login(page, user)
        path = urlsplit(page.url).path
        if path == "/login":
            error = page.locator(".error").all_text_contents()
            raise AssertionError(f"sign-in as {user.username} failed: {error}")
        if path == "/account/password":
            page.locator("input[name=current_password]").fill(user.password)
            page.locator("input[name=new_password]").fill(user.new_password)
            page.locator("input[name=repeat_password]").fill(user.new_password)
            with page.expect_navigation():
                page.get_by_role("button", name="Change password").click()
            assert "/account/password" not in page.url, page.locator(".error").all_text_contents()
            user.password, user.must_change = user.new_password, False
        return page
    return do


@pytest.fixture
def signed_in_page(new_page, live_server, sign_in):
    def make(role: str = "operations", *, user: User | None = None, reuse: bool = True):
        """A new user of `role` signed in through the form; or `user` — through the form the first
        time in this module, then (reuse=True) with that session's cookies in the new context,
        which saves a sign-in (~1 s) per test. Go to the page you test: where it starts differs."""
        if user is None:
            user = live_server.create_user(role)
        elif reuse and user.username in live_server.sessions:
            page = new_page(storage_state=live_server.sessions[user.username])
            page.platlogs_user = user
            return page
        page = sign_in(new_page(), user)
        live_server.sessions[user.username] = page.context.storage_state()
        page.platlogs_user = user
        return page
    return make
