"""What only the tantivy store has: a writer shard per process, documents compressed with a
trained dictionary, month partitions, its layout marker. (The contract suite — test_store,
test_search, … — runs on it as on every backend.)"""
from __future__ import annotations

import subprocess
import sys
import textwrap

import orjson
import pytest

from app.events.convert import format_ts
from app.query import parse
from app.storage import SearchRequest, StoreError, open_store
from app.storage.tantivy_docs import TRAIN_AFTER

DAY0 = 1_794_960_000_000  # 2026-11-18T00:00:00Z
DAY_MS = 86_400_000


def event(ts_ms: int, eid: str, client_id: bool = False, **fields) -> dict:
    out = {"@timestamp": format_ts(ts_ms), "event": {"id": eid, "component": "system", "type": "other"},
           "_ts": ts_ms, **fields}
    if client_id:
        out["_client_id"] = True
    return out


@pytest.fixture
def url(tmp_path):
    return f"tantivy://{tmp_path}/store?writer_heap_mb=16&writer_threads=1&day_partition_days=36500"


WRITER = textwrap.dedent("""
    import sys
    sys.path.insert(0, {root!r})
    from app.storage import open_store
    from app.events.convert import format_ts
    store = open_store({url!r})
    name, start = sys.argv[1], int(sys.argv[2])
    for batch in range(10):
        events = [{{"@timestamp": format_ts(start + batch * 1000 + i), "_ts": start + batch * 1000 + i,
                   "event": {{"id": f"{{name}}-{{batch}}-{{i}}", "component": "system", "type": "other"}},
                   "message": f"from {{name}}"}} for i in range(200)]
        result = store.write(events)
        assert result.stored == 200 and not result.failed, result
    print(store._shard)
    store.close()
""")


def test_processes_write_at_once_each_to_a_shard_of_its_own(url, tmp_path):
    from pathlib import Path
    root = str(Path(__file__).resolve().parent.parent)
    script = tmp_path / "writer.py"
    script.write_text(WRITER.format(root=root, url=url))
    writers = [subprocess.Popen([sys.executable, str(script), name, str(DAY0)], stdout=subprocess.PIPE, text=True)
               for name in ("a", "b", "c")]
    shards = [w.communicate(timeout=120)[0].strip() for w in writers]
    assert [w.returncode for w in writers] == [0, 0, 0]
    store = open_store(url)
    try:
        assert store.count() == 6000
        # the same milliseconds from three processes: every event kept, ordered by time, no seq shared
        hits, cursor = [], None
        while True:
            page = store.search(SearchRequest(size=700, cursor=cursor, newest_first=False, total_bound=0))
            hits += page.hits
            cursor = page.next_cursor
            if cursor is None:
                break
        assert len(hits) == 6000 and len({h["event"]["id"] for h in hits}) == 6000
        assert [h["@timestamp"] for h in hits] == sorted(h["@timestamp"] for h in hits)
        assert store.search(SearchRequest(query=parse("from AND b"))).total == 2000
    finally:
        store.close()
    assert len(set(shards)) >= 2   # (a process that finished first frees its shard for the next)


def test_client_ids_are_checked_across_processes(url):
    first, second = open_store(url), open_store(url)
    try:
        assert first.write([event(DAY0, "same", True)]).stored == 1
        again = second.write([event(DAY0, "same", True), event(DAY0, "SAME", True)])
        assert again.stored == 1 and again.duplicates == [0]    # ids are exact: another case is another id
        assert first._shard != second._shard
    finally:
        first.close()
        second.close()


def test_documents_are_compressed_with_a_dictionary_and_read_back_after_reopening(url, tmp_path):
    store = open_store(url)
    events = [event(DAY0 + i, f"z{i}", message=f"deposit {i} approved for player p-{i % 97:04d}",
                    payment={"amount": i / 4, "currency": "EUR"}) for i in range(TRAIN_AFTER + 500)]
    expected = {e["event"]["id"]: {k: v for k, v in e.items() if not k.startswith("_")} for e in events}
    for i in range(0, len(events), 500):
        assert store.write(events[i:i + 500]).stored == 500
    assert sorted(p.name for p in (tmp_path / "store" / "dictionaries").glob("*.zdict")) == ["1.zdict"]
    store.close()
    store = open_store(url)
    try:
        for eid in ("z0", f"z{TRAIN_AFTER - 1}", f"z{TRAIN_AFTER + 499}"):   # before and after the dictionary
            assert store.get(eid) == expected[eid]
        stored = [store.codec.decode(store.codec.encode(e)) for e in expected.values()][:3]
        assert stored == list(expected.values())[:3]
        assert store.codec.encode(expected["z1"])[0] == 1   # compressed with dictionary 1
        assert len(store.codec.encode(expected["z1"])) < len(orjson.dumps(expected["z1"])) / 2
    finally:
        store.close()


def test_partitions_are_months_and_old_events_go_to_a_free_year(tmp_path):
    store = open_store(f"tantivy://{tmp_path}/store?writer_heap_mb=16&writer_threads=1")   # default recent window
    try:
        import time
        now = int(time.time() * 1000)
        store.write([event(now - 1000, "now"), event(now - 3 * 365 * DAY_MS, "years-ago")])
        names = [p.name for p in store.partitions()]
        assert len(names) == 2 and len(names[0]) == 4 and len(names[1]) == 6   # YYYY, then YYYYMM
    finally:
        store.close()


def test_a_store_of_another_layout_is_refused(tmp_path, url):
    open_store(url).close()
    (tmp_path / "store" / "store.json").write_bytes(orjson.dumps({"layout": "tantivy-0"}))
    with pytest.raises(StoreError, match="migrate"):
        open_store(url)


def test_event_ids_are_found_in_any_case_and_ranges_on_them_are_refused(url):
    from app.query.ast import QueryError
    store = open_store(url)
    try:
        store.write([event(DAY0, "01ABCDEF"), event(DAY0 + 1, "other")])
        assert [h["event"]["id"] for h in store.search(SearchRequest(query=parse("event.id:01abcdef"))).hits] == ["01ABCDEF"]
        assert [h["event"]["id"] for h in store.search(SearchRequest(query=parse("01abcdef"))).hits] == ["01ABCDEF"]
        assert store.search(SearchRequest(query=parse("event.id:01ab*"))).total == 1
        with pytest.raises(QueryError, match="ranges"):
            store.search(SearchRequest(query=parse("event.id:[a TO z]")))
    finally:
        store.close()


def test_a_time_the_store_cannot_hold_is_refused_by_position_and_its_neighbours_kept(url):
    store = open_store(url)
    try:
        result = store.write([event(DAY0, "ok-1"), event(1 << 43, "far"), event(DAY0 + 1, "ok-2")])
        assert result.stored == 2 and [pos for pos, _ in result.refused] == [1]
        assert "2109" in result.refused[0][1] and store.get("far") is None and store.count() == 2
    finally:
        store.close()


def test_out_of_time_facets_say_how_much_they_counted_and_the_total_stays_exact(url):
    store = open_store(url)
    store.write([event(DAY0 + i * 60_000, f"e{i}", log={"level": "info"}) for i in range(30)])
    store.write([event(DAY0 + 40 * DAY_MS + i, f"f{i}", log={"level": "error"}) for i in range(5)])  # another month
    done = store.search(SearchRequest(facets=("log.level",), histogram_ms=DAY_MS))
    assert done.total == 35 and done.counted is None
    assert {v.value: v.count for v in done.facets["log.level"].values} == {"info": 30, "error": 5}
    late = store.search(SearchRequest(facets=("log.level",), histogram_ms=DAY_MS, budget_ms=0))
    assert late.total == 35 and late.total_exact          # the total is counted whatever the budget
    assert late.counted == 0 and late.facets["log.level"].timed_out and late.histogram_timed_out
    store.close()


def test_a_tantivy_1_store_is_read_but_not_written(url, tmp_path):
    """A store of the earlier layout opens (so `platlogs migrate` can copy it), and refuses writes
    with the command that migrates it."""
    store = open_store(url)
    store.write([event(DAY0, "old-1"), event(DAY0 + 1, "old-2")])
    store.close()
    marker = tmp_path / "store" / "store.json"
    marker.write_bytes(orjson.dumps({"layout": "tantivy-1"}))
    old = open_store(url)
    assert [h["event"]["id"] for h in old.search(SearchRequest(newest_first=False)).hits] == ["old-1", "old-2"]
    with pytest.raises(StoreError, match="platlogs migrate"):
        old.write([event(DAY0 + 2, "new")])
    old.close()


def test_indexes_keep_no_field_norms(url, tmp_path):
    """Hits are ordered by time, never scored, so the byte per document and text field that
    tantivy keeps for BM25 (its field norms) is not written; search finds the same."""
    store = open_store(url)
    try:
        events = [event(DAY0 + i, f"n{i}", message=f"login failed for player p-{i}") for i in range(300)]
        assert store.write(events).stored == 300
        metas = list((tmp_path / "store" / "parts").glob("*/s*/meta.json"))
        assert metas
        for meta in metas:
            for field in orjson.loads(meta.read_bytes())["schema"]:
                indexing = field["options"].get("indexing") or {}
                assert not field["options"].get("fieldnorms") and not indexing.get("fieldnorms"), field
        # a byte per event and normed field before (message, id, keys, all, f: 1,500 here); now a header
        assert all(p.stat().st_size < 300 for p in (tmp_path / "store" / "parts").glob("*/s*/*.fieldnorm"))
        found = store.search(SearchRequest(query=parse('"login failed" p-7'), start_ms=DAY0, end_ms=DAY0 + 1000))
        assert [h["event"]["id"] for h in found.hits] == ["n7"] and found.total == 1
    finally:
        store.close()


def test_a_partition_that_cannot_be_written_fails_each_event_by_its_position(url, tmp_path):
    store = open_store(url)
    assert store.write([event(DAY0, "first")]).stored == 1
    store.close()
    [shard] = (tmp_path / "store" / "parts").glob("*/s0")
    for path in shard.iterdir():
        path.unlink()
    shard.rmdir()
    shard.write_bytes(b"")  # a file where the shard's directory goes: the writer cannot open it
    store = open_store(url)
    try:
        result = store.write([event(DAY0 + 1, "a"), {"_ts": -1, "event": {"id": "b"}}, event(DAY0 + 2, "c")])
        assert result.stored == 0 and result.refused and [pos for pos, _ in result.failed] == [0, 2], result
        assert all(reason.startswith("storage error, nothing of this partition") for _, reason in result.failed)
    finally:
        store.close()
