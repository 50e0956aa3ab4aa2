"""Syslog over TCP against the native bulk endpoint, in the same run, on the embedded store.

    .venv/bin/python bench/ingest_syslog.py                  # 200,000 events each
    .venv/bin/python bench/ingest_syslog.py --events 500000

One `platlogs serve` (2 workers) with PLATLOGS_SYSLOG_TCP set, in a fresh data directory, runs
native, syslog, native again (the index grows as it goes: the mean of the native runs is the
reference):
  native  the events, already shaped as the syslog listener would shape them (the same JSON),
          POSTed as NDJSON batches of 2,000 to /api/v1/events/bulk by 2 senders on keep-alive
          connections; done when every answer is in;
  syslog  the same events as RFC 5424 lines (structured data on a third, sshd/nginx/cron/kernel
          texts), octet-counted, over 2 TCP connections; done when the listener's counters
          (<data dir>/syslog-status.json) say all were stored.
Prints events/s and the server's CPU µs per event (all its processes, by kind) for each, and the
ratio syslog / native of both (the issue's target: at least 0.7 in events/s; the CPU ratio is
the steadier one on a machine shared with other work).
"""
from __future__ import annotations

import argparse
import json
import os
import random
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from app.syslog.mapping import to_json  # noqa: E402
from app.syslog.parse import parse  # noqa: E402

HOSTS = [f"web{n}" for n in range(1, 9)] + ["db1", "db2", "edge-fw", "lb1"]
APPS = [("sshd", "Accepted publickey for deploy from 203.0.113.{n} port {p} ssh2"),
        ("CRON", "(root) CMD (run-parts /etc/cron.hourly) job {p}"),
        ("kernel", "[{p}.123456] eth0: link up, 1000Mbps, full-duplex, lpa 0x{n:04x}"),
        ("nginx", '203.0.113.{n} - - [03/Dec/2026:10:00:00 +0000] "GET /api/v1/games/{p} HTTP/1.1" 200 {p}'),
        ("wallet", "deposit {p} approved for player p-{n:06d} amount 25.00 EUR")]


def make_lines(count: int, seed: int = 5) -> list[bytes]:
    rng = random.Random(seed)
    now = time.time()
    lines = []
    for i in range(count):
        app, text = APPS[i % len(APPS)]
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now - 3600 + i * 3600 / count)) + f".{i % 1000:03d}Z"
        sd = f'[origin@32473 ip="10.0.{i % 256}.{i % 200}" seq="{i}"]' if i % 3 == 0 else "-"
        pri = 8 * rng.choice((1, 3, 4, 10, 16, 23)) + rng.choice((3, 4, 5, 6, 6, 6, 7))
        msg = text.format(n=rng.randrange(1, 255), p=rng.randrange(1000, 99999))
        lines.append(f"<{pri}>1 {stamp} {HOSTS[i % len(HOSTS)]} {app} {1000 + i % 5000} - {sd} {msg}".encode())
    return lines


def syslog_run(port: int, lines: list[bytes], data_dir: Path, senders: int) -> float:
    status_path = data_dir / "syslog-status.json"
    before = json.loads(status_path.read_text())["stored"]
    chunks = [b"".join(b"%d %s" % (len(line), line) for line in lines[k::senders]) for k in range(senders)]

    def send(chunk: bytes) -> None:
        with socket.create_connection(("127.0.0.1", port)) as sock:
            sock.sendall(chunk)

    started = time.perf_counter()
    threads = [threading.Thread(target=send, args=(c,)) for c in chunks]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    target = before + len(lines)
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        status = json.loads(status_path.read_text())
        if status["stored"] >= target:
            break
        time.sleep(0.005)
    else:
        raise SystemExit(f"syslog: only {status['stored'] - before} of {len(lines)} stored: {status}")
    elapsed = time.perf_counter() - started   # the listener writes its status as soon as its queue is empty
    if status["refused"] or any(status["dropped"].values()):
        print(f"  syslog refused {status['refused']} dropped {status['dropped']}")
    return len(lines) / max(elapsed, 1e-3)


def tree_cpu(pid: int) -> dict[int, float]:
    """CPU seconds so far of a process and each of its descendants alive now (the server, its web
    workers, the syslog listener and its writers: all stay up through both phases)."""
    from ingest import cpu_seconds
    out, todo = {}, [pid]
    while todo:
        p = todo.pop()
        try:
            out[p] = cpu_seconds(p)
            todo += map(int, Path(f"/proc/{p}/task/{p}/children").read_text().split())
        except (OSError, ValueError):
            pass
    return out


def spent(before: dict[int, float], after: dict[int, float]) -> str:
    """Where the CPU went: seconds per process kind."""
    kinds: dict[str, float] = {}
    for pid, seconds in after.items():
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        kind = ("syslog writer" if b"spawn_main" in cmd else "syslog listener" if b"syslog" in cmd
                else "other" if b"resource_tracker" in cmd else "web")
        kinds[kind] = kinds.get(kind, 0) + seconds - before.get(pid, 0)
    return ", ".join(f"{k} {v:.1f} s" for k, v in sorted(kinds.items()) if v >= 0.05)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--port", type=int, default=18094)
    parser.add_argument("--syslog-port", type=int, default=18095)
    args = parser.parse_args()

    from ingest import Server, http_run   # bench/ingest.py: the native figure, as measured there

    lines = make_lines(args.events)
    now = int(time.time() * 1000)
    events = [to_json(parse(line, now), now) for line in lines]
    per_batch = 2000
    bodies = [b"\n".join(events[i:i + per_batch]) + b"\n" for i in range(0, len(events), per_batch)]
    print(f"{args.events:,} events, {sum(map(len, lines)) / len(lines):.0f} bytes a syslog line, "
          f"{sum(map(len, events)) / len(events):.0f} bytes as JSON")

    with tempfile.TemporaryDirectory(prefix="bench-syslog-") as tmp:
        os.environ["PLATLOGS_SYSLOG_TCP"] = f"127.0.0.1:{args.syslog_port}"
        # the listener's own batch and queue defaults (PLATLOGS_SYSLOG_BATCH_SIZE, _QUEUE override them)
        server = Server(Path(tmp), args.port)
        try:
            runs = {"native": [], "syslog": []}
            for phase in ("native", "syslog", "native"):      # native on both sides: the index grows
                time.sleep(3)     # the previous phase's segment merges finish first
                before = tree_cpu(server.proc.pid)
                if phase == "native":
                    rate, rejected = http_run(server, bodies, per_batch, len(events), senders=2, shift=False)
                    what = f"POST /api/v1/events/bulk, NDJSON, {rejected} rejected"
                else:
                    rate, what = syslog_run(args.syslog_port, lines, Path(tmp), senders=2), "TCP, RFC 5424 octet-counted"
                after = tree_cpu(server.proc.pid)
                us = (sum(after.values()) - sum(before.values())) / len(events) * 1e6
                runs[phase].append((rate, us))
                print(f"{phase:8} {rate:10,.0f} events/s  {us:6.0f} server CPU µs/event  ({what}): {spent(before, after)}",
                      flush=True)
            native = sum(r for r, _ in runs["native"]) / 2
            native_us = sum(u for _, u in runs["native"]) / 2
            syslog, syslog_us = runs["syslog"][0]
            print(f"ratio syslog / native (the mean of the two native runs): {syslog / native:.2f} in events/s "
                  f"(target >= 0.7), {native_us / syslog_us:.2f} in CPU per event")
            print(f"(load average during the run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")
        finally:
            server.stop()


if __name__ == "__main__":
    main()
