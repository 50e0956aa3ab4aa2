"""What the per-minute rollups (issue 14 item 2) cost at ingest, and how fast they answer.

    .venv/bin/python bench/rollups.py                       # 20,000 demo events, 30 days of rows
    .venv/bin/python bench/rollups.py --span sparse --days 1   # the worst case for ingest only
    .venv/bin/python bench/rollups.py --events 100000 --rounds 3

1. Ingest: the embedded tantivy store's `write` in batches of 2,000 normalised demo events (the
   project's generator; `--span live`: a day of its traffic squeezed into one hour, so a batch
   spans a few minutes as on a busy platform; `--span sparse`: spread over 2 days, nearly every
   event a minute of its own), normalised outside the clock. Two fresh stores, rollups off
   (`?rollups=off`) and on, written batch by batch in turn on the same events, each write timed
   on its own: events/s of each and on/off (target >= 0.90). Then the rollup step alone — the
   same `reduce_pairs` + `rollups.add` the store runs after each commit, on the same batches
   into a fresh rollups.db — as a share of the ingest time without rollups: the direct figure
   of what rollups cost (on a shared, loaded machine the on/off ratio also carries tantivy's
   background merges, which the rollup step's pause lets finish: on/off comes out above 1).
2. Reading: a rollups.db filled with `--days` days of per-minute provider sums (PROVIDERS
   providers, each minute a status mix and a latency sketch from CALLS durations), then
   `rollups.providers(all those days, step)` at a step of a minute, an hour and a day, and
   `rollups.counts` of the ingested events per minute; wall time (best of three, one for the
   minute step).
"""
from __future__ import annotations

import argparse
import random
import shutil
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
from app.events.convert import format_ts  # noqa: E402
from app.rollups import model, sketch  # noqa: E402
from app.rollups.model import MINUTE_MS, Sums  # noqa: E402
from app.services import build_normalizer  # noqa: E402
from app.storage import open_store  # noqa: E402
from app.storage.rollups_sqlite_file import RollupFile  # noqa: E402

DAY_MS = 86_400_000
BATCH = 2000        # the ingest pipeline's default batch (PLATLOGS_BATCH_SIZE)
PROVIDERS = 8
CALLS = 6           # durations drawn per provider and minute (sketch buckets filled)
END = datetime(2026, 11, 20, tzinfo=timezone.utc)


def normalised(n: int, workdir: Path, span: str) -> list[bytes]:
    """`n` demo events (a day of the generator's traffic) squeezed into the last hour before
    END (`live`: the density of a busy platform, a batch spans a few minutes) or spread over 2
    days (`sparse`: a backfill, nearly every event a minute of its own — the worst case)."""
    normalizer = build_normalizer(Settings.from_env({"PLATLOGS_DATA_DIR": str(workdir / "settings")}))
    end_ms = int(END.timestamp() * 1000)
    days = 1 if span == "live" else 2
    squeeze = 1 / 24 if span == "live" else 1
    out = []
    for raw in generate(n, days=days, seed=11, end=END):
        event = normalizer.normalize(raw, end_ms + DAY_MS)
        event["_ts"] = ts = end_ms - int((end_ms - event["_ts"]) * squeeze)
        event["@timestamp"] = format_ts(ts)
        out.append(orjson.dumps(event))
    return out


def ingest(lines: list[bytes], workdir: Path) -> tuple[float, float, float]:
    """(events/s without rollups, with rollups, CPU seconds of the process per event without
    rollups): two fresh stores written batch by batch in turn (which goes first alternates), each
    write timed on its own, so a busy moment of the shared machine falls on both alike. The CPU
    figure counts every thread of the process during the writes without rollups (tantivy's
    indexing and merging threads included), which the machine's load does not inflate."""
    stores = {on: open_store(f"tantivy://{workdir / ('on' if on else 'off')}?writer_threads=1"
                             f"&rollups={'on' if on else 'off'}") for on in (False, True)}
    spent = {False: 0.0, True: 0.0}
    cpu = 0.0
    for i in range(0, len(lines), BATCH):
        for on in ((False, True) if i // BATCH % 2 == 0 else (True, False)):
            batch = [orjson.loads(line) for line in lines[i:i + BATCH]]
            began, began_cpu = time.perf_counter(), time.process_time()
            result = stores[on].write(batch)
            spent[on] += time.perf_counter() - began
            if not on:
                cpu += time.process_time() - began_cpu
            assert result.stored == len(batch), result
    for store in stores.values():
        store.close()
    return len(lines) / spent[False], len(lines) / spent[True], cpu / len(lines)


def rollup_step(lines: list[bytes], path: Path) -> tuple[float, float]:
    """Seconds of the rollup step alone (reduce + one upserting transaction per batch), the
    same calls the store makes after each commit: wall and CPU."""
    batches = [[orjson.loads(line) for line in lines[i:i + BATCH]] for i in range(0, len(lines), BATCH)]
    rollups = RollupFile(path)
    started, started_cpu = time.perf_counter(), time.process_time()
    for batch in batches:
        rollups.add(model.reduce_pairs((e["_ts"], e) for e in batch))
    elapsed, cpu = time.perf_counter() - started, time.process_time() - started_cpu
    rollups.close()
    return elapsed, cpu


def month_of_rows(path: Path, days: int) -> int:
    """Fill a rollups file with `days` days of per-minute provider sums; the rows written."""
    rng = random.Random(5)
    rollups = RollupFile(path)
    start = int(END.timestamp() * 1000) - days * DAY_MS
    rows = 0
    for day in range(days):
        sums = Sums()
        for minute in range(start + day * DAY_MS, start + (day + 1) * DAY_MS, MINUTE_MS):
            for p in range(PROVIDERS):
                provider, kind = f"provider-{p:02d}", ("game", "payment", "kyc", "sms")[p % 4]
                timeouts = rng.random() < 0.05
                sums.providers[(minute, provider, kind, "ok")] = [CALLS - timeouts, 0, 0]
                if timeouts:
                    sums.providers[(minute, provider, kind, "timeout")] = [1, 1, 1]
                for _ in range(CALLS):
                    key = (minute, provider, kind, sketch.key(rng.lognormvariate(4 + p / 10, 0.8)))
                    sums.latency[key] = sums.latency.get(key, 0) + 1
        rollups.replace(start + day * DAY_MS, start + (day + 1) * DAY_MS, sums)   # hours and days in SQL
        rows += len(sums.providers) + len(sums.latency)
    rollups.close()
    return rows


def best_of(fn, times: int = 3) -> tuple[float, object]:
    best, out = None, None
    for _ in range(times):
        began = time.perf_counter()
        out = fn()
        took = time.perf_counter() - began
        best = took if best is None else min(best, took)
    return best, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--span", choices=("live", "sparse"), default="live")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="bench-rollups-"))
    try:
        began = time.perf_counter()
        lines = normalised(args.events, workdir, args.span)
        print(f"{len(lines):,} demo events normalised in {time.perf_counter() - began:.1f} s")
        runs = []
        for r in range(args.rounds):
            directory = workdir / f"round-{r}"
            runs.append(ingest(lines, directory))
            print(f"  round {r + 1}: rollups off {runs[-1][0]:8,.0f} events/s, on {runs[-1][1]:8,.0f} events/s, "
                  f"on/off {runs[-1][1] / runs[-1][0]:.3f}")
            kept = directory / "on"
        off, on = sum(r[0] for r in runs) / len(runs), sum(r[1] for r in runs) / len(runs)
        cpu_off = min(r[2] for r in runs)
        step, step_cpu = min(rollup_step(lines, workdir / f"step-{i}.db") for i in range(args.rounds))
        print(f"\ningest, tantivy store, batches of {BATCH}, {args.span} span: rollups off {off:,.0f} events/s, "
              f"on {on:,.0f} events/s, on/off = {on / off:.3f} (target >= 0.90)")
        print(f"  the rollup step alone (reduce + SQLite upsert): {step:.2f} s, "
              f"{step / (len(lines) / off):.1%} of the ingest time without rollups")
        print(f"  in CPU: {step_cpu / len(lines) * 1e6:.1f} µs an event against {cpu_off * 1e6:.1f} µs an event "
              f"for ingest without rollups (every thread): {step_cpu / len(lines) / cpu_off:.1%}")

        rollups = RollupFile(kept / "rollups.db")
        span = (int(END.timestamp() * 1000) - 2 * DAY_MS, int(END.timestamp() * 1000))
        took, rows = best_of(lambda: rollups.counts(*span, MINUTE_MS, model.COUNT_DIMENSIONS))
        print(f"  counts by every dimension, per minute over the ingested events: {took * 1000:.0f} ms, "
              f"{len(rows):,} rows")
        rollups.close()

        began = time.perf_counter()
        written = month_of_rows(workdir / "month.db", args.days)
        print(f"\n{args.days} days of per-minute provider sums ({PROVIDERS} providers): {written:,} minute rows "
              f"written in {time.perf_counter() - began:.1f} s")
        rollups = RollupFile(workdir / "month.db")
        end = int(END.timestamp() * 1000)
        for label, step in (("minute", MINUTE_MS), ("hour", 3_600_000), ("day", DAY_MS)):
            took, rows = best_of(lambda: rollups.providers(end - args.days * DAY_MS, end, step),
                                 times=1 if step == MINUTE_MS else 3)
            p99 = sketch.quantile(sketch.merge(*(r.latency for r in rows)), 0.99)
            print(f"  providers({args.days} days, step {label:6s}): {took * 1000:8.0f} ms, {len(rows):,} rows "
                  f"(p99 of all calls {p99:.0f} ms)")
        rollups.close()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
