"""The OpenSearch backend sized for its data: the demo traffic through the store into a real node,
then its layout, bytes per event and query latencies, each beside the embedded store's on the
same events in the same run (the machine is shared: only same-run comparisons mean anything).

    tools/opensearch/start --port 9200 --dir /tmp/bench-os          # or any OpenSearch 2.x node
    .venv/bin/python bench/opensearch_sizing.py --url http://127.0.0.1:9200 [--events 1000000 --days 30]

1. The embedded store (the reference; the data directory's default: tantivy, or an SQLite store an
   older run made there): the demo generator's events (app.demo.generator, seed 42, `--days` days
   ending now) through the ingest path, as `platlogs demo` does, into `--data DIR` (kept, and
   reused by the next run with the same DIR, events and days).
2. The node: every event copied with `platlogs migrate`'s code (app/storage/migrate.py) into the
   index prefix `--prefix` (deleted first, and afterwards unless `--keep`).
3. Printed: indices and shards; bytes per event on the node (primary store size / events) before
   and after a force-merge to one segment; then, warm, p50 / p95 of: exact `actor.id` and
   `correlation.id` lookups (values sampled over the 30 days, newest 50 + count), a two-word
   phrase over 30 days, a common word + 5 facets + an hourly histogram over 30 days; and the
   cycle time of 200 alert rules (bench/alerts.py's rules at the newest demo event) through
   `evaluate_many`, the scheduler's batched path. Queries are timed on the node before and
   after the force-merge (a hot index is not merged; an ISM warm one is).
"""
from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from alerts import newest_demo_moment, variants  # noqa: E402
from search import FACETS, pct, sample_values  # noqa: E402

from app.config import Settings  # noqa: E402
from app.search.params import search_params  # noqa: E402
from app.services import build_services  # noqa: E402
from app.storage import open_store  # noqa: E402
from app.storage.migrate import migrate  # noqa: E402


def embedded(data: Path, events: int, days: int):
    """The reference store: made once per DIR (a marker file records what it holds)."""
    import orjson
    from datetime import datetime, timezone
    from app.demo.generator import generate
    marker = data / "sizing-demo.txt"
    wanted = f"{events} {days}"
    settings = Settings.from_env({"PLATLOGS_DATA_DIR": str(data)})   # the default store of the data directory
    if not (marker.exists() and marker.read_text() == wanted):
        if (data / "events").exists() or (data / "store").exists():
            raise SystemExit(f"{data} holds another store: choose an empty --data directory")
        started = time.perf_counter()
        services = build_services(settings)
        lines = ((i, orjson.dumps(e)) for i, e in
                 enumerate(generate(events, days=days, seed=42, end=datetime.now(timezone.utc))))
        report = services.ingestor.ingest(lines)
        services.close()
        marker.write_text(wanted)
        print(f"embedded store: {report.accepted:,} demo events in {time.perf_counter() - started:.0f} s")
    return open_store(settings.store_url)


def drop_prefix(client, prefix: str) -> None:
    client.indices.delete(index=f"{prefix}-*", params={"ignore_unavailable": "true", "expand_wildcards": "all"})
    client.indices.delete_index_template(name=f"{prefix}-*", ignore=404)
    client.cluster.delete_component_template(name=f"{prefix}-*", ignore=404)


def node_layout(client, prefix: str) -> tuple[int, int, int, int]:
    """(indices, shards, documents, primary bytes) under the prefix."""
    rows = client.cat.indices(index=f"{prefix}-*", params={"format": "json", "bytes": "b",
                                                            "h": "index,pri,rep,docs.count,pri.store.size"})
    shards = sum(int(r["pri"]) * (1 + int(r["rep"])) for r in rows)
    return (len(rows), shards, sum(int(r["docs.count"] or 0) for r in rows),
            sum(int(r["pri.store.size"] or 0) for r in rows))


def queries(store, rng: random.Random, lookups: int) -> list[tuple[str, dict]]:
    mix: list[tuple[str, dict]] = []
    for field in ("actor.id", "correlation.id"):
        mix += [(f"id lookup {field}", {"q": f'{field}:"{value}"', "size": "50"})
                for value in sample_values(store, field, lookups, rng)]
    mix += [("phrase, 30 days", {"q": '"logged out"', "from": "now-30d"})] * 5
    mix += [("common word + 5 facets + hourly histogram, 30 days",
             {"q": "wallet", "from": "now-30d", "facets": FACETS, "histogram": "1h"})] * 5
    return mix


def timed(store, mix, repeat: int) -> dict[str, list[float]]:
    earliest = store.partitions()[0].start_ms
    out: dict[str, list[float]] = {}
    for _ in range(repeat * 5):   # what every search page asks first (the earliest event)
        started = time.perf_counter()
        store.partitions()
        out.setdefault("partitions()", []).append((time.perf_counter() - started) * 1000)
    for _ in range(repeat):
        for label, args in mix:
            started = time.perf_counter()
            store.search(search_params(args, earliest_ms=earliest).request)
            out.setdefault(label, []).append((time.perf_counter() - started) * 1000)
    return out


def rule_cycle(store, rules, cycles: int, batched: bool = True) -> tuple[float, int]:
    """Warm seconds of one cycle of `evaluate_many` (the fastest of `cycles` after a cold one), and
    the alert findings it made; `batched=False`: `evaluate` rule by rule."""
    from app.alerts.evaluate import evaluate
    try:
        from app.alerts.evaluate import evaluate_many
    except ImportError:   # a version without the batched path (for a figure "before")
        batched = False
    if not batched:
        evaluate_many = lambda rules, store, moment: [evaluate(r, store, moment) for r in rules]  # noqa: E731
    moment = newest_demo_moment(store)
    best, fired = float("inf"), 0
    for cycle in range(cycles + 1):   # the first one is cold
        started = time.perf_counter()
        evaluations = evaluate_many(rules, store, moment)
        if cycle:
            best = min(best, time.perf_counter() - started)
        fired = sum(f.state == "alert" for e in evaluations for f in e.findings)
        errors = [e.error for e in evaluations if e.error]
        if errors:
            print(f"  {len(errors)} rule(s) in error, first: {errors[0]}")
    return best, fired


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default="http://127.0.0.1:9200", help="the node")
    parser.add_argument("--prefix", default="benchsizing", help="index prefix used (and deleted) on the node")
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--data", type=Path, default=None, help="the embedded store's data directory (kept)")
    parser.add_argument("--lookups", type=int, default=20, help="values sampled per id field")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--rules", type=int, default=200)
    parser.add_argument("--cycles", type=int, default=3)
    parser.add_argument("--keep", action="store_true", help="leave the indices on the node")
    args = parser.parse_args()
    from opensearchpy import OpenSearch
    from app.alerts.rules import default_rules_dir, load_rules

    data = args.data or Path(tempfile.mkdtemp(prefix="bench-sizing-"))
    data.mkdir(parents=True, exist_ok=True)
    print(f"machine: {os.cpu_count()} cores; {args.events:,} demo events over {args.days} days; node {args.url}")
    ref = embedded(data, args.events, args.days)
    client = OpenSearch(args.url, timeout=600)
    drop_prefix(client, args.prefix)
    node = open_store(f"{args.url.replace('http://', 'opensearch://')}?prefix={args.prefix}")
    try:
        started = time.perf_counter()
        report = migrate(ref, node, batch=5000, verify=False)
        seconds = time.perf_counter() - started
        client.indices.refresh(index=f"{args.prefix}-*")
        print(f"migrate: {report.copied:,} copied, {report.failed:,} failed, {report.copied / seconds:,.0f} events/s")
        events = ref.count()
        indices, shards, docs, before = node_layout(client, args.prefix)
        where = Path(urlsplit(Settings.from_env({"PLATLOGS_DATA_DIR": str(data)}).store_url).path)
        sqlite_bytes = sum(f.stat().st_size for f in where.rglob("*") if f.is_file())

        mix = queries(ref, random.Random(5), args.lookups)
        timed(ref, mix, 1)
        mine = timed(ref, mix, args.repeat)
        timed(node, mix, 1)
        hot = timed(node, mix, args.repeat)
        started = time.perf_counter()
        client.indices.forcemerge(index=f"{args.prefix}-*", params={"max_num_segments": "1"}, request_timeout=3600)
        merge_s = time.perf_counter() - started
        # the merged-away files count until they are released: flush, refresh, and wait for one
        # segment per shard before reading the size again
        client.indices.flush(index=f"{args.prefix}-*", request_timeout=600)
        client.indices.refresh(index=f"{args.prefix}-*")
        for _ in range(120):
            segments = client.cat.segments(index=f"{args.prefix}-*", params={"format": "json", "h": "index"})
            if len(segments) <= shards:
                break
            time.sleep(1)
        _, _, _, after = node_layout(client, args.prefix)
        timed(node, mix, 1)
        merged = timed(node, mix, args.repeat)

        rules = variants(load_rules(default_rules_dir()), args.rules)
        ref_cycle, ref_fired = rule_cycle(ref, rules, args.cycles)
        node_cycle, node_fired = rule_cycle(node, rules, args.cycles)
        node_single, _ = rule_cycle(node, rules, 1, batched=False)

        print(f"\nnode layout: {indices} indices, {shards} shards for {docs:,} events "
              f"({docs / max(indices, 1):,.0f} events per index)")
        print(f"{'':52} {'embedded':>12} {'node':>12} {'node merged':>12}")
        print(f"{'bytes per event (primary store)':52} {sqlite_bytes / events:12.0f} {before / docs:12.0f} "
              f"{after / docs:12.0f}   (force-merge {merge_s:.0f} s)")
        for label in mine:
            for p in (50, 95):
                print(f"{label + f' p{p} ms':52} {pct(mine[label], p):12.1f} {pct(hot[label], p):12.1f} "
                      f"{pct(merged[label], p):12.1f}")
        print(f"{f'{len(rules)} alert rules, one cycle, s':52} {ref_cycle:12.2f} {node_cycle:12.2f} {'':>12}   "
              f"(alert findings: {ref_fired} embedded, {node_fired} node)")
        print(f"{'  the same, evaluate() rule by rule, s':52} {'':>12} {node_single:12.2f}")
    finally:
        node.close()
        ref.close()
        if not args.keep:
            drop_prefix(client, args.prefix)
        client.close()


if __name__ == "__main__":
    main()
