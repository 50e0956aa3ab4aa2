"""How long integration health takes server side (issue 14: p95 <= 300 ms over 30 days, exact):
the manager's dashboard, one provider's page over --from (default 30 days) and one tracker pass,
against the search page's own request over the same range in the same run.

    PLATLOGS_DATA_DIR=var .venv/bin/python bench/integration_health.py
    .venv/bin/python bench/integration_health.py --data-dir /tmp/demo --from now-30d --repeat 10

Reads an existing store (make one with `platlogs demo --events N --days 30`); nothing is written
(the tracker pass is timed without recording). Says whether the store's rollups were read or the
exact fallback over raw events.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.config import Settings  # noqa: E402
from app.integrations import service  # noqa: E402
from app.integrations.config import thresholds  # noqa: E402
from app.query.timeexpr import parse_time  # noqa: E402
from app.search.params import auto_interval  # noqa: E402
from app.services import build_services  # noqa: E402
from app.storage import SearchRequest  # noqa: E402

FACETS = ("event.component", "log.level", "service.name", "event.outcome", "integration.provider")


def timed(fn, repeat: int) -> tuple[float, float, float, float]:
    """p50 and p95 of wall ms, then of this process's CPU ms: on a shared machine the CPU time is
    the figure that compares across runs (wall time also counts the time other processes ran)."""
    walls, cpus = [], []
    for _ in range(repeat):
        start, cpu = time.perf_counter(), time.process_time()
        fn()
        walls.append((time.perf_counter() - start) * 1000)
        cpus.append((time.process_time() - cpu) * 1000)

    def p95(times: list[float]) -> float:
        times = sorted(times)
        return times[min(len(times) - 1, max(0, round(0.95 * len(times)) - 1))]
    return statistics.median(walls), p95(walls), statistics.median(cpus), p95(cpus)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", default=os.environ.get("PLATLOGS_DATA_DIR", "var"))
    parser.add_argument("--from", dest="start", default="now-30d")
    parser.add_argument("--repeat", type=int, default=10)
    args = parser.parse_args()
    services = build_services(Settings.from_env({"PLATLOGS_DATA_DIR": args.data_dir}))
    store, meta = services.store, services.meta
    now = int(time.time() * 1000)
    start = parse_time(args.start, now, "from")
    source = "rollups" if getattr(store, "rollups", None) is not None else "raw events (fallback)"
    print(f"store {args.data_dir}: {store.count():,} events; range {args.start} → now; {args.repeat} runs each; "
          f"rows from {source}")
    reference = SearchRequest(start_ms=start, end_ms=now, size=50, facets=FACETS,
                              histogram_ms=auto_interval(start, now), now_ms=now)
    store.search(reference)
    ref50, ref95, cref50, cref95 = timed(lambda: store.search(reference), args.repeat)
    print(f"{'search page (reference)':38} p50 {ref50:8.1f} ms  p95 {ref95:8.1f} ms  CPU p50 {cref50:7.1f} "
          f"p95 {cref95:7.1f} ms")
    board = service.overview(store, meta, now)
    worst = board["groups"][0]["tiles"][0]["provider"] if board["groups"] else None
    known = service.providers(store, meta)
    cases = [("dashboard (/health, 7 days)", lambda: service.overview(store, meta, now)),
             ("status now, every provider (tracker)",
              lambda: service.status_now(service.reader(store, now - 5 * service.WEEK_MS, now + 60_000), now,
                                         thresholds(), known, cache=True))]
    if worst:
        cases.append((f"provider page ({worst}, {args.start})",
                      lambda: service.detail(store, meta, worst, start, now, now)))
    for name, fn in cases:
        p50, p95, c50, c95 = timed(fn, args.repeat)
        print(f"{name[:38]:38} p50 {p50:8.1f} ms  p95 {p95:8.1f} ms  CPU p50 {c50:7.1f} p95 {c95:7.1f} ms  "
              f"({p95 / ref95:5.1f}x the search page's p95, CPU {c95 / cref95:4.1f}x)")
    services.close()


if __name__ == "__main__":
    main()
