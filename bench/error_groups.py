"""What the Errors page's error groups cost, against the error history it already showed, in the
same run on the same store: the group list (one exact facet on error.fingerprint, the same facet
over 12 slices for the trends, one services facet per shown group), one group's page, the sync,
and the fingerprint per ingested error against the whole normalisation of the same event.

    .venv/bin/python bench/error_groups.py                     # 100,000 demo events over 7 days
    .venv/bin/python bench/error_groups.py --events 20000 --repeat 5

The store (tantivy, the demo generator through the normal ingest path) is built under
var/bench/errorgroups-<N>/ and reused. Prints p50 of each and its ratio to the reference.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app import create_app  # noqa: E402
from app.errorgroups import service, sync  # noqa: E402
from app.meta import errorgroups as registry  # noqa: E402
from app.query import parse  # noqa: E402
from app.search import control  # noqa: E402
from app.search.window import parse_window  # noqa: E402
from app.storage import SearchRequest  # noqa: E402


def timed(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--repeat", type=int, default=10)
    args = parser.parse_args()
    data = Path(__file__).resolve().parents[1] / "var" / "bench" / f"errorgroups-{args.events}"
    fresh = not data.exists()
    app = create_app({"PLATLOGS_DATA_DIR": str(data)})
    services = app.extensions["platlogs"]
    if fresh:
        import orjson
        from app.demo.generator import generate
        lines = ((i, orjson.dumps(e)) for i, e in enumerate(generate(args.events, days=args.days, seed=42)))
        services.ingestor.ingest(lines, position="line")
    fingerprinter = services.ingestor.normalizer.fingerprinter
    store, meta = services.store, services.meta
    window = parse_window({"from": f"now-{args.days}d"})
    scope = lambda r: r  # noqa: E731

    print(f"{args.events:,} demo events over {args.days} days, p50 of {args.repeat}")
    first_sync = timed(lambda: sync.sync(store, meta, fingerprinter), 1)
    reference = timed(lambda: control.error_history(store, scope, window), args.repeat)
    listing = timed(lambda: service.list_groups(store, meta, scope, window, service.Listing(status="all"),
                                                fingerprinter), args.repeat)
    group_id = registry.groups(meta)[0].id
    detail = timed(lambda: service.detail(store, meta, scope, window, group_id), args.repeat)
    again = timed(lambda: sync.sync(store, meta, fingerprinter), args.repeat)
    groups = len(registry.groups(meta))
    print(f"  error history (reference)     {reference:8.1f} ms")
    print(f"  error groups list ({groups:>3} groups) {listing:8.1f} ms  {listing / reference:5.2f}x")
    print(f"  one group's page              {detail:8.1f} ms  {detail / reference:5.2f}x")
    print(f"  sync, first of this run       {first_sync:8.1f} ms  {first_sync / reference:5.2f}x")
    print(f"  sync, again                   {again:8.1f} ms  {again / reference:5.2f}x")

    sample = store.search(SearchRequest(query=parse("error.fingerprint:*"), size=200)).hits
    raws = [{k: v for k, v in e.items() if k not in ("event",)} for e in sample]
    normalizer = services.ingestor.normalizer
    whole = timed(lambda: [normalizer.normalize(dict(r), 1_900_000_000_000) for r in raws], args.repeat)
    alone = timed(lambda: [fingerprinter.fingerprint(r) for r in raws], args.repeat)
    from app.events import fingerprint as fp

    def uncached():
        fp._template.cache_clear()
        fp._top_frames_cached.cache_clear()
        return [fingerprinter.fingerprint(r) for r in raws]
    cold = timed(uncached, args.repeat)
    print(f"  normalise {len(raws)} errors (reference)  {whole:8.2f} ms")
    print(f"  their fingerprints alone      {alone:8.2f} ms  {alone / whole:5.2f}x of normalising them")
    print(f"  ... with the caches emptied   {cold:8.2f} ms  {cold / whole:5.2f}x (every message and trace new)")
    services.close()


if __name__ == "__main__":
    main()
