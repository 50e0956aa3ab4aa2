"""Alert evaluation cost: 200 rules evaluated once, at one moment, over a demo store.

    PLATLOGS_DATA_DIR=/tmp/bench-5m .venv/bin/platlogs demo --events 5000000 --days 30
    .venv/bin/python bench/alerts.py /tmp/bench-5m
    .venv/bin/python bench/alerts.py opensearch://127.0.0.1:9200?prefix=bench5m
      (after `platlogs migrate --from sqlite:///tmp/bench-5m/events --to opensearch://…?prefix=bench5m`)

The 200 rules are the shipped ones (alerts/*.yaml) and variants of them: other windows (5 min to
2 h), thresholds, groups (actor.id, actor.ip, service.name, integration.provider, event.action,
none), spike modes and baselines — every kind in about the shipped proportions. They are all
evaluated at one moment (default: the newest demo event, so every window holds traffic and
every spike has four earlier weeks on a 30-day store), as the scheduler does once per cycle.
A cycle runs `--cycles` times: the first is cold (caches empty), the figure is the warm one.
A cycle is `evaluate_many(rules, store, moment)`, as the scheduler's tick runs it (the searches of
all rules batched step by step: one `_msearch` per step on OpenSearch); `--one-by-one` runs
`evaluate` rule by rule instead (the figure before batching) and lists the slowest rules.

Reported per cycle: wall seconds and this process's CPU seconds (time.process_time). On
OpenSearch the cluster's own CPU is not in that figure: it is shown separately, from the node
stats (process.cpu.total_in_millis) before and after, when the node answers them.
"""
from __future__ import annotations

import argparse
import itertools
import sys
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.alerts.evaluate import duration, evaluate, evaluate_many  # noqa: E402
from app.alerts.model import Rule  # noqa: E402
from app.alerts.rules import default_rules_dir, load_rules  # noqa: E402
from app.query import parse  # noqa: E402
from app.query.timeexpr import parse_time  # noqa: E402
from app.storage import SearchRequest, open_store  # noqa: E402

WINDOWS = (300, 600, 900, 1800, 3600, 7200)
GROUPS = {"threshold": ("actor.id", "actor.ip", "service.name", "event.action", None),
          "ratio": ("integration.provider", "service.name", None),
          "spike": ("service.name", "event.action", "integration.provider", None),
          "absence": ("integration.provider", "service.name", None)}
QUERIES = {"threshold": ("event.action:login_failed", "event.action:balance_adjusted AND actor.type:employee",
                         "http.response.status_code:>=500", "log.level:(error OR critical)",
                         "event.component:admin_action AND event.action:export"),
           "ratio": ("event.component:integration", "event.component:api"),
           "spike": ("event.component:error", "event.outcome:failure", "log.level:warning", "timeout"),
           "absence": ("event.component:integration", "event.component:system", "event.type:login")}
FAILURES = {"event.component:integration": "integration.status:(error OR timeout OR circuit_open)",
            "event.component:api": "http.response.status_code:>=500"}


def variants(shipped: list[Rule], count: int) -> list[Rule]:
    """`count` rules: the shipped ones first, then variants of each kind in turn."""
    rules = list(shipped)
    by_kind = {kind: [r for r in shipped if r.kind == kind] for kind in GROUPS}
    n = 0
    for kind in itertools.cycle(("threshold", "threshold", "ratio", "spike", "absence")):
        if len(rules) >= count:
            break
        base = by_kind[kind][n % len(by_kind[kind])]
        query = QUERIES[kind][n % len(QUERIES[kind])]
        group = GROUPS[kind][(n // 2) % len(GROUPS[kind])]
        window = WINDOWS[(n // 3) % len(WINDOWS)]
        if kind == "spike":
            window = min(window, 3600)
        changes = dict(id=f"bench.{kind}.{n}", name=f"{kind} variant {n}", query=query, group_by=group, window_s=window,
                       threshold=base.threshold * (0.5, 1, 2, 4)[n % 4])
        if kind == "ratio":
            changes.update(failure_query=FAILURES[query], threshold=(0.05, 0.1, 0.2, 0.5)[n % 4])
        if kind == "spike":
            changes.update(spike_mode=("relative", "zscore")[n % 2], baseline_periods=(2, 4)[n % 2])
        if kind == "absence":
            changes.update(expected_groups=(), min_count=(5, 20)[n % 2], threshold=1)
        rules.append(replace(base, **changes))
        n += 1
    for rule in rules:   # every variant must be a rule the loader would accept
        parse(rule.query)
    return rules[:count]


def newest_demo_moment(store) -> int:
    """Just after the newest event of the demo's traffic (sign-ins to the bench pages may be newer)."""
    hit = store.search(SearchRequest(query=parse("service.name:game-service"), size=1, total_bound=0)).hits[0]
    return parse_time(hit["@timestamp"], 0) + 1


def node_cpu_ms(store) -> int | None:
    client = getattr(store, "client", None)
    if client is None:
        return None
    try:
        stats = client.nodes.stats(metric="process")
        return sum(n["process"]["cpu"]["total_in_millis"] for n in stats["nodes"].values())
    except Exception:  # noqa: BLE001 — a figure we can do without
        return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("target", help="a data directory (its SQLite store) or a store URL")
    parser.add_argument("--rules", type=Path, default=default_rules_dir())
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--at", default=None, help="moment (ISO-8601, epoch ms, now-1h); default: newest demo event")
    parser.add_argument("--cycles", type=int, default=3)
    parser.add_argument("--slowest", type=int, default=10)
    parser.add_argument("--one-by-one", action="store_true", help="evaluate rule by rule (no batching)")
    args = parser.parse_args()

    url = args.target if "://" in args.target else f"sqlite://{Path(args.target).resolve()}/events"
    store = open_store(url)
    rules = variants(load_rules(args.rules), args.count)
    moment = parse_time(args.at, int(time.time() * 1000)) if args.at else newest_demo_moment(store)
    kinds = {k: sum(r.kind == k for r in rules) for k in GROUPS}
    print(f"{url}: {sum(p.events for p in store.partitions()):,} events; {len(rules)} rules "
          f"({', '.join(f'{n} {k}' for k, n in kinds.items())}) at {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(moment / 1000))}")
    per_rule: dict[str, float] = {}
    for cycle in range(1, args.cycles + 1):
        node_before = node_cpu_ms(store)
        wall0, cpu0 = time.perf_counter(), time.process_time()
        fired = unknown = errors = 0
        if args.one_by_one:
            evaluations = []
            for rule in rules:
                t0 = time.perf_counter()
                evaluations.append(evaluate(rule, store, moment))
                per_rule[rule.id] = time.perf_counter() - t0
        else:
            evaluations = evaluate_many(rules, store, moment)
        for evaluation in evaluations:
            errors += evaluation.error is not None
            fired += sum(f.state == "alert" for f in evaluation.findings)
            unknown += sum(f.state == "unknown" for f in evaluation.findings)
        wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
        node_after = node_cpu_ms(store)
        node = f", OpenSearch node CPU {(node_after - node_before) / 1000:.2f} s" \
            if node_before is not None and node_after is not None else ""
        print(f"cycle {cycle} ({'cold' if cycle == 1 else 'warm'}): wall {wall:.2f} s, CPU {cpu:.2f} s "
              f"(this process){node}; {fired} alert findings, {unknown} unknown, {errors} errors")
    if per_rule:
        print("slowest rules (last cycle):")
    for rule_id, seconds in sorted(per_rule.items(), key=lambda kv: -kv[1])[:args.slowest]:
        r = next(x for x in rules if x.id == rule_id)
        print(f"  {seconds * 1000:8.1f} ms  {r.kind:9} {duration(r.window_s):7} group {r.group_by or '-':20} "
              f"{r.query}")
    store.close()


if __name__ == "__main__":
    main()
