"""The Python client (platlogs_client) beside references measured in the same run.

    .venv/bin/python bench/client.py                     # 50,000 records each
    .venv/bin/python bench/client.py --events 200000

1. The caller's cost of one `logger.info(..., extra=...)`:
     reference  logging.FileHandler writing a formatted line to a file (flushed each record);
     client     PlatformLogsHandler (mapping, encoding, queueing; the server away, so the
                sender thread only waits — the caller's side alone).
2. Delivery to one `platlogs serve` (2 workers, embedded store, a fresh data directory):
     reference  the same events, encoded the same way, POSTed as gzipped NDJSON batches of 500 by
                one sender on a keep-alive connection, one batch after another (the client's work
                without its queue and thread);
     client     Client.send() of each event, then flush(): done when the server answered all.
Prints µs a record / events a second and the ratios client / reference.
"""
from __future__ import annotations

import argparse
import gzip
import http.client
import logging
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from platlogs_client import Client, PlatformLogsHandler  # noqa: E402
from platlogs_client.events import encode, prepare  # noqa: E402

CLI = [sys.executable, "-m", "app.cli"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def log_records(logger: logging.Logger, n: int) -> float:
    started = time.perf_counter()
    for i in range(n):
        logger.info("deposit %d approved for %s", i, "p-1842", extra={
            "actor": {"type": "player", "id": f"p-{i % 1000}"}, "event.action": "deposit", "order_ref": f"A-{i}"})
    return time.perf_counter() - started


def caller_cost(n: int) -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as tmp:
        ref_logger = logging.getLogger("bench.file")
        ref_logger.propagate = False
        ref_logger.setLevel(logging.INFO)
        file_handler = logging.FileHandler(os.path.join(tmp, "app.log"))
        file_handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
        ref_logger.addHandler(file_handler)
        reference = log_records(ref_logger, n)
        file_handler.close()

        client = Client(f"http://127.0.0.1:{free_port()}", "k", max_memory_events=n + 1,
                        max_memory_bytes=1 << 40, min_backoff=3600, max_backoff=3600)
        logger = logging.getLogger("bench.client")
        logger.propagate = False
        logger.setLevel(logging.INFO)
        logger.addHandler(PlatformLogsHandler(client, service="bench"))
        measured = log_records(logger, n)
        assert client.stats()["queued"] == n, client.stats()
        client.close(timeout=0)
    return reference, measured


def start_server(env: dict) -> tuple[subprocess.Popen, str]:
    port = free_port()
    proc = subprocess.Popen([*CLI, "serve", "--port", str(port), "--workers", "2"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(base + "/api/v1/health", timeout=2):
                return proc, base
        except OSError:
            time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)
    raise SystemExit("server did not start")


def events(n: int, tag: str):
    for i in range(n):
        yield {"message": f"deposit {i} approved", "service": {"name": tag}, "log": {"level": "info"},
               "actor": {"type": "player", "id": f"p-{i % 1000}"}, "event": {"action": "deposit"},
               "labels": {"order_ref": f"A-{i}"}}


def post_raw(base: str, key: str, n: int) -> float:
    host, port = base.rsplit("//", 1)[1].split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=60)
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/x-ndjson", "Content-Encoding": "gzip"}
    started = time.perf_counter()
    lines = [encode(prepare(e)) for e in events(n, "bench-raw")]   # the same encoding, timed too
    for i in range(0, n, 500):
        conn.request("POST", "/api/v1/events/bulk", body=gzip.compress(b"".join(lines[i:i + 500]), 1, mtime=0),
                     headers=headers)
        response = conn.getresponse()
        body = response.read()
        assert response.status == 200, body
        if response.will_close:
            conn.close()
    return time.perf_counter() - started


def through_client(base: str, key: str, n: int) -> float:
    client = Client(base, key, batch_size=500, max_memory_events=n + 1, max_memory_bytes=1 << 40, timeout=60)
    started = time.perf_counter()
    for event in events(n, "bench-client"):
        client.send(event)
    assert client.flush(600), client.stats()
    elapsed = time.perf_counter() - started
    stats = client.stats()
    client.close()
    assert stats["sent"] == n and stats["refused"] == 0, stats
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=50_000)
    n = parser.parse_args().events

    reference, measured = caller_cost(n)
    print(f"caller, one logger.info:   FileHandler {reference / n * 1e6:7.1f} µs   "
          f"PlatformLogsHandler {measured / n * 1e6:7.1f} µs   ratio {measured / reference:.2f}")

    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "PLATLOGS_DATA_DIR": os.path.join(tmp, "data")}
        key = subprocess.run([*CLI, "keys", "create", "--scope", "ingest"], env=env, capture_output=True,
                             text=True, check=True).stdout.strip()
        proc, base = start_server(env)
        try:
            raw = post_raw(base, key, n)
            client = through_client(base, key, n)
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=60)
    print(f"delivery of {n:,} events:  raw bulk {n / raw:9,.0f} /s   client {n / client:9,.0f} /s   "
          f"ratio {raw / client:.2f} (client events/s ÷ raw)")


if __name__ == "__main__":
    main()
