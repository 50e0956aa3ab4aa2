"""Ingest throughput: HTTP end to end against the engine's limit, measured in the same run.

    .venv/bin/python bench/ingest.py                      # 1M events, quick
    .venv/bin/python bench/ingest.py --events 10000000    # the sustained figure for the README
    .venv/bin/python bench/ingest.py --gigabyte           # also stream a 1 GB body, report peak RSS

What it does, each in a fresh data directory:
  reference  plain `executemany` of the same rows into the same SQLite schema (tables, FTS,
             indexes), one transaction per batch — the engine's limit on this machine;
  http       `platlogs serve` (gunicorn, 2 workers) receiving NDJSON batches over HTTP from
             sender threads (each with one keep-alive connection), events in time order — the
             sustained end-to-end figure, with the CPU seconds each worker spent (both should work);
  backfill   the same with timestamps shuffled over 30 days (out of order);
  gigabyte   one 1 GB NDJSON body streamed in a single request; peak RSS of the server.
Prints events/s for each and the ratio http / reference.
"""
from __future__ import annotations

import argparse
import http.client
import os
import random
import re
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.config import Settings  # noqa: E402
from app.demo.generator import generate  # noqa: E402
from app.services import build_normalizer  # noqa: E402
from app.storage.sqlite import SQLiteStore  # noqa: E402

POOL = 200_000  # distinct events generated; the run cycles through them (server assigns ids)


FIRST_DAY = (datetime.now(timezone.utc) - timedelta(days=400)).replace(hour=0, minute=0, second=0, microsecond=0)


def make_pool(size: int, days: int, shuffle: bool) -> list[bytes]:
    """Demo events of about 350 bytes (the issue's figure): those between 150 and 450 bytes, all
    within FIRST_DAY (one day) or the `days` days from it. Runs that cycle through the pool
    move each cycle one day later (see shifted()), so time keeps moving forward as in production."""
    end = FIRST_DAY + timedelta(days=days) - timedelta(milliseconds=1)
    lines = [line for line in (orjson.dumps(e) for e in generate(size * 2, days=days, seed=7, end=end))
             if 150 <= len(line) <= 450][:size]
    if shuffle:
        random.Random(3).shuffle(lines)
    return lines


def shifted(body: bytes, days: int) -> bytes:
    """The body with every @timestamp on FIRST_DAY moved `days` days later (C-speed replace)."""
    if not days:
        return body
    old = FIRST_DAY.strftime('"@timestamp":"%Y-%m-%dT').encode()
    return body.replace(old, (FIRST_DAY + timedelta(days=days)).strftime('"@timestamp":"%Y-%m-%dT').encode())


def batches(pool: list[bytes], batch: int) -> list[bytes]:
    return [b"\n".join(pool[i:i + batch]) + b"\n" for i in range(0, len(pool) - batch + 1, batch)]


def reference(pool: list[bytes], total: int, batch: int, workdir: Path) -> float:
    """Rows prepared outside the clock; only executemany + commit is timed. Rowids are time-
    ordered as the store makes them, and each cycle through the pool is one day later."""
    from app.storage.partitioning import day_span, span_name
    from app.storage.sqlite import SEQ_BITS
    normalizer = build_normalizer(Settings.from_env({"PLATLOGS_DATA_DIR": str(workdir)}))
    store = SQLiteStore(workdir / "reference")
    now = int(time.time() * 1000)
    prepared = [store._prepare(normalizer.normalize(orjson.loads(line), now, line)) for line in pool]
    conn = store._writer
    next_seq: dict[tuple[str, int], int] = {}
    done, cycle, started = 0, 0, time.perf_counter()
    while done < total:
        for i in range(0, len(prepared), batch):
            chunk = prepared[i:i + batch]
            conn.execute("BEGIN IMMEDIATE")
            by_day: dict[str, tuple[list, list]] = {}
            for _, event_id, row, text in chunk:
                ts = row[0] + cycle * 86_400_000
                start, end = day_span(ts)
                day = span_name(start, end)
                store._ensure_partition(conn, day, start, end)
                ms = ts - start
                seq = next_seq[(day, ms)] = next_seq.get((day, ms), -1) + 1
                rows, texts = by_day.setdefault(day, ([], []))
                rowid = (ms << SEQ_BITS) | seq
                rows.append((rowid, ts, f"{event_id}-{cycle}", *row[2:]))
                texts.append((rowid, *text))
            for day, (rows, texts) in by_day.items():
                conn.executemany(store._insert_sql.format(day=day), rows)
                conn.executemany(f"INSERT INTO fts_{day} (rowid, message, body, keys) VALUES (?, ?, ?, ?)", texts)
            conn.execute("COMMIT")
            done += len(chunk)
            if done >= total:
                break
        cycle += 1
    elapsed = time.perf_counter() - started
    store.close()
    return done / elapsed


class Server:
    def __init__(self, workdir: Path, port: int):
        # events start 400 days back (see FIRST_DAY): keep them in day partitions, as the reference does
        self.env = {"PLATLOGS_DAY_PARTITION_DAYS": "3660", **os.environ, "PLATLOGS_DATA_DIR": str(workdir)}
        self.port = port
        cli = [sys.executable, "-m", "app.cli"]
        self.key = subprocess.run([*cli, "keys", "create", "--scope", "ingest"], env=self.env, cwd=ROOT,
                                  capture_output=True, text=True, check=True).stdout.strip()
        log = open(Path(tempfile.gettempdir(), f"bench-ingest-server-{port}.log"), "w")  # noqa: SIM115
        self.proc = subprocess.Popen([*cli, "serve", "--port", str(port), "--workers", "2", "--threads", "4"],
                                     env=self.env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                conn.request("GET", "/api/v1/health")
                if conn.getresponse().status == 200:
                    return
            except OSError:
                time.sleep(0.2)
        raise SystemExit("server did not start")

    def pids(self) -> list[int]:
        children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text().split()
        return [self.proc.pid, *map(int, children)]

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)


def post(port: int, key: str, body, length: int | None = None) -> dict:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=3600, blocksize=1 << 20)
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/x-ndjson"}
    if length is not None:
        headers["Content-Length"] = str(length)
    conn.request("POST", "/api/v1/events/bulk", body=body, headers=headers, encode_chunked=length is None and not isinstance(body, bytes))
    response = conn.getresponse()
    result = orjson.loads(response.read())
    conn.close()
    return result


def http_run(server: Server, bodies: list[bytes], per_batch: int, total: int, senders: int,
             shift: bool = True) -> tuple[float, int]:
    sent = [0]
    rejected = [0]
    first_error: list = []
    lock = threading.Lock()

    def sender(offset: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=600)
        headers = {"Authorization": f"Bearer {server.key}", "Content-Type": "application/x-ndjson"}
        i = offset
        while True:
            with lock:
                if sent[0] >= total:
                    return
                sent[0] += per_batch
            body = shifted(bodies[i % len(bodies)], i // len(bodies)) if shift else bodies[i % len(bodies)]
            conn.request("POST", "/api/v1/events/bulk", body=body, headers=headers)
            report = orjson.loads(conn.getresponse().read())
            with lock:
                rejected[0] += report["rejected"]
                if report["errors"] and not first_error:
                    first_error.append(report["errors"][0])
                    print(f"           first rejection, batch {i}: {report['errors'][0]}", flush=True)
            i += senders

    started = time.perf_counter()
    threads = [threading.Thread(target=sender, args=(n,)) for n in range(senders)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sent[0] / (time.perf_counter() - started), rejected[0]


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (/proc/<pid>/stat): which worker did the work."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mb(pids: list[int], kind: str = "VmHWM") -> float:
    """The largest process's peak (VmHWM) or current (VmRSS) resident memory, in MB."""
    largest = 0
    for pid in pids:
        status = Path(f"/proc/{pid}/status").read_text()
        largest = max(largest, int(re.search(rf"{kind}:\s+(\d+)", status).group(1)))
    return largest / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--senders", type=int, default=2)
    parser.add_argument("--port", type=int, default=18931)
    parser.add_argument("--gigabyte", action="store_true", help="also stream a 1 GB body")
    parser.add_argument("--skip-backfill", action="store_true")
    parser.add_argument("--gigabyte-only", action="store_true", help="only the 1 GB body")
    args = parser.parse_args()

    print(f"machine: {os.cpu_count()} cores; events={args.events:,} batch={args.batch} senders={args.senders}")
    pool = make_pool(POOL, days=1, shuffle=False)
    size = sum(map(len, pool)) / len(pool)
    print(f"event size: {size:.0f} bytes average (demo traffic)")
    bodies = batches(pool, args.batch)

    if args.gigabyte_only:
        return gigabyte(pool, args.port + 2)

    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
        ref = reference(pool, args.events, args.batch, Path(tmp))
        print(f"reference  executemany into SQLite:  {ref:10,.0f} events/s")

    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
        server = Server(Path(tmp), args.port)
        try:
            workers = server.pids()[1:]
            before = [cpu_seconds(pid) for pid in workers]
            rate, rejected = http_run(server, bodies, args.batch, args.events, args.senders)
            spent = [cpu_seconds(pid) - b for pid, b in zip(workers, before)]
            print(f"http       NDJSON bulk, in order:    {rate:10,.0f} events/s  (rejected {rejected}; CPU-s per "
                  f"worker: {' / '.join(f'{s:.1f}' for s in spent)}; {args.senders} keep-alive sender(s))")
            print(f"ratio      http / reference:         {rate / ref:10.2f}")
            print(f"server peak RSS:                     {rss_mb(server.pids()):10.0f} MB")
            db = Path(tmp, "events", "events.db")
            if db.exists():
                print(f"store size: {db.stat().st_size / 1e6:.0f} MB for {args.events:,} events "
                      f"({db.stat().st_size / args.events * 1e6 / 1e9:.2f} GB per million)")
        finally:
            server.stop()

    if not args.skip_backfill:
        shuffled = batches(make_pool(POOL, days=30, shuffle=True), args.batch)
        with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
            server = Server(Path(tmp), args.port + 1)
            try:
                total = min(args.events, 1_000_000)
                rate, rejected = http_run(server, shuffled, args.batch, total, args.senders, shift=False)
                print(f"backfill   out of order, 30 days:    {rate:10,.0f} events/s  ({total:,} events, rejected {rejected})")
            finally:
                server.stop()

    if args.gigabyte:
        gigabyte(pool, args.port + 2)


def gigabyte(pool: list[bytes], port: int) -> None:
    """One 1 GB NDJSON body with Content-Length, streamed from disk; peak RSS of the server."""
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
        path = Path(tmp, "gig.ndjson")
        with path.open("wb") as fh:
            while fh.tell() < 1 << 30:
                fh.write(b"\n".join(pool) + b"\n")
        length = path.stat().st_size
        server = Server(Path(tmp, "data"), port)
        try:
            before = rss_mb(server.pids())
            samples: list[float] = []  # the server's current RSS, once a second
            done = threading.Event()

            def sample() -> None:
                while not done.wait(1.0):
                    samples.append(rss_mb(server.pids(), "VmRSS"))

            sampler = threading.Thread(target=sample)
            sampler.start()
            started = time.perf_counter()
            with path.open("rb") as fh:
                report = post(server.port, server.key, fh, length)
            elapsed = time.perf_counter() - started
            done.set()
            sampler.join()
            quarters = [max(samples[i * len(samples) // 4:(i + 1) * len(samples) // 4] or [0]) for i in range(4)]
            print(f"gigabyte   {length / 2**30:.2f} GiB in one request: accepted {report['accepted']:,} "
                  f"rejected {report['rejected']} in {elapsed:.0f} s ({report['accepted'] / elapsed:,.0f} events/s)")
            print(f"           largest server process RSS: {before:.0f} MB before; per quarter of the upload "
                  + " / ".join(f"{q:.0f}" for q in quarters) + " MB; peak "
                  f"{rss_mb(server.pids()):.0f} MB")
        finally:
            server.stop()


if __name__ == "__main__":
    main()
