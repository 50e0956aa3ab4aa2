"""Ingest throughput into OpenSearch: the project's path against the plain client, same run.

    tools/opensearch/start --port 9200 --dir /tmp/bench-os        # or any OpenSearch 2.x node
    .venv/bin/python bench/ingest_opensearch.py --url http://127.0.0.1:9200 --events 300000

  reference  opensearch-py `helpers.bulk` of the same documents the project stores (normalised,
             into the same daily per-component indices, under the same ids, `create`), built
             before the clock starts — what a plain client reaches on this node; and the same
             with `helpers.parallel_bulk` (as many threads as the HTTP run has senders);
  http       `platlogs serve` (gunicorn, 2 workers) with PLATLOGS_STORE=opensearch://…,
             receiving the raw demo events as NDJSON over HTTP from sender threads: parsing,
             validation, classification, redaction and the store's bulk requests included.
Prints events/s for each and the ratio http / reference (the target is at least 0.8). Each
run writes under its own index prefix, deleted afterwards.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from ingest import POOL, Server, batches, http_run, make_pool  # noqa: E402

from app.config import Settings  # noqa: E402
from app.services import build_normalizer  # noqa: E402
from app.storage.opensearch import OpenSearchStore  # noqa: E402


def drop(url: str, prefix: str) -> None:
    from opensearchpy import OpenSearch
    client = OpenSearch(url, timeout=120)
    client.indices.delete(index=f"{prefix}-*", params={"ignore_unavailable": "true", "expand_wildcards": "all"})
    client.indices.delete_index_template(name=f"{prefix}-*", ignore=404)
    client.cluster.delete_component_template(name=f"{prefix}-*", ignore=404)
    client.close()


def reference(url: str, pool: list[bytes], total: int, batch: int, workdir: Path, threads: int = 1) -> float:
    from opensearchpy import OpenSearch, helpers
    prefix = "benchref"
    store = OpenSearchStore.from_url(f"{url.replace('http://', 'opensearch://')}?prefix={prefix}")
    normalizer = build_normalizer(Settings.from_env({"PLATLOGS_DATA_DIR": str(workdir)}))
    now = int(time.time() * 1000)
    documents = []
    for line in pool:
        index, event_id, _, doc = store._document(normalizer.normalize(orjson.loads(line), now, line))
        documents.append((index, event_id, orjson.loads(doc)))
    store.close()
    client = OpenSearch(url, timeout=120)
    cycles = -(-total // len(documents))

    def actions():
        sent = 0
        for cycle in range(cycles):   # each cycle one day later, like the HTTP run (new ids too)
            for index, event_id, doc in documents:
                if sent >= total:
                    return
                moved = index if not cycle else index[:-10] + (
                    datetime.strptime(index[-10:], "%Y.%m.%d") + timedelta(days=cycle)).strftime("%Y.%m.%d")
                yield {"_op_type": "create", "_index": moved, "_id": f"{event_id}{cycle or ''}", "_source": doc}
                sent += 1

    started = time.perf_counter()
    if threads == 1:
        ok, errors = helpers.bulk(client, actions(), chunk_size=batch, max_chunk_bytes=8 << 20,
                                  raise_on_error=False, stats_only=True)
    else:   # the node's own limit, closer: several bulk requests in flight
        results = [ok for ok, _ in helpers.parallel_bulk(client, actions(), thread_count=threads, chunk_size=batch,
                                                         max_chunk_bytes=8 << 20, raise_on_error=False)]
        ok, errors = sum(results), len(results) - sum(results)
    elapsed = time.perf_counter() - started
    client.close()
    if errors:
        print(f"           reference: {errors} items failed")
    return ok / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default="http://127.0.0.1:9200")
    parser.add_argument("--events", type=int, default=300_000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--senders", type=int, default=3)
    parser.add_argument("--port", type=int, default=18941)
    args = parser.parse_args()

    print(f"machine: {os.cpu_count()} cores; events={args.events:,} batch={args.batch} senders={args.senders}")
    pool = make_pool(min(POOL, args.events), days=1, shuffle=False)
    print(f"event size: {sum(map(len, pool)) / len(pool):.0f} bytes average (demo traffic)")
    bodies = batches(pool, args.batch)
    try:
        with tempfile.TemporaryDirectory(prefix="bench-os-") as tmp:
            ref = reference(args.url, pool, args.events, args.batch, Path(tmp))
        print(f"reference  helpers.bulk, same docs:  {ref:10,.0f} events/s")
        drop(args.url, "benchref")
        with tempfile.TemporaryDirectory(prefix="bench-os-") as tmp:
            parallel = reference(args.url, pool, args.events, args.batch, Path(tmp), threads=args.senders)
        print(f"           parallel_bulk, {args.senders} threads: {parallel:10,.0f} events/s")
        drop(args.url, "benchref")
        with tempfile.TemporaryDirectory(prefix="bench-os-") as tmp:
            os.environ["PLATLOGS_STORE"] = f"{args.url.replace('http://', 'opensearch://')}?prefix=benchhttp"
            server = Server(Path(tmp), args.port)
            try:
                rate, rejected = http_run(server, bodies, args.batch, args.events, args.senders)
            finally:
                server.stop()
        print(f"http       NDJSON bulk via platlogs: {rate:10,.0f} events/s  (rejected {rejected})")
        print(f"ratio      http / reference:         {rate / ref:10.2f}   (http / parallel_bulk {rate / parallel:.2f})")
    finally:
        drop(args.url, "benchref")
        drop(args.url, "benchhttp")


if __name__ == "__main__":
    main()
