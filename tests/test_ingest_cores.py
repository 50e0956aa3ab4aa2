"""Ingest uses every worker of `platlogs serve`, whatever the senders' connections do.

A real server (gunicorn, 2 workers) and real HTTP clients that keep their connections alive
(requests.Session, http.client). Which worker did the work is read from the kernel: each
worker process's CPU time (/proc/<pid>/stat) over the sending. Before app/server.py spread the
work, a kept-alive connection stayed with the worker that accepted it: one sender, or two whose
connections landed in one worker, used one core and left the other worker idle (issue 12:
112.9 CPU-s against 0.2)."""
from __future__ import annotations

import http.client
import os
import socket
import subprocess
import sys
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

import orjson
import pytest
import requests

from app.demo.generator import generate

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")

BATCH = 1000
CLI = [sys.executable, "-m", "app.cli"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    env = {**os.environ, "PLATLOGS_DATA_DIR": str(tmp_path_factory.mktemp("cores") / "data")}
    key = subprocess.run([*CLI, "keys", "create", "--scope", "ingest"], env=env, capture_output=True,
                         text=True, check=True, timeout=120).stdout.strip()
    port = free_port()
    proc = subprocess.Popen([*CLI, "serve", "--port", str(port), "--workers", "2"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    workers: list[int] = []
    while time.monotonic() < deadline:
        try:
            children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
            if len(children) == 2 and requests.get(base + "/api/v1/health", timeout=1).ok:
                workers = [int(c) for c in children]
                break
        except (requests.ConnectionError, requests.Timeout, OSError):   # a first answer slower than 1 s too
            pass
        time.sleep(0.1)
    else:
        proc.kill()
        raise AssertionError("server did not start")
    end = datetime.now(timezone.utc)
    lines = [orjson.dumps(e) for e in generate(41 * BATCH, days=1, seed=3, end=end)]
    bodies = [b"\n".join(lines[i:i + BATCH]) + b"\n" for i in range(0, len(lines), BATCH)]
    yield {"base": base, "port": port, "key": key, "workers": workers, "bodies": bodies}
    proc.terminate()
    proc.wait(timeout=30)


def shares(workers: list[int], run) -> list[float]:
    """Each worker's share of the workers' CPU time spent while `run()` runs."""
    before = [cpu_seconds(p) for p in workers]
    run()
    spent = [cpu_seconds(p) - b for p, b in zip(workers, before)]
    assert sum(spent) > 0.5, spent   # the batches did real work, so the shares mean something
    return [s / sum(spent) for s in spent]


def test_one_sender_with_one_kept_alive_connection_uses_both_workers(served):
    """Batch after batch over one requests.Session: the heavy answers end the connection, and
    the next batch is taken by the worker that is not cooling down."""
    session = requests.Session()
    headers = {"Authorization": f"Bearer {served['key']}", "Content-Type": "application/x-ndjson"}
    closes = []

    def run():
        for body in served["bodies"][:16]:
            r = session.post(served["base"] + "/api/v1/events/bulk", data=body, headers=headers, timeout=120)
            assert r.status_code == 200, r.text
            assert r.json()["accepted"] == BATCH
            closes.append(r.headers.get("Connection"))

    split = shares(served["workers"], run)
    assert set(closes) == {"close"}
    assert min(split) > 0.2, f"one worker did {max(split):.0%} of the work"


def test_two_senders_with_kept_alive_connections_use_both_workers(served):
    """Two http.client connections sending at the same time (http.client reconnects by itself
    after `Connection: close`): both workers work, about half each. Three rounds, each with two
    new connections (before the fix, the two landed in the same worker in about one round of two)."""
    errors: list = []

    def sender(bodies: list[bytes]) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", served["port"], timeout=120)
        headers = {"Authorization": f"Bearer {served['key']}", "Content-Type": "application/x-ndjson"}
        try:
            for body in bodies:
                conn.request("POST", "/api/v1/events/bulk", body=body, headers=headers)
                response = conn.getresponse()
                report = orjson.loads(response.read())
                if response.status != 200 or report["accepted"] != BATCH:
                    errors.append((response.status, report))
        except Exception as exc:   # reported below, in the test's thread
            errors.append(exc)
        finally:
            conn.close()

    for round_ in range(3):
        bodies = served["bodies"][16 + 8 * round_:24 + 8 * round_]

        def run():
            threads = [threading.Thread(target=sender, args=(bodies[n::2],)) for n in range(2)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()

        split = shares(served["workers"], run)
        assert not errors, errors[:3]
        assert min(split) > 0.25, f"round {round_}: one worker did {max(split):.0%} of the work"


def test_a_small_request_keeps_its_connection(served):
    """Only heavy requests end the connection: a handful of events keeps it alive."""
    session = requests.Session()
    headers = {"Authorization": f"Bearer {served['key']}", "Content-Type": "application/x-ndjson"}
    small = b"\n".join(served["bodies"][-1].split(b"\n")[:10]) + b"\n"
    r = session.post(served["base"] + "/api/v1/events/bulk", data=small, headers=headers, timeout=60)
    assert r.status_code == 200 and r.json()["accepted"] == 10
    assert r.headers.get("Connection", "keep-alive").lower() == "keep-alive"
    big = b"\n".join(served["bodies"][-1].split(b"\n")[10:]) + b"\n"
    r = session.post(served["base"] + "/api/v1/events", data=b"[" + big.strip().replace(b"\n", b",") + b"]",
                     headers={**headers, "Content-Type": "application/json"}, timeout=60)
    assert r.status_code == 200 and r.json()["accepted"] == BATCH - 10
    assert r.headers.get("Connection") == "close"   # the JSON-array endpoint too
