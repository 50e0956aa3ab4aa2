"""What indexing every value costs at ingest (issue 13: at most 15 % of ingest throughput).

    .venv/bin/python bench/catchall.py [--events 50000] [--rounds 3]

The same demo events through the embedded store's write path (normalise, convert, index,
commit) into fresh stores, alternately with the catch-all fields (keys, pkeys, all, pall, fi:
app/query/searchable.py) and without them (those fields left empty), rounds interleaved so the
machine's noise falls on both alike. Prints events/s of each, bytes on disk per event, and the
ratio with / without — by wall time, and by the CPU time of the whole process (every thread:
tantivy indexes on its own threads), which a busy machine disturbs far less than wall time.
"""
from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.config import Settings  # noqa: E402
from app.demo.generator import generate  # noqa: E402
from app.ingest.pipeline import Ingestor  # noqa: E402
from app.query import searchable as searchable_module  # noqa: E402
from app.services import build_normalizer  # noqa: E402
from app.storage import open_store  # noqa: E402
from app.storage import tantivy_schema  # noqa: E402


def run(lines: list[bytes], catchall: bool) -> tuple[float, float, int]:
    work = Path(tempfile.mkdtemp(prefix="bench-catchall-"))
    original = tantivy_schema.searchable
    if not catchall:
        tantivy_schema.searchable = lambda event, identifiers=True: searchable_module.Searchable()
    try:
        normalizer = build_normalizer(Settings.from_env({"PLATLOGS_DATA_DIR": str(work)}))
        store = open_store(f"tantivy://{work}/events")
        if not catchall:
            store.converter.identifiers = []
        started, cpu = time.perf_counter(), time.process_time()
        report = Ingestor(normalizer, store, batch_size=5000).ingest(enumerate(lines), position="line")
        store.close()
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
        assert report.accepted == len(lines), report.as_dict()
        size = int(subprocess.check_output(["du", "-sb", str(work / "events")]).split()[0])
        return len(lines) / elapsed, cpu * 1e6 / len(lines), size
    finally:
        tantivy_schema.searchable = original
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    end = datetime.now(timezone.utc)
    lines = [orjson.dumps(e) for e in generate(args.events, days=30, seed=12, end=end)]
    rates: dict[bool, list[float]] = {True: [], False: []}
    cpus: dict[bool, list[float]] = {True: [], False: []}
    sizes: dict[bool, int] = {}
    for _ in range(args.rounds):
        for catchall in (False, True):
            rate, cpu, size = run(lines, catchall)
            rates[catchall].append(rate)
            cpus[catchall].append(cpu)
            sizes[catchall] = size
    best = {k: max(v) for k, v in rates.items()}
    least = {k: min(v) for k, v in cpus.items()}
    n = len(lines)
    print(f"{n:,} demo events, {args.rounds} interleaved rounds (best of each)")
    print(f"  without the catch-all  {best[False]:9,.0f} ev/s  {least[False]:6.0f} CPU µs/event  "
          f"{sizes[False] / n:6.0f} B/event")
    print(f"  with the catch-all     {best[True]:9,.0f} ev/s  {least[True]:6.0f} CPU µs/event  "
          f"{sizes[True] / n:6.0f} B/event")
    print(f"  throughput with / without: {best[True] / best[False]:.2f} by wall time, "
          f"{least[False] / least[True]:.2f} by CPU time (target >= 0.85); disk {sizes[True] / sizes[False]:.2f}x")


if __name__ == "__main__":
    main()
