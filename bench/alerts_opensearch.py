"""200 alert rules, one cycle, on OpenSearch and on the embedded store in the same run.

    .venv/bin/python bench/alerts_opensearch.py --url http://127.0.0.1:9200 --data var/bench/alerts-1m
        [--events 1000000 --days 30 --prefix benchalerts --cycles 3 --drop]

1. The embedded store (tantivy, the reference): the demo generator's events (seed 42, `--days`
   days ending when it is made) through the ingest path into `--data` — made once, reused while
   the marker file says it holds the same events.
2. The node: those events copied with `platlogs migrate`'s code into the index prefix `--prefix`,
   unless the prefix already holds as many events (`--drop`: deleted at the end).
3. The 200 rules of bench/alerts.py (shipped rules and variants of every kind), `evaluate_many`
   as the scheduler runs it, the stores taking turns cycle by cycle after a cold cycle each. Each
   cycle is a minute earlier than the one before, from the newest demo event on, as a scheduler's
   ticks are a minute apart: a window never repeats, so OpenSearch's request cache (which keeps
   the answers of searches without hits, keyed by the whole search) answers nothing a real tick
   would not find there. `--same-moment`: every cycle at the newest demo event (the figures in
   alerts/README.md before 2026-12-03 were measured so; the cache then answers the repeats).
   `--unmerged` adds the node with every search on its own in the `_msearch`, as before
   app/storage/opensearch_batch.py merged them.

Printed per store: the warm cycles (best and median) and the alert findings, and whether every
rule's findings (group, state, value) are the same on the node as on the embedded store; for the
node, the searches and `_msearch` requests of a cycle and the node's own `took` summed over them
(the searches of one `_msearch` run side by side, so the sum can pass the wall time); the
machine's load (`uptime`) before and after. Only ratios within one run mean anything on a
shared machine.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from alerts import newest_demo_moment, variants  # noqa: E402

from app.alerts.evaluate import evaluate_many  # noqa: E402
from app.alerts.rules import default_rules_dir, load_rules  # noqa: E402
from app.storage import open_store  # noqa: E402
from app.storage import opensearch_batch as batch  # noqa: E402

merging = batch.plan


def embedded(data: Path, events: int, days: int):
    from datetime import datetime, timezone

    import orjson

    from app.config import Settings
    from app.demo.generator import generate
    from app.services import build_services
    marker = data / "alerts-demo.txt"
    wanted = f"{events} {days}"
    url = f"tantivy:///{data.resolve() / 'store'}"
    if not (marker.exists() and marker.read_text() == wanted):
        if (data / "store").exists():
            raise SystemExit(f"{data} holds another store: choose an empty --data directory")
        data.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        services = build_services(Settings.from_env({"PLATLOGS_DATA_DIR": str(data), "PLATLOGS_STORE": url}))
        lines = ((i, orjson.dumps(e)) for i, e in
                 enumerate(generate(events, days=days, seed=42, end=datetime.now(timezone.utc))))
        report = services.ingestor.ingest(lines)
        services.close()
        marker.write_text(wanted)
        print(f"embedded store: {report.accepted:,} demo events in {time.perf_counter() - started:.0f} s", flush=True)
    return open_store(url)


def drop_prefix(client, prefix: str) -> None:
    client.indices.delete(index=f"{prefix}-*", params={"ignore_unavailable": "true", "expand_wildcards": "all"})
    client.indices.delete_index_template(name=f"{prefix}-*", ignore=404)
    client.cluster.delete_component_template(name=f"{prefix}-*", ignore=404)


def node_store(url: str, prefix: str, ref):
    from opensearchpy import OpenSearch

    from app.storage.migrate import migrate
    client = OpenSearch(url, timeout=600)
    node = open_store(f"{url.replace('http://', 'opensearch://')}?prefix={prefix}")
    if node.count() != ref.count():
        node.close()
        drop_prefix(client, prefix)
        node = open_store(f"{url.replace('http://', 'opensearch://')}?prefix={prefix}")
        started = time.perf_counter()
        report = migrate(ref, node, batch=5000, verify=False)
        client.indices.refresh(index=f"{prefix}-*")
        print(f"migrate: {report.copied:,} copied, {report.failed:,} failed in {time.perf_counter() - started:.0f} s",
              flush=True)
    return client, node


class Counted:
    """The node store, counting the searches and `_msearch` requests a cycle sends and the
    node's own `took` (ms) over them."""

    def __init__(self, store):
        self.store = store
        self.searches = self.requests = self.took = 0
        real = store.client.msearch

        def msearch(**kwargs):
            response = real(**kwargs)
            self.requests += 1
            self.searches += len(response["responses"])
            self.took += response.get("took", 0)
            return response
        store.client.msearch = msearch

    def reset(self) -> None:
        self.searches = self.requests = self.took = 0


def uptime() -> str:
    return os.popen("uptime").read().strip()


def findings(evaluations) -> list:
    return [(e.rule.id, e.error, [(f.group, f.state, f.value) for f in e.findings]) for e in evaluations]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default="http://127.0.0.1:9200", help="the node")
    parser.add_argument("--prefix", default="benchalerts", help="index prefix on the node (kept unless --drop)")
    parser.add_argument("--data", type=Path, required=True, help="the embedded store's data directory (kept)")
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--rules", type=int, default=200)
    parser.add_argument("--cycles", type=int, default=3, help="warm cycles per store")
    parser.add_argument("--same-moment", action="store_true", help="every cycle at the same moment")
    parser.add_argument("--build-only", action="store_true")
    parser.add_argument("--unmerged", action="store_true", help="also the node without merged searches")
    parser.add_argument("--drop", action="store_true", help="delete the prefix's indices at the end")
    args = parser.parse_args()

    print(f"machine: {os.cpu_count()} cores; {uptime()}")
    ref = embedded(args.data, args.events, args.days)
    client, node = node_store(args.url, args.prefix, ref)
    try:
        if args.build_only:
            return
        rules = variants(load_rules(default_rules_dir()), args.rules)
        moment = newest_demo_moment(ref)
        counted = Counted(node)
        stores = {"embedded": ref, "opensearch": node} | ({"unmerged": node} if args.unmerged else {})
        times: dict[str, list[float]] = {name: [] for name in stores}
        seen: dict[str, list] = {}
        per_cycle: dict[str, tuple] = {}
        for cycle in range(args.cycles + 1):   # the first is cold
            at = moment if args.same_moment else moment - cycle * 60_000
            for name, store in stores.items():
                counted.reset()
                batch.plan = (lambda keyed: []) if name == "unmerged" else merging
                started = time.perf_counter()
                evaluations = evaluate_many(rules, store, at)
                seconds = time.perf_counter() - started
                batch.plan = merging
                seen.setdefault(name, []).append(findings(evaluations))
                if not cycle:
                    continue
                times[name].append(seconds)
                if store is node:
                    per_cycle[name] = (counted.searches, counted.requests, counted.took)
        fired = {name: sum(f[1] == "alert" for _, _, fs in seen[name][-1] for f in fs) for name in seen}
        total = {name: sum(len(fs) for _, _, fs in seen[name][-1]) for name in seen}
        when = "the newest demo event" if args.same_moment else "a minute apart from the newest demo event back"
        print(f"{node.count():,} events; {len(rules)} rules, cycles at {when}; {uptime()}")
        for name in stores:
            print(f"  {name:10} one cycle, warm: best {min(times[name]):.2f} s, median "
                  f"{statistics.median(times[name]):.2f} s; {total[name]} findings, {fired[name]} of them alerts")
        for name, (searches, requests, took) in per_cycle.items():
            print(f"  {name} / embedded (best): {min(times[name]) / min(times['embedded']):.2f}; a cycle: {searches} "
                  f"searches in {requests} _msearch, the node's took {took / 1000:.2f} s summed over them")
        for name in per_cycle:
            if seen["embedded"] != seen[name]:
                differ = sorted({a[0] for ours, theirs in zip(seen["embedded"], seen[name])
                                 for a, b in zip(ours, theirs) if a != b})
                print(f"  {name}: FINDINGS DIFFER from the embedded store's for {len(differ)} rules: {differ[:5]}")
            else:
                print(f"  {name}: the same findings (group, state, value) for every rule as the embedded store")
    finally:
        node.close()
        ref.close()
        if args.drop:
            drop_prefix(client, args.prefix)
        client.close()


if __name__ == "__main__":
    main()
