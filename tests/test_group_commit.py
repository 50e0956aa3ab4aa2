"""Group commit on the embedded store (app/storage/group_commit.py): batches written at the same
time by threads of one process share a commit, and each still gets its own result."""
from __future__ import annotations

import threading
import time

import pytest

from app.query import parse
from app.storage import SearchRequest, StoreError, open_store
from tests.test_tantivy_store import DAY0, event


@pytest.fixture
def store(tmp_path):
    s = open_store(f"tantivy://{tmp_path}/store?writer_heap_mb=16&day_partition_days=36500")
    yield s
    s.close()


def total(store, query: str = "*") -> int:
    return store.search(SearchRequest(query=parse(query), size=0)).total


def queue_length(store) -> int:
    return len(store._writes._queue)


def write_while_held(store, batches: list[list[dict]]) -> list:
    """Start one writer thread per batch while this thread holds the store's write lock, wait
    until every batch is queued, then let them go: what a busy server does to concurrent requests."""
    results: list = [None] * len(batches)

    def write(k: int) -> None:
        try:
            results[k] = store.write(batches[k])
        except StoreError as exc:
            results[k] = exc

    threads = [threading.Thread(target=write, args=(k,)) for k in range(len(batches))]
    with store._lock:
        for t in threads:
            t.start()
        deadline = time.monotonic() + 120
        while queue_length(store) < len(batches):
            assert time.monotonic() < deadline, "the writers never queued"
            time.sleep(0.005)
    for t in threads:
        t.join(300)
    return results


def test_concurrent_batches_share_one_commit_and_keep_their_own_results(store):
    batches = [[event(DAY0 + k * 100 + i, f"b{k}-{i}", client_id=True) for i in range(20)] for k in range(5)]
    batches[3][5] = event(DAY0 + 7, "b1-4", client_id=True)           # the id of another batch's event
    batches[4].append(event(-5, "too-early"))                          # refused by this store, in batch 4 only
    commits, groups = store.commits, store._writes.groups
    results = write_while_held(store, batches)
    assert store._writes.groups - groups == 1
    assert store.commits - commits == 1                                # one partition, one commit for all five
    assert [r.stored for r in results] == [20, 20, 20, 19, 20]
    assert results[3].duplicates == [5] and not any(r.duplicates for k, r in enumerate(results) if k != 3)
    assert results[4].refused and results[4].refused[0][0] == 20
    assert not any(r.refused for r in results[:4]) and not any(r.failed for r in results)
    assert total(store) == 99
    assert total(store, 'event.id:"b1-4"') == 1


def test_every_batch_of_a_failed_group_gets_the_error(store):
    batches = [[event(DAY0 + k * 10 + i, f"f{k}-{i}") for i in range(5)] for k in range(3)]
    store._closed = True      # the write of the group fails as a closed store does
    try:
        results = write_while_held(store, batches)
    finally:
        store._closed = False
    assert all(isinstance(r, StoreError) for r in results), results
    assert queue_length(store) == 0
    assert store.write([event(DAY0, "after")]).stored == 1      # the queue is not left stuck


def test_many_threads_writing_small_batches_store_each_event_once(store):
    def writer(name: str) -> None:
        for b in range(15):
            result = store.write([event(DAY0 + b * 50 + i, f"{name}-{b}-{i}", client_id=True) for i in range(25)])
            assert result.stored == 25 and not result.duplicates and not result.failed

    threads = [threading.Thread(target=writer, args=(f"t{k}",)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    assert total(store) == 8 * 15 * 25
    assert store.commits <= 8 * 15
    again = store.write([event(DAY0, "t3-7-2", client_id=True)])
    assert again.stored == 0 and again.duplicates == [0]
