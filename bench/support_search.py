"""What a support agent waits for (issue 13): pasted values over 30 days, field-exact lookups and
exact facet counts, on the embedded store, against the raw engine in the same run.

    .venv/bin/python bench/support_search.py                      # 1,000,000 demo events
    .venv/bin/python bench/support_search.py --events 100000 --repeat 20
    .venv/bin/python bench/support_search.py --opensearch http://127.0.0.1:9200   # both backends

The store (tantivy, in-process ingest of the project's demo generator, 30 days) is built once
under var/bench/support-<N>/ and reused. Values are picked from the store itself: players' ids,
e-mail addresses and IPs, transaction ids pasted in capitals. Each query runs through
`store.search` as the search page asks it (newest 50, exact total), timed p50/p95; the
reference is the same index asked directly through tantivy for the same documents (a term query
on the folded value, top 50 by time and a count) — the engine's floor on this machine now.
With `--opensearch URL` the same events are then copied into that node (`platlogs migrate`'s
code, index prefix `support<N>`, kept for the next run; `--fresh` copies again, then force-merged)
and the same queries run through the OpenSearch store, beside the node asked directly (a term
query on the identifier's `.fold` subfield, newest 50 by time and the exact count).
Targets (issue 13): bare id / e-mail / IP p95 <= 100 ms, field-exact p95 <= 20 ms, five exact
facets over 30 days p95 <= 500 ms.
"""
from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tantivy import Order, Query  # noqa: E402

from app.config import Settings  # noqa: E402
from app.demo.generator import generate  # noqa: E402
from app.ingest.pipeline import Ingestor  # noqa: E402
from app.query import parse  # noqa: E402
from app.services import build_normalizer  # noqa: E402
from app.storage import SearchRequest, open_store  # noqa: E402
from app.storage.tantivy_schema import index_schema  # noqa: E402

DAY_MS = 86_400_000
FACETS = ("event.component", "log.level", "service.name", "event.outcome", "integration.provider")


def build(directory: Path, events: int, end: datetime) -> None:
    marker = directory / "complete"
    if marker.exists():
        return
    normalizer = build_normalizer(Settings.from_env({"PLATLOGS_DATA_DIR": str(directory)}))
    store = open_store(f"tantivy://{directory}/events")
    started = time.perf_counter()
    lines = ((i, orjson.dumps(e)) for i, e in enumerate(generate(events, days=30, seed=12, end=end)))
    report = Ingestor(normalizer, store, batch_size=5000).ingest(lines, position="line")
    store.close()
    print(f"built {report.accepted:,} events in {time.perf_counter() - started:.0f} s")
    marker.write_text(str(report.accepted))


def pick(store, end_ms: int, count: int) -> dict[str, list[str]]:
    """Values as a player or colleague would paste them, from the store's own events."""
    found: dict[str, set] = {"actor.id": set(), "actor.email": set(), "actor.ip": set(), "payment.transaction_id": set()}
    result = store.search(SearchRequest(query=parse("actor.type:player"), start_ms=end_ms - 30 * DAY_MS,
                                        end_ms=end_ms, size=2000, total_bound=0))
    for event in result.hits:
        actor, payment = event.get("actor", {}), event.get("payment", {})
        for name, value in (("actor.id", actor.get("id")), ("actor.email", actor.get("email")),
                            ("actor.ip", actor.get("ip")), ("payment.transaction_id", payment.get("transaction_id"))):
            if value:
                found[name].add(value)
    rng = random.Random(5)
    return {name: rng.sample(sorted(values), min(count, len(values))) for name, values in found.items()}


def timed(fn, repeat: int) -> tuple[float, float]:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    return statistics.median(times), times[min(len(times) - 1, int(len(times) * 0.95))]


def copy_to_node(source, url: str, prefix: str, fresh: bool, checkpoint: Path | None = None):
    """The store's events in an OpenSearch prefix: copied once, kept for the next run.

    `checkpoint`: a file recording the copy's progress page by page, so a copy of millions of
    events that was stopped (a session's end, the node restarted with `start --keep`) resumes."""
    from opensearchpy import OpenSearch
    from app.storage.migrate import migrate
    client = OpenSearch(url, timeout=300)
    if fresh:
        if checkpoint:
            checkpoint.unlink(missing_ok=True)
        client.indices.delete(index=f"{prefix}-*", params={"ignore_unavailable": "true", "expand_wildcards": "all"})
    node = open_store(f"opensearch://{url.split('://', 1)[-1]}?prefix={prefix}")
    wanted, have = source.count(), node.count()
    if have != wanted:
        started = time.perf_counter()
        shown = [0]

        def progress(step) -> None:
            if step.done - shown[0] >= 250_000 or step.done == step.total:
                shown[0] = step.done
                print(f"  copy: {step.done:,} of {step.total:,} ({time.perf_counter() - started:.0f} s)", flush=True)

        copied = migrate(source, node, batch=5000, verify=False, checkpoint=checkpoint, label=prefix,
                         progress=progress)
        seconds = time.perf_counter() - started
        print(f"copied {copied.copied:,} events to the node in {seconds:.0f} s ({copied.copied / seconds:,.0f} events/s)")
        client.indices.refresh(index=f"{prefix}-*")
        client.indices.forcemerge(index=f"{prefix}-*", params={"max_num_segments": 1, "request_timeout": 3600})
    return node


def measure(store, raw, values: dict[str, list[str]], start_ms: int, end_ms: int, repeat: int) -> list[tuple]:
    """The support queries through `store.search`, each beside `raw(field, value)` (the engine alone)."""
    def project(q: str, facets=()):
        return lambda: store.search(SearchRequest(query=parse(q), start_ms=start_ms, end_ms=end_ms, size=50,
                                                  facets=facets))

    rows = []
    cycle = {name: iter(v * (repeat // max(1, len(v)) + 1)) for name, v in values.items()}
    for label, name, paste in (
            ("bare player id", "actor.id", str),
            ("bare e-mail", "actor.email", str.upper),
            ("bare IP", "actor.ip", str),
            ("bare transaction id, in capitals", "payment.transaction_id", str.upper),
            ("field-exact actor.id", "actor.id", None),
            ("field-exact payment.transaction_id", "payment.transaction_id", None)):
        if not values[name]:
            continue
        samples = [next(cycle[name]) for _ in range(repeat)]
        queries = iter(samples * 2)
        refs = iter(samples * 2)
        q = (lambda: f'{name}:"{next(queries)}"') if paste is None else (lambda: paste(next(queries)))
        p50, p95 = timed(lambda: project(q())(), repeat)
        r50, r95 = timed(lambda: raw(name, next(refs))(), repeat)
        target = 20 if paste is None else 100
        rows.append((label, p50, p95, r50, r95, target))
    p50, p95 = timed(project("", FACETS), max(5, repeat // 3))
    rows.append(("5 exact facets, all events, 30 days", p50, p95, None, None, 500))
    p50, p95 = timed(project("log.level:error", FACETS), max(5, repeat // 3))
    rows.append(("5 exact facets, log.level:error, 30 days", p50, p95, None, None, 500))
    return rows


def report(title: str, rows: list[tuple]) -> None:
    print(f"\n{title}")
    print(f"{'query':42s} {'p50 ms':>8s} {'p95 ms':>8s} {'engine p50':>11s} {'engine p95':>11s} {'p95/engine':>10s} "
          f"{'target p95':>10s}")
    for label, p50, p95, r50, r95, target in rows:
        ratio = f"{p95 / r95:10.1f}" if r95 else f"{'':10s}"
        engine = f"{r50:11.2f} {r95:11.2f}" if r50 is not None else f"{'':11s} {'':11s}"
        mark = "ok" if p95 <= target else "OVER"
        print(f"{label:42s} {p50:8.2f} {p95:8.2f} {engine} {ratio} {target:7d} {mark}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--opensearch", metavar="URL", help="also copy the events to this node and measure there")
    parser.add_argument("--fresh", action="store_true", help="copy to the node again even if it holds them")
    parser.add_argument("--data-dir", type=Path, help="an existing store built by an earlier run (its name carries "
                        "the day it was built for; the 30 days measured end at its last event's midnight)")
    args = parser.parse_args()
    end = datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    if args.data_dir:
        end = datetime.strptime(args.data_dir.name.rsplit("-", 1)[-1], "%Y%m%d").replace(tzinfo=timezone.utc)
    end_ms = int(end.timestamp() * 1000)
    directory = args.data_dir or ROOT / "var" / "bench" / f"support-{args.events}-{end:%Y%m%d}"
    directory.mkdir(parents=True, exist_ok=True)
    build(directory, args.events, end - timedelta(milliseconds=1))
    store = open_store(f"tantivy://{directory}/events")
    values = pick(store, end_ms, args.repeat)
    start_ms = end_ms - 30 * DAY_MS
    schema = index_schema()

    def tantivy_raw(field: str, value: str):
        """The engine alone: one term query, top 50 by time and the count, every shard of the months."""
        def run():
            query = Query.term_query(schema, f"fi.{field}", value.lower())
            for name, _, _ in store._spans():
                for index in store.shard_indexes(name):
                    index.searcher().search(query, 50, count=True, order_by_field="seq", order=Order.Desc)
        return run

    report(f"{store.count():,} demo events over 30 days, tantivy store at {directory}; {args.repeat} runs a query",
           measure(store, tantivy_raw, values, start_ms, end_ms, args.repeat))
    if args.opensearch:
        node = copy_to_node(store, args.opensearch, f"support{args.events}", args.fresh,
                            directory / f"opensearch-support{args.events}.checkpoint.json")

        def node_raw(field: str, value: str):
            def run():
                node.client.search(index=node.alias, body={
                    "size": 50, "track_total_hits": True, "sort": [{"@timestamp": "desc"}],
                    "query": {"bool": {"filter": [
                        {"term": {f"{field}.fold": value.lower()}},
                        {"range": {"@timestamp": {"gte": start_ms, "lt": end_ms, "format": "epoch_millis"}}}]}}})
            return run

        report(f"the same {node.count():,} events on OpenSearch at {args.opensearch} (prefix support{args.events})",
               measure(node, node_raw, values, start_ms, end_ms, args.repeat))
        node.close()
    store.close()


if __name__ == "__main__":
    main()
