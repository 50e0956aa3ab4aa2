"""The storage contract, on every backend (the `store` fixture is parametrised in conftest.py):
partitions, dedupe, lookups, full text, retention; then what only the embedded store has."""
from __future__ import annotations

import pytest

from app.query import parse
from app.storage import SearchRequest, open_store
from app.events.convert import format_ts
from app.storage.sqlite import DAY_MS

DAY0 = 1_794_960_000_000  # 2026-11-18T00:00:00Z, a day boundary


def event(ts_ms: int, eid: str, client_id: bool = False, **fields) -> dict:
    base = {"@timestamp": format_ts(ts_ms), "event": {"id": eid, "component": "system", "type": "other"}, "_ts": ts_ms}
    if client_id:
        base["_client_id"] = True
    for key, value in fields.items():
        node = base
        *parents, last = key.split("__")
        for p in parents:
            node = node.setdefault(p, {})
        node[last] = value
    return base


@pytest.fixture
def sqlite_store(tmp_path):
    s = open_store(f"sqlite://{tmp_path}/events")
    yield s
    s.close()


def days(store) -> list[int]:
    """The UTC days (as offsets from DAY0) the store holds partitions for."""
    return sorted({(p.start_ms - DAY0) // DAY_MS for p in store.partitions()})


def test_unknown_scheme_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown store URL scheme 'mongo'"):
        open_store("mongo://x")


def test_a_batch_across_days_lands_in_day_partitions(store):
    """Days 35 apart: a partition each, whether the store's recent unit is the day (SQLite,
    OpenSearch) or the month (tantivy)."""
    stamps = [DAY0 + 5, DAY0 + 35 * DAY_MS + 5, DAY0 + 70 * DAY_MS]
    result = store.write([event(ts, name) for ts, name in zip(stamps, "abc")])
    assert result.stored == 3 and not result.failed
    parts = store.partitions()
    assert [p.events for p in parts] == [1, 1, 1]
    assert [[p.name for p in parts if p.start_ms <= ts < p.end_ms] for ts in stamps] == [[p.name] for p in parts]
    assert store.count() == 3


def test_writes_survive_reopening(store_url):
    s = open_store(store_url)
    s.write([event(DAY0, "keep-me", message="persisted")])
    s.close()
    s2 = open_store(store_url)
    assert s2.get("keep-me")["message"] == "persisted"
    s2.close()


def test_client_ids_are_idempotent_across_batches_and_within_one(store):
    first = store.write([event(DAY0, "dup-1", True), event(DAY0, "dup-2", True)])
    again = store.write([event(DAY0, "dup-1", True), event(DAY0, "new", True), event(DAY0, "new", True)])
    assert first.stored == 2
    assert again.stored == 1 and again.duplicates == [0, 2]
    assert store.count() == 3


def test_private_keys_are_not_stored(store):
    store.write([event(DAY0, "p", True)])
    assert store.get("p") == {"@timestamp": format_ts(DAY0), "event": {"id": "p", "component": "system", "type": "other"}}


def test_filters_on_columns_and_on_any_field(store):
    store.write([
        event(DAY0 + 1, "e1", actor__id="p-1", payment__currency="EUR"),
        event(DAY0 + 2, "e2", actor__id="p-2", payment__currency="USD"),
        event(DAY0 + DAY_MS, "e3", actor__id="p-1", payment__currency="USD"),
    ])
    by_actor = store.search(SearchRequest(query=parse("actor.id:p-1")))
    assert [h["event"]["id"] for h in by_actor.hits] == ["e3", "e1"] and by_actor.total == 2
    by_json = store.search(SearchRequest(query=parse("payment.currency:USD"), newest_first=False))
    assert [h["event"]["id"] for h in by_json.hits] == ["e2", "e3"]


def test_time_window_is_half_open(store):
    store.write([event(DAY0 + i * 1000, f"t{i}") for i in range(5)])
    hits = store.search(SearchRequest(start_ms=DAY0 + 1000, end_ms=DAY0 + 3000, newest_first=False)).hits
    assert [h["event"]["id"] for h in hits] == ["t1", "t2"]


def test_full_text_matches_message_and_error_words(store):
    store.write([
        event(DAY0, "m1", message="Withdrawal approved by supervisor"),
        event(DAY0 + 1, "m2", error={"message": "Provider timeout after 30s"}),
        event(DAY0 + 2, "m3", message="Deposit declined"),
    ])
    assert [h["event"]["id"] for h in store.search(SearchRequest(query=parse("timeout"))).hits] == ["m2"]
    assert [h["event"]["id"] for h in store.search(SearchRequest(query=parse("withdrawal APPROVED"))).hits] == ["m1"]
    assert store.search(SearchRequest(query=parse('"OR NEAR(*"'))).hits == []  # FTS syntax is escaped


def test_total_is_exact_up_to_a_bound(store):
    store.write([event(DAY0 + i, f"n{i}") for i in range(25)])
    result = store.search(SearchRequest(size=5, total_bound=10))
    assert len(result.hits) == 5 and result.total == 10 and result.total_exact is False
    small = store.search(SearchRequest(size=5, end_ms=DAY0 + 8, total_bound=10))
    assert small.total == 8 and small.total_exact


def test_retention_drops_whole_partitions(store):
    store.write([event(DAY0 + d * 35 * DAY_MS, f"d{d}") for d in range(4)])
    parts = store.partitions()
    assert len(parts) == 4
    dropped = store.drop_partitions_before(parts[2].start_ms)
    assert sorted(dropped) == [parts[0].name, parts[1].name]
    assert [p.name for p in store.partitions()] == [parts[2].name, parts[3].name]
    assert store.get("d0") is None and store.get("d1") is None and store.get("d3") is not None
    store.write([event(DAY0, "back")])  # a dropped partition can be written again
    assert store.get("back") is not None


def test_rows_are_kept_in_time_order_whatever_the_arrival_order(store):
    import random
    rng = random.Random(4)
    stamps = [DAY0 + rng.randrange(0, DAY_MS) for _ in range(3000)]
    for i in range(0, 3000, 250):  # out-of-order batches, as a backfill sends them
        store.write([event(ts, f"o{i + n}") for n, ts in enumerate(stamps[i:i + 250])])
    hits = store.search(SearchRequest(size=1000, newest_first=False, total_bound=0)).hits
    assert [stamps[int(h["event"]["id"][1:])] for h in hits] == sorted(stamps)[:1000]


def test_more_events_in_one_millisecond_than_sequence_numbers(store):
    batch = [event(DAY0 + 500, f"burst-{i}") for i in range(1500)] + [event(DAY0 + 501, "next-ms")]
    assert store.write(batch).stored == 1501
    assert store.write([event(DAY0 + 500, "late-in-burst")]).stored == 1
    hits = store.search(SearchRequest(size=2000, newest_first=False, total_bound=0)).hits
    assert len({h["event"]["id"] for h in hits}) == 1502


def test_a_backfill_into_a_full_day_asks_per_millisecond(sqlite_store):
    """Within one millisecond the embedded store keeps arrival order (its rowid allotment)."""
    store = sqlite_store
    store.write([event(DAY0 + i * 3, f"dense-{i}") for i in range(25_000)])
    store.write([event(DAY0 + i * 3, f"again-{i}") for i in range(0, 25_000, 7)])
    assert store.count() == 25_000 + len(range(0, 25_000, 7))
    ids = [h["event"]["id"] for h in store.search(SearchRequest(size=10, newest_first=False, total_bound=0)).hits]
    assert ids[:3] == ["dense-0", "again-0", "dense-1"]


def test_a_store_of_another_layout_is_refused(tmp_path):
    import sqlite3
    from app.storage import StoreError
    (tmp_path / "old").mkdir()
    conn = sqlite3.connect(tmp_path / "old" / "events.db")
    conn.execute("CREATE TABLE ev_20260101 (rowid INTEGER PRIMARY KEY)")
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match="has store layout 0, this version reads layout 3"):
        open_store(f"sqlite://{tmp_path}/old")


def test_retention_drops_the_minute_counts_too(sqlite_store):
    store = sqlite_store
    store.write([event(DAY0 + d * DAY_MS + 90_000, f"m{d}") for d in range(3)])
    store.drop_partitions_before(DAY0 + DAY_MS)
    minutes = store._reader().execute("SELECT minute_ms FROM minutes ORDER BY 1").fetchall()
    assert [m for (m,) in minutes] == [DAY0 + DAY_MS + 60_000, DAY0 + 2 * DAY_MS + 60_000]


# -- partitions stay bounded whatever the event times (app/storage/partitioning.py) ----------

Y1990 = 631_152_000_000  # 1990-01-01T00:00:00Z


def test_a_backfill_over_many_days_opens_few_partitions_that_never_overlap(store_url):
    """5,000 events one per day since 1990 in one batch: one partition per year (on OpenSearch:
    per component and year), not one per day; a re-send is recognised; paging walks them all."""
    s = open_store(store_url.replace("day_partition_days=36500", "day_partition_days=31"))
    try:
        batch = [event(Y1990 + i * DAY_MS + 1000, f"old-{i}", True, message=f"backfill w{i % 7}") for i in range(5000)]
        batch.append(event(DAY0 + 5, "recent", True, message="backfill now"))
        assert s.write(batch).stored == 5001
        parts = s.partitions()
        assert 14 <= len(parts) <= 16, [p.name for p in parts]
        spans = sorted((p.start_ms, p.end_ms) for p in parts)
        assert all(e1 <= s2 for (_, e1), (s2, _) in zip(spans, spans[1:]))
        assert sum(p.events for p in parts) == s.count() == 5001
        again = s.write([event(Y1990 + i * DAY_MS + 1000, f"old-{i}", True) for i in range(0, 5000, 97)])
        assert again.stored == 0 and len(again.duplicates) == len(range(0, 5000, 97))
        assert len(s.partitions()) == len(parts)
        found = s.search(SearchRequest(query=parse("w3"), size=500, total_bound=100_000))
        assert found.total == len([i for i in range(5000) if i % 7 == 3])
        seen, cursor = [], None
        while True:
            page = s.search(SearchRequest(query=parse("backfill"), size=700, cursor=cursor, total_bound=0))
            seen += [h["event"]["id"] for h in page.hits]
            cursor = page.next_cursor
            if not cursor:
                break
        assert seen == ["recent"] + [f"old-{i}" for i in reversed(range(5000))]
        assert s.drop_partitions_before(Y1990 + 400 * DAY_MS) == [parts[0].name]   # 1990 only
    finally:
        s.close()


def test_a_very_long_word_is_stored_and_its_neighbours_searchable(store):
    """A 60,000-character word (past OpenSearch's 32,766-byte term limit) must not refuse the event."""
    word = "w" * 60_000
    result = store.write([event(DAY0, "long-1", message=f"findme {word} end"),
                          event(DAY0 + 1, "long-2", message="é" * 20_000)])
    assert result.stored == 2, (result.refused, result.failed)
    found = store.search(SearchRequest(query=parse("findme")))
    assert [h["event"]["id"] for h in found.hits] == ["long-1"]


def test_a_very_long_url_path_is_stored(store):
    api = event(DAY0, "long-path", message="long path")
    api["event"]["component"] = "api"
    api["url"] = {"path": "/a" * 30_000}
    call = event(DAY0, "long-endpoint", message="long endpoint")
    call["event"]["component"] = "integration"
    call["integration"] = {"endpoint": "/b" * 30_000}
    result = store.write([api, call])
    assert result.stored == 2, (result.refused, result.failed)
