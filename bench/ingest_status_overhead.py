"""What the ingest counters (app/ingest/stats.py) cost ingest, measured in one run.

    .venv/bin/python bench/ingest_status_overhead.py                  # 60,000 events each way, batches of 500
    .venv/bin/python bench/ingest_status_overhead.py --events 200000 --batch 100

Two apps in one process, each on its own embedded (tantivy) store in a fresh data directory,
fed the same NDJSON bodies through the real app (Flask's test client: the request hooks, the
bulk view, the Ingestor, the store):
  counted    as served: origin hooks, per-batch tally, per-request counters, the flush thread;
  uncounted  the same app with the hooks taken off and no IngestStats on its Ingestor.
Rounds alternate (counted, uncounted, uncounted, counted, …) so both see the store grow alike.
Prints events/s of each and the ratio counted / uncounted (1.0 = free); the same for requests
of one event (where the per-request hooks weigh most); then the counters' own work timed alone
per batch (tally + finish) against the whole batch's ingest time.
"""
from __future__ import annotations

import argparse
import gc
import sys
import tempfile
import time
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app import create_app
from app.ingest.stats import IngestStats, Origin, Tally


def bodies(events: int, batch: int) -> list[bytes]:
    now = time.time()
    out = []
    for start in range(0, events, batch):
        lines = []
        for i in range(start, min(start + batch, events)):
            ts = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now - 30 + (i % 30))) + ".000Z"
            lines.append(orjson.dumps({"@timestamp": ts, "message": f"deposit {i} approved for player p-{i % 9973:06d}",
                                       "log": {"level": "info"}, "service": {"name": f"svc-{i % 8}"},
                                       "http": {"response": {"status_code": 200}}}))
        out.append(b"\n".join(lines) + b"\n")
    return out


def make_app(data_dir: Path, counted: bool):
    app = create_app({"PLATLOGS_DATA_DIR": str(data_dir)})
    services = app.extensions["platlogs"]
    if not counted:
        for funcs in (app.before_request_funcs.get(None, []), app.after_request_funcs.get(None, [])):
            funcs[:] = [f for f in funcs if f.__module__ != "app.ingest.origin_hooks"]
        services.ingestor.stats = None
    key = services.meta.create_key("bench shipper", ["ingest"])[1]
    return app, {"Authorization": f"Bearer {key}", "Content-Type": "application/x-ndjson",
                 "User-Agent": "Fluent-Bit/3.1"}


def run(client, headers, chunk: list[bytes]) -> float:
    started = time.perf_counter()
    for body in chunk:
        response = client.post("/api/v1/events/bulk", data=body, headers=headers)
        assert response.status_code == 200, response.get_data(as_text=True)[:300]
    return time.perf_counter() - started


def alone(batch: int, repeat: int = 2000) -> float:
    """Seconds per batch of the counters' own work: one Tally over `batch` events, finished."""
    with tempfile.TemporaryDirectory() as tmp:
        stats = IngestStats(Path(tmp))
        now = time.time_ns() // 1_000_000
        events = [{"_ts": now - i} for i in range(batch)]

        class Report:
            accepted, duplicates, rejected, errors = batch, 0, 0, []
        started = time.perf_counter()
        for _ in range(repeat):
            tally = Tally(stats, Origin("native-bulk", "bench shipper", "fluent-bit", 100_000))
            tally.batch(events)
            tally.finish(Report())
            stats.end_request(tally.origin)
        elapsed = (time.perf_counter() - started) / repeat
        stats.close()
        return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=60_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=6, help="turns per way (alternating)")
    args = parser.parse_args()
    all_bodies = bodies(args.events, args.batch)
    per_round = max(1, len(all_bodies) // args.rounds)
    chunks = [all_bodies[i:i + per_round] for i in range(0, len(all_bodies), per_round)]
    with tempfile.TemporaryDirectory() as tmp:
        counted = make_app(Path(tmp) / "counted", True)
        uncounted = make_app(Path(tmp) / "uncounted", False)
        clients = {"counted": (counted[0].test_client(), counted[1]),
                   "uncounted": (uncounted[0].test_client(), uncounted[1])}
        run(*clients["counted"], all_bodies[:2])          # warm both (imports, first segment)
        run(*clients["uncounted"], all_bodies[:2])
        gc.collect()
        gc.freeze()
        spent = {"counted": 0.0, "uncounted": 0.0}
        order = ["counted", "uncounted"]
        for n, chunk in enumerate(chunks):
            ways = order if n % 2 == 0 else order[::-1]
            for way in ways:
                spent[way] += run(*clients[way], chunk)
        events = sum(body.count(b"\n") for chunk in chunks for body in chunk)
        # the request hooks' fixed cost: requests with one tiny event, alternating, many times
        tiny = {way: 0.0 for way in spent}
        for n in range(10):
            for way in (order if n % 2 == 0 else order[::-1]):
                tiny[way] += run(*clients[way], [b'{"message": "tiny"}\n'] * 20)
        for app, _ in (counted, uncounted):
            app.extensions["platlogs"].close()
    rates = {way: events / seconds for way, seconds in spent.items()}
    print(f"{events:,} events each way in requests of {args.batch}, {len(chunks)} alternating rounds, embedded store")
    for way in ("uncounted", "counted"):
        print(f"  {way:<10} {rates[way]:>10,.0f} events/s  ({spent[way]:.2f} s)")
    print(f"  ratio counted / uncounted: {rates['counted'] / rates['uncounted']:.3f}")
    print(f"one-event requests: counted {tiny['counted'] / 200 * 1e6:,.0f} µs, "
          f"uncounted {tiny['uncounted'] / 200 * 1e6:,.0f} µs each (ratio of rates "
          f"{tiny['uncounted'] / tiny['counted']:.3f})")
    per_batch = spent["counted"] / (events / args.batch)
    own = alone(args.batch)
    print(f"the counters' own work per request of {args.batch}: {own * 1e6:,.1f} µs, "
          f"{own / per_batch * 100:.2f} % of the request's {per_batch * 1e3:,.1f} ms")


if __name__ == "__main__":
    main()
