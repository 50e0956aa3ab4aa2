"""Integration latency percentiles from the rollups' sketches against reading events, in one run.

    .venv/bin/python bench/dashboard_percentiles.py                      # 60,000 demo events, 7 days
    .venv/bin/python bench/dashboard_percentiles.py --events 100000 --repeat 5

A fresh embedded (tantivy) store in a temporary directory gets --events demo events over --days
days. The integration-health "latency" panel (integration.duration by provider over
event.component:integration) is computed over the whole range with the rollups (the panel's
path now: the whole range, every call) and with the store's rollups switched off (the old path:
the newest 10,000 calls read and sorted in Python): wall time best of --repeat, the calls each
counted, and the largest relative difference between their percentiles (the old path's are
exact over what it read; when it read every call this is the sketch's error, at most 1 %).
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app import create_app  # noqa: E402
from app.dashboards.definitions import load_dashboards  # noqa: E402
from app.dashboards.panels import panel_data, window_for  # noqa: E402
from app.demo.generator import generate  # noqa: E402


def best(fn, repeat: int):
    times, out = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return min(times), out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=60_000)
    ap.add_argument("--days", type=int, default=7)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        app = create_app({"PLATLOGS_DATA_DIR": tmp})
        services = app.extensions["platlogs"]
        end = datetime.now(timezone.utc)
        events = list(generate(args.events, days=args.days, seed=11, end=end))
        for start in range(0, len(events), 5000):
            lines = [(i, orjson.dumps(e)) for i, e in enumerate(events[start:start + 5000])]
            services.ingestor.ingest(lines, position="line")
        store = services.store
        board = next(b for b in load_dashboards() if b.id == "integration-health")
        panel = board.panel("latency")
        window = window_for(board, {"from": f"now-{args.days}d"})

        def run():
            return panel_data(store, lambda r: r, window, panel, sees_personal=True)
        sketch_s, sketched = best(run, args.repeat)
        rollups, store.rollups = store.rollups, None
        try:
            read_s, read = best(run, args.repeat)
        finally:
            store.rollups = rollups
        a, b = sketched["data"], read["data"]
        assert a.get("source") == "rollups" and "source" not in b, (a.get("source"), b.get("source"))
        worst = max((abs(x - y) / y for x, y in zip(a["overall"]["values"], b["overall"]["values"]) if y), default=0)
        print(f"{args.events:,} demo events over {args.days} days; integration calls in range: "
              f"{a['overall']['count']:,}")
        print(f"  rollup sketches: {sketch_s * 1000:8.1f} ms  over {a['overall']['count']:,} calls (every one)")
        print(f"  reading events:  {read_s * 1000:8.1f} ms  over {b['read']:,} calls"
              f"{'' if b['exact'] else ' (the newest only)'}")
        print(f"  ratio sketches / reading: {sketch_s / read_s:.2f}")
        print(f"  largest relative difference of overall p{'/p'.join(str(p) for p in a['percentiles'])}: "
              f"{worst:.2%}" + ("" if b["exact"] else " (against the newest calls only)"))
        services.close()


if __name__ == "__main__":
    main()
