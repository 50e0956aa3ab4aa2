"""Ingest protocols against the native bulk endpoint, in the same run, on the embedded store.

    .venv/bin/python bench/ingest_protocols.py                   # 40,000 events each way (about 2 minutes on a busy machine)
    .venv/bin/python bench/ingest_protocols.py --events 200000 --batch 2000

One `platlogs serve` (2 workers, bench/ingest.py's Server) in a fresh data directory; the same
events every way, each way run twice in the order native, protocol, protocol, native (the store
grows as it goes: each way gets an early and a late turn). Ways:
  native  NDJSON to /api/v1/events/bulk: the events exactly as the protocol makes them (event.id
          from the _id where there is one, labels.es_index), so both store the same thing;
  es_bulk the Elasticsearch _bulk body an Elasticsearch client sends (elasticsearch-py's
          helpers.bulk: an action line, then the source; half `index`, half `create`; half with
          an _id) to /<index>/_bulk (app/ingest/es_bulk.py).
(Other protocols — OTLP, syslog — have their own scripts for now: bench/ingest_otlp.py,
bench/ingest_syslog.py.) Requests of --batch events (elasticsearch-py's default chunk: 500), by
2 senders on keep-alive connections; done when every answer is in. Prints events/s for each way
and the ratio to native (the issue's target: at least 0.7).
"""
from __future__ import annotations

import argparse
import http.client
import random
import sys
import tempfile
import threading
import time
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from app.ingest.es_bulk import INDEX_LABEL  # noqa: E402

SERVICES = ["wallet", "games-api", "kyc", "bonus", "auth", "cashier", "lobby", "reports"]
PATHS = ["/api/v1/deposits", "/api/v1/games/launch", "/api/v1/session", "/api/v1/bonus/claim"]
TEXTS = ["deposit {n} approved for player p-{p:06d}", "game launched for player p-{p:06d} round r-{n}",
         "session refreshed in {n} ms", "bonus claim {n} rejected: wagering not met"]
LEVELS = ["info", "info", "info", "warning", "error", "debug"]
INDEX = "app-logs"


def make_sources(count: int, seed: int = 7) -> list[tuple[str, str | None, dict]]:
    """(op, _id or None, source) per event, as an application logging through elasticsearch-py."""
    rng = random.Random(seed)
    start_ms = int(time.time() * 1000) - 3_600_000
    out = []
    for i in range(count):
        service = SERVICES[i % len(SERVICES)]
        p, n = rng.randrange(1, 999_999), rng.randrange(1000, 99_999)
        seconds, ms = divmod(start_ms + i * 3_600_000 // count, 1000)
        source = {
            "@timestamp": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{ms:03d}Z",
            "message": TEXTS[i % len(TEXTS)].format(p=p, n=n),
            "log": {"level": LEVELS[i % len(LEVELS)], "logger": f"{service}.handlers"},
            "service": {"name": service, "version": "3.2.1", "environment": "production"},
            "host": {"name": f"{service}-{i % 3}"},
            "http": {"request": {"method": "POST"}, "response": {"status_code": 200}},
            "url": {"path": PATHS[i % len(PATHS)]},
            "trace": {"id": f"{rng.getrandbits(128):032x}"},
        }
        out.append(("create" if i % 2 else "index", f"bench-{seed}-{i}" if i % 4 < 2 else None, source))
    return out


def es_body(events) -> bytes:
    lines = []
    for op, doc_id, source in events:
        meta = {"_id": doc_id} if doc_id else {}
        lines += [orjson.dumps({op: meta}), orjson.dumps(source)]
    return b"\n".join(lines) + b"\n"


def native_body(events) -> bytes:
    lines = []
    for _, doc_id, source in events:
        event = {**source, "labels": {INDEX_LABEL: INDEX}}
        if doc_id:
            event["event"] = {"id": doc_id}
        lines.append(orjson.dumps(event))
    return b"\n".join(lines) + b"\n"


def check_native(status: int, body: bytes):
    report = orjson.loads(body)
    return None if status == 200 and not report["rejected"] else (status, report.get("errors", [])[:1])


def check_es(status: int, body: bytes):
    answer = orjson.loads(body)
    if status != 200 or answer.get("errors"):
        bad = [item for item in answer.get("items", []) if next(iter(item.values()))["status"] >= 300]
        return status, bad[:1] or answer
    return None


def run(port: int, key: str, path: str, bodies: list[bytes], counts: list[int], senders: int, check,
        content_type: str = "application/x-ndjson") -> float:
    """Events/s of `bodies` POSTed to `path` by `senders` threads on keep-alive connections;
    `check(status, body)` names a problem answer (printed), None for a good one."""
    queue = list(range(len(bodies)))
    lock = threading.Lock()
    problems: list = []

    def sender() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
        headers = {"Authorization": f"Bearer {key}", "Content-Type": content_type}
        while True:
            with lock:
                if not queue:
                    return
                i = queue.pop()
            conn.request("POST", path, body=bodies[i], headers=headers)
            response = conn.getresponse()
            problem = check(response.status, response.read())
            if problem:
                with lock:
                    problems.append(problem)

    started = time.perf_counter()
    threads = [threading.Thread(target=sender) for _ in range(senders)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    if problems:
        print(f"  {path}: {len(problems)} problem answers, first: {problems[0]}")
    return sum(counts) / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=40_000, help="events each way")
    parser.add_argument("--batch", type=int, default=500, help="events a request (elasticsearch-py's default chunk)")
    parser.add_argument("--port", type=int, default=18097)
    args = parser.parse_args()

    from ingest import Server   # bench/ingest.py

    # different events each way (seeds): both stores grow alike, and no _id is ever a re-send
    ways = {"native": (make_sources(args.events, seed=1), native_body, "/api/v1/events/bulk", check_native),
            "es_bulk": (make_sources(args.events, seed=2), es_body, f"/{INDEX}/_bulk", check_es)}
    plans = {}
    for name, (events, encode, path, check) in ways.items():
        batches = [events[i:i + args.batch] for i in range(0, len(events), args.batch)]
        bodies, counts = [encode(b) for b in batches], [len(b) for b in batches]
        half = len(bodies) // 2
        plans[name] = (path, check, [(bodies[:half], counts[:half]), (bodies[half:], counts[half:])])
        print(f"{name:8} {sum(map(len, bodies)) / len(events):5.0f} bytes an event in requests of {args.batch}")

    totals = {name: [0, 0.0] for name in ways}
    with tempfile.TemporaryDirectory(prefix="bench-protocols-") as tmp:
        server = Server(Path(tmp), args.port)
        try:
            for name, turn in (("native", 0), ("es_bulk", 0), ("es_bulk", 1), ("native", 1)):
                path, check, parts = plans[name]
                bodies, counts = parts[turn]
                rate = run(args.port, server.key, path, bodies, counts, 2, check)
                print(f"  {name:8} {'early' if turn == 0 else 'late':5} {rate:10,.0f} events/s  ({sum(counts):,} events)")
                totals[name][0] += sum(counts)
                totals[name][1] += sum(counts) / rate
        finally:
            server.stop()
    native = totals["native"][0] / totals["native"][1]
    print(f"native   {native:10,.0f} events/s  (POST /api/v1/events/bulk, NDJSON)")
    for name in ways:
        if name != "native":
            rate = totals[name][0] / totals[name][1]
            print(f"{name:8} {rate:10,.0f} events/s  ratio {name} / native: {rate / native:.2f}  (target >= 0.7)")


if __name__ == "__main__":
    main()
