"""The normaliser's fast path: Python (the reference) against the native check (platlogs_native
FastPath, app/events/native_fast.py), in one run on the same demo lines, and what it saves on
the whole in-process ingest (Ingestor.ingest into a real tantivy store).

    .venv/bin/python bench/native_normalize.py                     # 30,000 demo events, best of 3
    .venv/bin/python bench/native_normalize.py --events 100000 --repeat 5

Timed (CPU time of the process, time.process_time, best of --repeat, the variants alternating):
  normalize   what Ingestor.ingest does per NDJSON line without the store: orjson.loads and
              Normalizer.normalize(parsed, now, line, refuse_duplicates), with the native check
              (`native`) and without it (`python`: the same Normalizer with `_native` None);
  check       the native check alone (FastPath.check), on lines parsed outside the clock;
  ingest      Ingestor.ingest of every line into a fresh tantivy store, batches of 5,000: the CPU
              time of the whole call, and of its store.write calls alone (the document is built
              in Rust in both variants: app/storage/native_docs.py).
Printed: CPU µs per event of each, python/native, and how many lines the native check declined.
"""
from __future__ import annotations

import argparse
import gc
import shutil
import sys
import tempfile
import time
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

clock = time.process_time


def build(directory: Path):
    from app.config import Settings
    from app.services import build_normalizer
    return build_normalizer(Settings.from_env({"PLATLOGS_DATA_DIR": str(directory)}))


def normalize_time(normalizer, lines: list[bytes], now: int) -> float:
    from app.events.normalize import EventError
    from app.ingest.items import refuse_duplicates
    from app.ingest.ndjson import parse_json
    normalize = normalizer.normalize
    started = clock()
    for line in lines:
        try:
            normalize(parse_json(line), now, line, refuse_duplicates)
        except EventError:
            pass
    return clock() - started


def check_time(normalizer, lines: list[bytes]) -> tuple[float, int]:
    check, good, judge = normalizer._native, normalizer._good_keys, normalizer._judge_key
    parsed = [orjson.loads(line) for line in lines]
    declined = 0
    started = clock()
    for raw, line in zip(parsed, lines):
        if check(raw, line, good, judge) is None:
            declined += 1
    return clock() - started, declined


def ingest_time(normalizer, lines: list[bytes], workdir: Path) -> tuple[float, float, int]:
    """(CPU s of Ingestor.ingest, CPU s of its store.write calls, events stored)."""
    from app.ingest.pipeline import Ingestor
    from app.storage import open_store
    directory = Path(tempfile.mkdtemp(dir=workdir))
    store = open_store(f"tantivy:///{directory}")
    write, spent = store.write, [0.0]

    def timed_write(events):
        started = clock()
        try:
            return write(events)
        finally:
            spent[0] += clock() - started

    store.write = timed_write
    started = clock()
    report = Ingestor(normalizer, store, batch_size=5000).ingest(enumerate(lines), position="line")
    total = clock() - started
    store.close()
    shutil.rmtree(directory, ignore_errors=True)
    return total, spent[0], report.accepted


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=30_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--ingest-events", type=int, default=20_000, help="lines for the store runs (0: none)")
    args = parser.parse_args()

    from bench.normalize import demo_lines
    with tempfile.TemporaryDirectory(prefix="bench-native-normalize-") as tmp:
        workdir = Path(tmp)
        native, python = build(workdir), build(workdir)
        if native._native is None:
            sys.exit("platlogs_native (with FastPath) is not installed (native/install), or PLATLOGS_NATIVE=0")
        python._native = None
        lines = demo_lines(args.events)
        now = time.time_ns() // 1_000_000
        for normalizer in (native, python):   # warm: good keys, timestamp caches
            normalize_time(normalizer, lines[:2000], now)
        gc.freeze()
        times: dict[str, list[float]] = {"python": [], "native": [], "check": []}
        declined = 0
        for _ in range(args.repeat):
            times["python"].append(normalize_time(python, lines, now))
            times["native"].append(normalize_time(native, lines, now))
            spent, declined = check_time(native, lines)
            times["check"].append(spent)
        ingest: dict[str, list[tuple[float, float]]] = {"python": [], "native": []}
        stored = 0
        for _ in range(args.repeat if args.ingest_events else 0):
            for name, normalizer in (("python", python), ("native", native)):
                total, write, stored = ingest_time(normalizer, lines[:args.ingest_events], workdir)
                ingest[name].append((total, write))

    n = len(lines)
    us = {name: min(values) / n * 1e6 for name, values in times.items()}
    print(f"{n:,} demo events ({sum(map(len, lines)) / n:.0f} bytes a line), CPU time, best of {args.repeat}, "
          f"alternating; the native check declined {declined:,} ({declined / n:.1%})")
    print(f"  parse + normalize, python: {us['python']:7.1f} µs/event")
    print(f"  parse + normalize, native: {us['native']:7.1f} µs/event   python/native {us['python'] / us['native']:.2f}x")
    print(f"  the native check alone:    {us['check']:7.1f} µs/event")
    if args.ingest_events:
        m = args.ingest_events
        for name in ("python", "native"):
            total = min(t for t, _ in ingest[name]) / m * 1e6
            write = min(w for _, w in ingest[name]) / m * 1e6
            print(f"  Ingestor.ingest into tantivy, {name:6}: {total:6.1f} µs/event CPU "
                  f"(store.write {write:5.1f}, the rest {total - write:5.1f}); {stored:,} stored of {m:,}")
        ratio = min(t for t, _ in ingest["python"]) / min(t for t, _ in ingest["native"])
        print(f"  whole ingest, python/native: {ratio:.2f}x")


if __name__ == "__main__":
    main()
