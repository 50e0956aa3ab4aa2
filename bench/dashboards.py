"""How long each shipped dashboard takes server side (issue 14: p95 <= 300 ms over 30 days, exact),
against the search page's own request over the same range in the same run.

    PLATLOGS_DATA_DIR=var .venv/bin/python bench/dashboards.py                  # the demo's store
    .venv/bin/python bench/dashboards.py --data-dir /tmp/demo --from now-30d --repeat 10

Reads an existing store (make one with `platlogs demo --events N --days 30`); nothing is written.
For every dashboard: `dashboard_data` (every panel, as the page and the API compute them, without
Flask or masking) timed p50/p95 over --repeat runs, and its slowest panel. The reference is what
the search page asks of the store for the same range (newest 50, exact total, five facets, the
histogram), p50/p95 in the same run: the ratio says how many search pages a dashboard costs.
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
from app.dashboards.definitions import load_dashboards  # noqa: E402
from app.dashboards.panels import dashboard_data, panel_data, window_for  # noqa: E402
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
    store = services.store
    identity = lambda request: request  # noqa: E731
    print(f"store {args.data_dir}: {store.count():,} events; range {args.start} → now; {args.repeat} runs each")
    boards = load_dashboards()
    window = window_for(boards[0], {"from": args.start})
    reference = SearchRequest(start_ms=window.start_ms, end_ms=window.end_ms, size=50, facets=FACETS,
                              histogram_ms=auto_interval(window.start_ms, window.end_ms), now_ms=window.now_ms)
    store.search(reference)   # warm
    ref50, ref95, cref50, cref95 = timed(lambda: store.search(reference), args.repeat)
    print(f"{'reference: the search page':32} p50 {ref50:8.1f} ms  p95 {ref95:8.1f} ms  CPU p50 {cref50:7.1f} "
          f"p95 {cref95:7.1f} ms")
    for board in boards:
        window = window_for(board, {"from": args.start})
        dashboard_data(store, identity, window, board, sees_personal=True)   # warm
        p50, p95, c50, c95 = timed(lambda: dashboard_data(store, identity, window, board, sees_personal=True),
                                   args.repeat)
        slowest = max(board.panels, key=lambda panel: timed(
            lambda: panel_data(store, identity, window, panel, sees_personal=True), 1)[0])
        print(f"{board.id:32} p50 {p50:8.1f} ms  p95 {p95:8.1f} ms  CPU p50 {c50:7.1f} p95 {c95:7.1f} ms  "
              f"({p95 / ref95:5.1f}x the reference's p95, CPU {c95 / cref95:4.1f}x; "
              f"slowest panel: {slowest.id}, {slowest.kind})")
    services.close()


if __name__ == "__main__":
    main()
