"""The cost of the per-item checks of issue 11 on the ingest hot path, against the same path
without them, in the same run (CPU only: parse, checks, normalise; no store).

    .venv/bin/python bench/ingest_checks.py [--events 100000]

  plain      parse_json + normalize, per NDJSON line (what `/events/bulk` did before)
  checked    + the repeated-key check (items.refuse_duplicates)
  array      `/events` body as one array: orjson.loads + may_repeat_keys over the whole body,
             against orjson.loads alone
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from ingest import make_pool  # noqa: E402

from app.config import Settings  # noqa: E402
from app.ingest.items import may_repeat_keys, refuse_duplicates  # noqa: E402
from app.ingest.ndjson import parse_json  # noqa: E402
from app.services import build_normalizer  # noqa: E402


def best(fn, runs: int = 5) -> float:
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=100_000)
    args = parser.parse_args()
    pool = make_pool(args.events, 1, False)
    with tempfile.TemporaryDirectory() as tmp:
        normalizer = build_normalizer(Settings.from_env({"PLATLOGS_DATA_DIR": tmp}))
    now = int(time.time() * 1000)
    normalize = normalizer.normalize

    def plain():
        for line in pool:
            normalize(parse_json(line), now, line)

    def checked():
        for line in pool:
            parsed = parse_json(line)
            refuse_duplicates(line, parsed)
            normalize(parsed, now, line)

    a, b = best(plain), best(checked)
    print(f"per line   plain {len(pool) / a:10,.0f} ev/s   checked {len(pool) / b:10,.0f} ev/s   "
          f"checked/plain time {b / a:.3f}")
    body = b"[" + b",".join(pool) + b"]"
    loads = best(lambda: orjson.loads(body))
    both = best(lambda: may_repeat_keys(body, orjson.loads(body)))
    print(f"array body {len(body) / 1e6:.1f} MB: loads {loads * 1000:.1f} ms, loads + key check "
          f"{both * 1000:.1f} ms ({both / loads:.2f}x)")


if __name__ == "__main__":
    main()
