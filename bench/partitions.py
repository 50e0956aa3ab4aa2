"""Issue 11, defect 6: one batch of events spread over many days, against a reference in the same run.

    .venv/bin/python bench/partitions.py                                   # embedded store
    .venv/bin/python bench/partitions.py --opensearch http://127.0.0.1:9270

Per store (a fresh directory, or a fresh index prefix deleted afterwards):
  base       20,000 recent events (the last two days), words in their messages;
  reference  5,000 events on one recent day, written as the Ingestor writes (batches of 2,000);
  spread     5,000 events one per day since 1990-01-01, the same way;
while a second store instance (another client: its own connection) writes one event every 50 ms.
Reported as ratios to the reference / to the idle figure: the spread batch's time, the other
client's worst single-event latency during it, and a word search's latency after it; and the
partitions each opened. The embedded store also runs the old layout (a partition per day:
day_partition_days=36500) for comparison; OpenSearch does not (5,000 indices would swamp a node).
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.events.convert import format_ts  # noqa: E402
from app.query import parse  # noqa: E402
from app.storage import SearchRequest, open_store  # noqa: E402

DAY = 86_400_000
Y1990 = 631_152_000_000
WORDS = ["deposit", "withdrawal", "login", "spin", "bonus", "refund", "timeout", "jackpot"]


def event(ts: int, eid: str, i: int) -> dict:
    return {"@timestamp": format_ts(ts), "_ts": ts, "_client_id": True,
            "event": {"id": eid, "component": "user_activity", "type": "other"},
            "message": f"player {i % 997} {WORDS[i % len(WORDS)]} w{i % 101} round {i}"}


def write(store, events: list[dict], batch: int = 2000) -> None:
    for i in range(0, len(events), batch):
        result = store.write(events[i:i + batch])
        assert not result.failed and not result.refused, (result.failed[:2], result.refused[:2])


def search_ms(store, runs: int = 15) -> float:
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        store.search(SearchRequest(query=parse("jackpot"), size=50, total_bound=10_000))
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


class Probe(threading.Thread):
    """Another client writing one event every 50 ms through its own store instance."""

    def __init__(self, url: str, tag: str):
        super().__init__(daemon=True)
        self.store = open_store(url)
        self.tag = tag
        self.latencies: list[float] = []
        self.stop = threading.Event()

    def run(self) -> None:
        i = 0
        while not self.stop.is_set():
            now = int(time.time() * 1000)
            t = time.perf_counter()
            self.store.write([event(now, f"probe-{self.tag}-{i}", i)])
            self.latencies.append((time.perf_counter() - t) * 1000)
            i += 1
            self.stop.wait(0.05)

    def finish(self) -> list[float]:
        self.stop.set()
        self.join()
        self.store.close()
        return self.latencies


def scenario(url: str, label: str) -> dict:
    store = open_store(url)
    now = int(time.time() * 1000)
    today = now // DAY * DAY
    write(store, [event(now - 2 * DAY + i * 8000, f"base-{i}", i) for i in range(20_000)])
    before_parts = len(store.partitions())
    search_before = search_ms(store)

    idle = Probe(url, "idle")
    idle.start()
    time.sleep(1.5)
    idle_ms = statistics.median(idle.finish())

    reference = [event(today - DAY + 1000 + i * 10, f"ref-{i}", i) for i in range(5000)]
    t = time.perf_counter()
    write(store, reference)
    reference_s = time.perf_counter() - t

    probe = Probe(url, "busy")
    probe.start()
    time.sleep(0.3)
    spread = [event(Y1990 + i * DAY + 3_600_000, f"old-{i}", i) for i in range(5000)]
    t = time.perf_counter()
    write(store, spread)
    spread_s = time.perf_counter() - t
    time.sleep(0.3)
    busy = probe.finish()
    opened = len(store.partitions()) - before_parts
    search_after = search_ms(store)
    store.close()
    row = {"store": label, "spread_s": spread_s, "reference_s": reference_s, "partitions": opened,
           "probe_idle_ms": idle_ms, "probe_worst_ms": max(busy), "search_before_ms": search_before,
           "search_after_ms": search_after}
    print(f"{label:28s} spread {spread_s:6.2f} s = {spread_s / reference_s:5.1f}x reference ({reference_s:.2f} s); "
          f"{opened:5d} partitions opened; other client's worst write {max(busy):7.1f} ms = "
          f"{max(busy) / idle_ms:6.1f}x idle ({idle_ms:.1f} ms); word search {search_before:6.1f} -> "
          f"{search_after:6.1f} ms ({search_after / search_before:4.1f}x)", flush=True)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--opensearch", help="URL of an OpenSearch node (e.g. http://127.0.0.1:9270)")
    parser.add_argument("--skip-old", action="store_true", help="skip the old day-per-partition layout")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        scenario(f"sqlite://{tmp}/bounded?day_partition_days=31", "sqlite (bounded, 31 days)")
        if not args.skip_old:
            scenario(f"sqlite://{tmp}/perday?day_partition_days=36500", "sqlite (a partition per day)")
    if args.opensearch:
        from urllib.parse import urlsplit
        from opensearchpy import OpenSearch
        node = urlsplit(args.opensearch)
        prefix = "bench" + uuid.uuid4().hex[:8]
        try:
            scenario(f"opensearch://{node.hostname}:{node.port}?prefix={prefix}&day_partition_days=31",
                     "opensearch (bounded, 31 days)")
        finally:
            client = OpenSearch(args.opensearch, timeout=120)
            client.indices.delete(index=f"{prefix}-*", params={"ignore_unavailable": "true", "expand_wildcards": "all"})
            client.indices.delete_index_template(name=f"{prefix}-*", ignore=404)
            client.cluster.delete_component_template(name=f"{prefix}-*", ignore=404)
            client.close()


if __name__ == "__main__":
    main()
