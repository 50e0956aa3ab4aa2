"""The real thing: `platlogs serve` (gunicorn) over HTTP, and the CLI commands, as subprocesses."""
from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time

import orjson
import pytest
import requests

CLI = [sys.executable, "-m", "app.cli"]


def default_store(env: dict) -> str:
    """The event store the CLI and the server use for this environment's data directory."""
    from app.config import Settings
    return Settings.from_env({"PLATLOGS_DATA_DIR": env["PLATLOGS_DATA_DIR"]}).store_url


def run_cli(env, *args, check=True, input=None):
    result = subprocess.run([*CLI, *args], env=env, capture_output=True, text=True, timeout=120, input=input)
    if check and result.returncode != 0:
        raise AssertionError(f"platlogs {' '.join(args)} failed: {result.stderr}")
    return result


@pytest.fixture
def cli_env(tmp_path):
    return {**os.environ, "PLATLOGS_DATA_DIR": str(tmp_path / "data")}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server(cli_env):
    port = free_port()
    proc = subprocess.Popen([*CLI, "serve", "--port", str(port), "--workers", "2"], env=cli_env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    banner = ""
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        banner += line
        if "one-time password" in line:
            break
    while time.monotonic() < deadline:
        try:
            if requests.get(base + "/api/v1/health", timeout=1).ok:
                break
        except (requests.ConnectionError, requests.Timeout):   # a loaded machine: a first answer slower than 1 s
            time.sleep(0.1)
    else:
        proc.kill()
        raise AssertionError(f"server did not start: {banner}")
    password = re.search(r"one-time password\s+(\S+)", banner).group(1)
    yield base, password
    proc.terminate()
    proc.wait(timeout=20)


def test_serve_ingests_a_streamed_bulk_body_and_serves_it(server, cli_env):
    base, _ = server
    ingest_key = run_cli(cli_env, "keys", "create", "--scope", "ingest").stdout.strip()
    read_key = run_cli(cli_env, "keys", "create", "--scope", "read").stdout.strip()
    assert ingest_key.startswith("plk_") and ingest_key != read_key

    def body():  # a generator: requests sends it chunked, never as one buffer
        for i in range(20_000):
            yield orjson.dumps({"message": f"login {i}", "actor": {"type": "player", "id": f"p-{i % 100}"},
                                "event": {"action": "login", "id": f"bulk-{i}"}}) + b"\n"
        yield b"{not json}\n"

    response = requests.post(base + "/api/v1/events/bulk", data=body(), timeout=120,
                             headers={"Authorization": f"Bearer {ingest_key}", "Content-Type": "application/x-ndjson"})
    assert response.status_code == 207
    assert response.json()["accepted"] == 20_000 and response.json()["errors"][0]["line"] == 20_001
    found = requests.get(base + "/api/v1/events", params={"q": "actor.id:p-7", "size": 1000},
                         headers={"Authorization": f"Bearer {read_key}"}, timeout=10).json()
    assert found["total"] == {"value": 200, "exact": True}
    assert {h["event"]["type"] for h in found["hits"]} == {"login"}


def test_serve_prints_a_working_one_time_password(server):
    base, password = server
    session = requests.Session()
    page = session.get(base + "/login", timeout=5).text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    response = session.post(base + "/login", data={"username": "admin", "password": password, "csrf_token": token},
                            allow_redirects=False, timeout=5)
    assert response.status_code == 302 and "/account/password" in response.headers["Location"]


def test_cli_ingest_reports_bad_lines_and_keeps_good_ones(cli_env, tmp_path):
    path = tmp_path / "events.ndjson"
    path.write_bytes(b'{"message": "a", "event": {"id": "f-1"}}\nnope\n{"message": "b", "event": {"id": "f-2"}}\n')
    result = run_cli(cli_env, "ingest", str(path), check=False)
    assert result.returncode == 1
    assert "accepted 2 (0 already stored), rejected 1" in result.stdout
    assert "line 2: malformed JSON" in result.stderr
    again = run_cli(cli_env, "ingest", str(path), check=False)
    assert "accepted 2 (2 already stored)" in again.stdout


def test_cli_users(cli_env):
    created = run_cli(cli_env, "users", "create", "sofia", "--role", "security")
    assert "created sofia (security)" in created.stdout and "password: " in created.stdout
    assert run_cli(cli_env, "users", "create", "x", "--role", "king", check=False).returncode == 2
    duplicate = run_cli(cli_env, "users", "create", "sofia", "--role", "security", check=False)
    assert duplicate.returncode == 1 and "already exists" in duplicate.stderr
    assert "sofia" in run_cli(cli_env, "users", "list").stdout


def test_bad_settings_fail_loudly_with_the_setting_name(cli_env):
    result = run_cli({**cli_env, "PLATLOGS_MAX_EVENT_BYTES": "lots"}, "keys", "list", check=False)
    assert result.returncode == 1 and "PLATLOGS_MAX_EVENT_BYTES: expected an integer" in result.stderr
    result = run_cli({**cli_env, "PLATLOGS_STORE": "postgres://x"}, "keys", "list", check=False)
    assert result.returncode == 1 and "unknown store URL scheme 'postgres'" in result.stderr


def test_acknowledged_events_survive_a_hard_kill(cli_env, tmp_path):
    """200 means on disk: SIGKILL the server right after the answer, then count from a new process."""
    import signal
    port = free_port()
    key = run_cli(cli_env, "keys", "create", "--scope", "ingest").stdout.strip()
    proc = subprocess.Popen([*CLI, "serve", "--port", str(port), "--workers", "1"], env=cli_env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if requests.get(base + "/api/v1/health", timeout=1).ok:
                    break
            except (requests.ConnectionError, requests.Timeout):   # a loaded machine: a first answer slower than 1 s
                time.sleep(0.1)
        body = b"".join(orjson.dumps({"message": f"m{i}", "event": {"id": f"k-{i}"}}) + b"\n" for i in range(5000))
        response = requests.post(base + "/api/v1/events/bulk", data=body, timeout=60,
                                 headers={"Authorization": f"Bearer {key}"})
        assert response.status_code == 200 and response.json()["accepted"] == 5000
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    counted = subprocess.run([sys.executable, "-c",
                              "from app.storage import open_store;"
                              f"print(open_store({default_store(cli_env)!r}).count())"],
                             capture_output=True, text=True, check=True)
    assert counted.stdout.strip() == "5001"   # and the key's creation, recorded (an admin_action event)


def test_two_writer_processes_at_once(server, cli_env, tmp_path):
    """The CLI and the web workers write the same store concurrently: nothing lost, no lock errors."""
    base, _ = server
    key = run_cli(cli_env, "keys", "create", "--scope", "ingest").stdout.strip()
    path = tmp_path / "cli.ndjson"
    path.write_bytes(b"".join(orjson.dumps({"message": "from cli", "event": {"id": f"cli-{i}"}}) + b"\n"
                              for i in range(20_000)))
    cli = subprocess.Popen([*CLI, "ingest", str(path)], env=cli_env, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True)
    for batch in range(10):
        body = b"".join(orjson.dumps({"message": "from http", "event": {"id": f"http-{batch}-{i}"}}) + b"\n"
                        for i in range(2000))
        response = requests.post(base + "/api/v1/events/bulk", data=body, timeout=60,
                                 headers={"Authorization": f"Bearer {key}"})
        assert response.json()["accepted"] == 2000
    out, err = cli.communicate(timeout=120)
    assert cli.returncode == 0, err
    assert "accepted 20,000" in out
    counted = subprocess.run([sys.executable, "-c",
                              "from app.storage import open_store;"
                              f"print(open_store({default_store(cli_env)!r}).count())"],
                             capture_output=True, text=True, check=True)
    assert counted.stdout.strip() == "40001"   # and the key's creation, recorded (an admin_action event)


def test_demo_fills_the_store_through_the_ingest_path(cli_env):
    result = run_cli(cli_env, "demo", "--events", "3000", "--days", "2", "--seed", "9")
    assert "stored 3,000 events (0 rejected)" in result.stdout
    check = subprocess.run([sys.executable, "-c", f"""
from app.query import parse
from app.storage import open_store, SearchRequest
store = open_store({default_store(cli_env)!r})
components = set()
for c in ['system', 'user_activity', 'admin_action', 'error', 'api', 'integration']:
    if store.search(SearchRequest(query=parse('event.component:' + c), size=1)).hits:
        components.add(c)
hit = store.search(SearchRequest(size=1)).hits[0]
print(store.count(), len(components), hit['event']['classified_by'] != '')
"""], capture_output=True, text=True, check=True)
    assert check.stdout.split() == ["3000", "6", "True"]
