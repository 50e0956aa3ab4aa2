"""The in-process ingest path without HTTP and without storage: events/s of normalisation.

    .venv/bin/python bench/normalize.py                       # this checkout, 100,000 demo events
    .venv/bin/python bench/normalize.py --baseline HEAD~3     # and a git revision, interleaved
    .venv/bin/python bench/normalize.py --profile             # cProfile of parse + normalize

Each event is a demo event (`app.demo.generator.generate`) as the JSON line a client sends. Timed
over all the lines, best of --repeat runs:
  loads      orjson.loads of every line: the reference (the floor of any Python ingest);
  normalize  `normalizer.normalize(parsed, now, line)` (built by app.services.build_normalizer),
             on objects parsed outside the clock;
  path       what `Ingestor.ingest` does per NDJSON line without the store: parse, refuse a
             repeated key, normalise.
Printed: events/s of each, and path-time / loads-time (how many times the cost of parsing alone).

With --baseline REV, the app/ package of REV is extracted (`git archive`) into a temporary
directory and imported under another name (`baseline_app`: its imports are relative), so both
versions run in this one process, alternately, on the same lines: the machine's load (it is
shared) falls on both alike. Times are CPU time of the process (time.process_time): on a busy
machine wall time mostly measures the others.
"""
from __future__ import annotations

import argparse
import gc
import importlib
import inspect
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

clock = time.process_time


def demo_lines(n: int) -> list[bytes]:
    from app.demo.generator import generate
    end = datetime(2026, 11, 20, tzinfo=timezone.utc)
    return [orjson.dumps(e) for e in generate(n, days=7, seed=7, end=end)]


class Variant:
    """One version of the code: its normaliser and the pipeline's per-line steps."""

    def __init__(self, package: str):
        services = importlib.import_module(f"{package}.services")
        config = importlib.import_module(f"{package}.config")
        items = importlib.import_module(f"{package}.ingest.items")
        ndjson = importlib.import_module(f"{package}.ingest.ndjson")
        self.file = services.__file__
        self.error = importlib.import_module(f"{package}.events.normalize").EventError
        self.normalizer = services.build_normalizer(config.Settings.from_env({"PLATLOGS_DATA_DIR": tempfile.gettempdir()}))
        self.refuse_duplicates = items.refuse_duplicates
        self.parse_json = ndjson.parse_json
        # since the duplicate-key check moved into normalize (it is skipped where the fast path proves it)
        self.integrated = "duplicates" in inspect.signature(self.normalizer.normalize).parameters

    def normalize(self, lines: list[bytes], now: int) -> float:
        parsed = [orjson.loads(line) for line in lines]
        normalize, error = self.normalizer.normalize, self.error
        started = clock()
        for value, line in zip(parsed, lines):
            try:
                normalize(value, now, line)
            except error:
                pass
        return clock() - started

    def path(self, lines: list[bytes], now: int) -> float:
        normalize, parse, refuse, error = self.normalizer.normalize, self.parse_json, self.refuse_duplicates, self.error
        started = clock()
        if self.integrated:
            for line in lines:
                try:
                    normalize(parse(line), now, line, refuse)
                except error:
                    pass
        else:
            for line in lines:
                try:
                    value = parse(line)
                    refuse(line, value)
                    normalize(value, now, line)
                except error:
                    pass
        return clock() - started


def loads(lines: list[bytes]) -> float:
    started = clock()
    for line in lines:
        orjson.loads(line)
    return clock() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5, help="runs of each (the best is kept)")
    parser.add_argument("--baseline", help="a git revision to compare with (its app/ package)")
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()

    lines = demo_lines(args.events)
    now = time.time_ns() // 1_000_000
    gc.freeze()
    gc.disable()   # the lists held here would be scanned again and again; the server holds a batch at most
    if args.profile:
        return profile(Variant("app"), lines, now)

    variants = {"this checkout": Variant("app")}
    with tempfile.TemporaryDirectory(prefix="bench-normalize-") as tmp:
        if args.baseline:
            archive = subprocess.run(["git", "archive", args.baseline, "app"], cwd=ROOT, capture_output=True, check=True)
            subprocess.run(["tar", "-x", "-C", tmp], input=archive.stdout, check=True)
            Path(tmp, "app").rename(Path(tmp, "baseline_app"))
            sys.path.insert(0, tmp)
            base = Variant("baseline_app")
            assert base.file.startswith(tmp), base.file
            variants = {f"baseline {args.baseline}": base, **variants}
        times: dict[str, dict[str, list[float]]] = {name: {"normalize": [], "path": []} for name in variants}
        reference = []
        for _ in range(args.repeat):
            reference.append(loads(lines))
            for name, variant in variants.items():
                times[name]["normalize"].append(variant.normalize(lines, now))
                times[name]["path"].append(variant.path(lines, now))

    n = len(lines)
    ref = min(reference)
    print(f"{n:,} demo events ({sum(map(len, lines)) / n:.0f} bytes a line), CPU time, best of {args.repeat} "
          f"runs{', alternating' if args.baseline else ''}")
    print(f"{'orjson.loads':>24}:  {n / ref:>9,.0f} events/s")
    best = {}
    for name, stage in times.items():
        best[name] = {k: min(v) for k, v in stage.items()}
        print(f"{name:>24}:  normalize {n / best[name]['normalize']:>8,.0f} events/s   "
              f"path (parse + duplicate keys + normalize) {n / best[name]['path']:>8,.0f} events/s  "
              f"= {best[name]['path'] / ref:4.1f}x the time of orjson.loads")
    if args.baseline:
        (_, before), (_, after) = best.items()
        print(f"{'after / before':>24}:  normalize {before['normalize'] / after['normalize']:.2f}x   "
              f"path {before['path'] / after['path']:.2f}x")


def profile(variant: Variant, lines: list[bytes], now: int) -> None:
    import cProfile
    import pstats
    profiler = cProfile.Profile(clock)
    profiler.runcall(variant.path, lines, now)
    pstats.Stats(profiler).sort_stats("tottime").print_stats(25)


if __name__ == "__main__":
    main()
