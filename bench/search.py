"""Search latency over a demo store: p50 / p95 per kind of query, and the store's size.

    PLATLOGS_DATA_DIR=/tmp/bench-1m .venv/bin/platlogs demo --events 1000000 --days 30
    .venv/bin/python bench/search.py /tmp/bench-1m
    .venv/bin/python bench/search.py /tmp/bench-1m --also opensearch://127.0.0.1:9200?prefix=bench
      (after `platlogs migrate --from sqlite:///tmp/bench-1m/events --to opensearch://…?prefix=bench`)

The fixed mix: exact lookups (actor.id, correlation.id, payment.transaction_id, over all 30
days), common and rare full-text words, a phrase, and full text + five facets + an automatic
histogram over the last 24 hours and over 30 days. Queries run in-process through the same
parameter parsing as the API (`search_params`) and `store.search`, after one warm-up pass;
the figures are the warm latency a person at the search page sees, less HTTP and rendering.
"""
from __future__ import annotations

import argparse
import os
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.config import Settings  # noqa: E402
from app.search.params import search_params  # noqa: E402
from app.events.schema import get_path  # noqa: E402
from app.services import build_services  # noqa: E402
from app.storage import SearchRequest, open_store  # noqa: E402

FACETS = "event.component,log.level,service.name,event.outcome,integration.provider"


def sample_values(store, field: str, count: int, rng: random.Random) -> list[str]:
    """Values of `field` from events spread over the whole store."""
    parts = store.partitions()
    values: list[str] = []
    while len(values) < count:
        part = rng.choice(parts)
        start = rng.randrange(part.start_ms, part.end_ms - 60_000)
        hits = store.search(SearchRequest(start_ms=start, end_ms=start + 600_000, size=200, total_bound=0)).hits
        found = [get_path(h, field) for h in hits if get_path(h, field)]
        if found:
            values.append(rng.choice(found))
    return values


def mix(store, rng: random.Random) -> list[tuple[str, dict]]:
    queries: list[tuple[str, dict]] = []
    for field in ("actor.id", "correlation.id", "payment.transaction_id"):
        for value in sample_values(store, field, 20, rng):
            queries.append((f"exact {field}", {"q": f'{field}:"{value}"', "size": "50"}))
    for window in ("now-24h", "now-30d"):
        queries += [
            (f"text common word ({window})", {"q": "wallet", "from": window}),
            (f"text rare word ({window})", {"q": "rollback", "from": window}),
            (f"text phrase ({window})", {"q": '"logged out"', "from": window}),
            (f"text + 5 facets + histogram ({window})", {"q": "deposit", "from": window, "facets": FACETS,
                                                         "histogram": "auto"}),
            (f"common word + 5 facets + histogram ({window})", {"q": "wallet", "from": window, "facets": FACETS,
                                                                "histogram": "auto"}),
            (f"all events + 5 facets + histogram ({window})", {"q": "", "from": window, "facets": FACETS,
                                                               "histogram": "auto"}),
        ]
    return queries


def run(store, queries, repeat: int) -> dict[str, list[float]]:
    earliest = store.partitions()[0].start_ms
    timings: dict[str, list[float]] = {}
    for _ in range(repeat):
        for label, args in queries:
            started = time.perf_counter()
            params = search_params(args, earliest_ms=earliest)
            store.search(params.request)
            timings.setdefault(label, []).append((time.perf_counter() - started) * 1000)
    return timings


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def report(label: str, store, queries, repeat: int) -> dict[str, list[float]]:
    print(f"\n{label}: {store.count():,} events in {len(store.partitions())} partitions; {os.cpu_count()} cores")
    run(store, queries, 1)  # warm-up: page cache and statement caches
    timings = run(store, queries, repeat)
    print(f"{'query':52} {'n':>4} {'p50 ms':>9} {'p95 ms':>9} {'max ms':>9}")
    for name, values in timings.items():
        print(f"{name:52} {len(values):4} {pct(values, 50):9.1f} {pct(values, 95):9.1f} {max(values):9.1f}")
    print(f"slowest query: {max(max(v) for v in timings.values()):.0f} ms")
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data_dir")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--also", metavar="STORE_URL",
                        help="run the same queries on this store too (e.g. the demo data migrated to OpenSearch)")
    args = parser.parse_args()
    services = build_services(Settings.from_env({"PLATLOGS_DATA_DIR": args.data_dir}))
    store = services.store
    size = sum(f.stat().st_size for f in Path(args.data_dir, "events").iterdir() if f.is_file())
    print(f"embedded store: {size / 1e9:.2f} GB on disk ({size / store.count() * 1e6 / 1e9:.2f} GB per million)")
    queries = mix(store, random.Random(5))   # the values sampled here are asked of both stores
    mine = report("sqlite", store, queries, args.repeat)
    if args.also:
        other = open_store(args.also)
        theirs = report(args.also, other, queries, args.repeat)
        print(f"\n{'query':52} {'sqlite p50':>11} {'other p50':>10} {'sqlite p95':>11} {'other p95':>10}")
        for name in mine:
            print(f"{name:52} {pct(mine[name], 50):11.1f} {pct(theirs[name], 50):10.1f} "
                  f"{pct(mine[name], 95):11.1f} {pct(theirs[name], 95):10.1f}")
        other.close()
    services.close()


if __name__ == "__main__":
    main()
