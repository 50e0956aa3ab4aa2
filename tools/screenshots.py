#!/usr/bin/env python3
"""Full-page screenshots of back-office pages, for the docs.

    .venv/bin/python tools/screenshots.py http://127.0.0.1:8080 admin --password '…' / /timeline /errors
    .venv/bin/python tools/screenshots.py URL USER --password-file pw.txt search=/ errors=/errors?from=now-7d

Signs in through the login form with Playwright in Debian's headless Chromium (the browser the
browser tests use: --chromium, $PLATLOGS_TEST_CHROMIUM, /usr/bin/chromium or `chromium` on PATH;
Playwright's own browser download is never needed), then saves each page as
docs/screenshots/<name>.png (--out) at 1440x900 (--width/--height; the image is as tall as the
page). A page is `PATH` or `NAME=PATH`; the name of a bare path is its first parts ("/" is
"search", "/events/ev-1" is "events-ev-1"). The password comes from --password, --password-file
or $PLATLOGS_PASSWORD. A user who still has to change a one-time password is refused: sign in
once by hand first.

Exits 1 if a page answered an HTTP error, or the browser reported a Content-Security-Policy
violation or an uncaught script error on it (the screenshot is still saved), 2 on bad arguments
or a failed sign-in.
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import sys
from pathlib import Path
from urllib.parse import urlsplit

# The same switches as tests/browser/conftest.py: without the networking ones Chromium keeps trying
# to reach Google's services, a stream of refused connections on a closed network.
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
]
REPO = Path(__file__).resolve().parent.parent


def find_chromium() -> str | None:
    for candidate in (os.environ.get("PLATLOGS_TEST_CHROMIUM"), "/usr/bin/chromium", shutil.which("chromium")):
        if candidate and os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    return None


def name_for(path: str) -> str:
    parts = urlsplit(path)
    if parts.path.strip("/") == "":
        return "search"
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", parts.path.strip("/")).strip("-.")
    return slug[:80] or "page"


def parse_page(spec: str) -> tuple[str, str]:
    """NAME=PATH or PATH -> (name, path)."""
    name, sep, path = spec.partition("=")
    if sep and not name.startswith("/") and re.fullmatch(r"[A-Za-z0-9._-]+", name):
        if not path.startswith("/"):
            raise argparse.ArgumentTypeError(f"{spec!r}: the path must start with /")
        return name, path
    if not spec.startswith("/"):
        raise argparse.ArgumentTypeError(f"{spec!r}: expected /path or name=/path")
    return name_for(spec), spec


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog=__doc__.split("\n\n", 1)[1])
    parser.add_argument("base_url", help="the back office, e.g. http://127.0.0.1:8080")
    parser.add_argument("username")
    parser.add_argument("pages", nargs="+", type=parse_page, metavar="PAGE", help="/path or name=/path")
    parser.add_argument("--password", help="the user's password (or --password-file, or $PLATLOGS_PASSWORD)")
    parser.add_argument("--password-file", type=Path)
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "screenshots", help="default: docs/screenshots")
    parser.add_argument("--width", type=int, default=1440)
    parser.add_argument("--height", type=int, default=900)
    parser.add_argument("--settle-ms", type=int, default=500,
                        help="wait this long after each page has loaded (scripts, live tail)")
    parser.add_argument("--chromium", default=None, help="the Chromium binary (default: found as described)")
    args = parser.parse_args(argv)

    password = args.password
    if password is None and args.password_file:
        password = args.password_file.read_text().strip()
    password = password if password is not None else os.environ.get("PLATLOGS_PASSWORD")
    if not password:
        parser.error("no password: --password, --password-file or $PLATLOGS_PASSWORD")
    chromium = args.chromium or find_chromium()
    if not chromium:
        parser.error("no Chromium: install Debian's chromium package or pass --chromium")
    base = args.base_url.rstrip("/")

    from playwright.sync_api import sync_playwright

    args.out.mkdir(parents=True, exist_ok=True)
    failures = 0
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS, headless=True)
        context = browser.new_context(base_url=base, viewport={"width": args.width, "height": args.height})
        context.set_default_timeout(30_000)
        page = context.new_page()
        problems: list[str] = []
        page.on("pageerror", lambda error: problems.append(f"uncaught {error.name}: {error.message}"))
        page.on("console", lambda m: problems.append(m.text) if "Content Security Policy" in m.text else None)

        page.goto("/login")
        page.locator("input[name=username]").fill(args.username)
        page.locator("input[name=password]").fill(password)
        with page.expect_navigation():
            page.locator("form button[type=submit]").click()
        landed = urlsplit(page.url).path
        if landed == "/login":
            print(f"screenshots: sign-in as {args.username} refused: "
                  f"{' '.join(page.locator('.error').all_text_contents()) or 'no reason shown'}", file=sys.stderr)
            browser.close()
            return 2
        if landed == "/account/password":
            print(f"screenshots: {args.username} must first change the one-time password (sign in once by hand)",
                  file=sys.stderr)
            browser.close()
            return 2

        for name, path in args.pages:
            problems.clear()
            response = page.goto(path, wait_until="load")
            page.wait_for_timeout(args.settle_ms)
            target = args.out / f"{name}.png"
            page.screenshot(path=str(target), full_page=True)
            status = response.status if response else 0
            note = ""
            if status >= 400 or problems:
                failures += 1
                note = "  <- " + "; ".join([f"HTTP {status}"] * (status >= 400) + problems)
            try:
                shown = target.relative_to(Path.cwd())
            except ValueError:
                shown = target
            print(f"{path:40} {status}  {shown}{note}")
        browser.close()
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
