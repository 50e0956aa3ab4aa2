"""The cost of the route's scripted field in OpenSearch Dashboards (app/dashboards/opensearch_routes.py),
against the same tables grouped by raw url.path, on the same index in the same run.

    .venv/bin/python bench/osd_routes.py                       # 100,000 API requests
    .venv/bin/python bench/osd_routes.py --events 300000 --repeat 7

An index of its own on the test node (PLATLOGS_TEST_OPENSEARCH, default http://127.0.0.1:9270;
deleted at the end) gets --events API requests: url.path and http.duration mapped as the store
maps them, paths as the demo's (a few dozen routes, a third of the requests on a player's own path,
so about a third as many distinct paths as requests). Then, each --repeat times, the server's
`took` (ms) of:

  slowest routes   terms (size 10, by the max) with percentiles and max of http.duration — on the
                   script (as the export's visualization) and on url.path (as before it)
  busiest routes   terms (size 10, by count) — script and url.path; and the script against the
                   least a script can do (return url.path's doc value): the route's own cost
  discover         500 newest hits with the script field (every search on the index pattern
                   carries it) and without

and prints the median of each and the ratio script / raw. `took` is the node's time, not CPU;
the node is shared, so read the ratios, not the milliseconds.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from opensearchpy import OpenSearch, helpers  # noqa: E402

from app.dashboards.opensearch_routes import route_script  # noqa: E402
from app.rollups.model import route  # noqa: E402

STATIC = [
    "/api/v1/players/me/balance", "/api/v1/auth/login", "/api/v1/lobby", "/api/v1/sportsbook/odds", "/api/v1/games",
    "/api/v1/sportsbook/events", "/api/v1/jackpots", "/healthz", "/api/v1/auth/logout", "/api/v1/sportsbook/bets",
    "/api/v1/promotions", "/api/v2/wallet/deposits", "/api/v2/wallet/withdrawals",
]
PER_ID = ["/backoffice/api/players/{}", "/api/v1/games/{}/launch", "/api/v1/rounds/{}", "/backoffice/api/players/{}/notes"]


def docs(n: int, index: str, seed: int = 14):
    r = random.Random(seed)
    for i in range(n):
        if r.random() < 0.35:
            path = r.choice(PER_ID).format(f"p-{r.randrange(10**6):06d}")
        else:
            path = r.choice(STATIC)
        yield {"_index": index, "_source": {"@timestamp": 1_795_000_000_000 + i * 100, "url": {"path": path},
                                            "http": {"duration": round(r.lognormvariate(3.5, 0.8), 1)}}}


def took(client, index: str, body: dict, repeat: int) -> tuple[float, dict]:
    times, last = [], {}
    for _ in range(repeat):
        last = client.search(index=index, body=body, request_cache=False)
        times.append(last["took"])
    return statistics.median(times), last


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    client = OpenSearch(os.environ.get("PLATLOGS_TEST_OPENSEARCH", "http://127.0.0.1:9270"), timeout=300)
    index = "benchosdroutes-" + uuid.uuid4().hex[:8]
    client.indices.create(index=index, body={
        "settings": {"number_of_shards": 1, "number_of_replicas": 0},
        "mappings": {"properties": {"@timestamp": {"type": "date", "format": "strict_date_optional_time||epoch_millis"},
                                    "url": {"properties": {"path": {"type": "keyword", "ignore_above": 8191}}},
                                    "http": {"properties": {"duration": {"type": "double"}}}}}})
    try:
        helpers.bulk(client, docs(args.events, index), chunk_size=5000)
        client.indices.refresh(index=index)
        client.indices.forcemerge(index=index, max_num_segments=1)
        script = {"source": route_script(), "lang": "painless"}
        on_script = {"script": script, "value_type": "string"}
        on_raw = {"field": "url.path"}
        sub = {"1": {"percentiles": {"field": "http.duration", "percents": [50, 95, 99]}},
               "2": {"max": {"field": "http.duration"}}}

        def slowest(group):
            return {"size": 0, "aggs": {"3": {"terms": {**group, "size": 10, "order": {"2": "desc"}}, "aggs": sub}}}

        def busiest(group):
            return {"size": 0, "aggs": {"2": {"terms": {**group, "size": 10, "order": {"_count": "desc"}}}}}

        def discover(fields):
            return {"size": 500, "sort": [{"@timestamp": "desc"}], "script_fields": fields}

        trivial = {"script": {"source": "return doc['url.path'].value;", "lang": "painless"}, "value_type": "string"}
        rows = [
            ("slowest routes", slowest(on_script), slowest(on_raw)),
            ("busiest routes", busiest(on_script), busiest(on_raw)),
            ("busiest, vs a script", busiest(on_script), busiest(trivial)),
            ("discover (500 hits)", discover({"url.route": {"script": script}}), discover({})),
        ]
        print(f"{args.events:,} API requests, {len({route(d['_source']['url']['path']) for d in docs(args.events, index)})} "
              f"routes; median `took` of {args.repeat} (ms)")
        print(f"{'':22} {'script':>8} {'ref':>8} {'ratio':>7}")
        for name, a, b in rows:
            took(client, index, a, 1)  # the script compiled, caches warm
            ta, _ = took(client, index, a, args.repeat)
            tb, _ = took(client, index, b, args.repeat)
            print(f"{name:22} {ta:8.0f} {tb:8.0f} {ta / max(tb, 1):7.1f}")
        top = client.search(index=index, body=busiest(on_script))["aggregations"]["2"]["buckets"][:3]
        print("busiest routes (script):", ", ".join(f"{b['key']} {b['doc_count']:,}" for b in top))
    finally:
        client.indices.delete(index=index)


if __name__ == "__main__":
    main()
