"""The rollup tables' layout (app/storage/rollups_sqlite.py): keys interned in `rollup_keys`, and a
database of the first layout (values as text in every row, times in ms) migrated when opened —
by the embedded store's rollups.db and by the legacy sqlite store — with the same numbers as a
brute-force count, and writes after the migration adding to the migrated rows."""
from __future__ import annotations

import sqlite3
from datetime import UTC, datetime

import orjson
import pytest
from hypothesis import given, settings, strategies as st
from test_rollups import assert_equal_to_brute_force, demo, ingest, odd_events, write

from app.config import Settings
from app.rollups.model import COUNT_DIMENSIONS, MINUTE_MS, reduce
from app.services import build_normalizer
from app.storage import open_store, rollups_sqlite_sketches as sketches
from app.storage.rollups_sqlite_file import RollupFile

V1_SCHEMA = (
    "CREATE TABLE rollup_counts (width INTEGER NOT NULL, minute_ms INTEGER NOT NULL, key BLOB NOT NULL, "
    "component TEXT, type TEXT, level TEXT, outcome TEXT, service TEXT, n INTEGER NOT NULL, "
    "PRIMARY KEY (width, minute_ms, key)) WITHOUT ROWID;"
    "CREATE TABLE rollup_providers (width INTEGER NOT NULL, minute_ms INTEGER NOT NULL, key BLOB NOT NULL, "
    "provider TEXT NOT NULL, kind TEXT, status TEXT, calls INTEGER NOT NULL, failures INTEGER NOT NULL, "
    "timeouts INTEGER NOT NULL, PRIMARY KEY (width, minute_ms, key)) WITHOUT ROWID;"
    "CREATE TABLE rollup_latency (width INTEGER NOT NULL, minute_ms INTEGER NOT NULL, key BLOB NOT NULL, "
    "provider TEXT NOT NULL, kind TEXT, bucket INTEGER NOT NULL, n INTEGER NOT NULL, "
    "PRIMARY KEY (width, minute_ms, key, bucket)) WITHOUT ROWID;"
    "CREATE TABLE rollup_docs (part TEXT NOT NULL, shard TEXT NOT NULL, events INTEGER NOT NULL, "
    "PRIMARY KEY (part, shard));"
)
WIDTHS = (MINUTE_MS, 3_600_000, 86_400_000)


@pytest.fixture(scope="module")
def normalizer(tmp_path_factory):
    return build_normalizer(Settings.from_env({"PLATLOGS_DATA_DIR": str(tmp_path_factory.mktemp("n"))}))


def write_v1(conn: sqlite3.Connection, events: list[dict]) -> None:
    """The sums of `events` in the first layout, as its code wrote them (every width)."""
    sums = reduce(events)
    for width in WIDTHS:
        rows: dict = {}
        for (minute, *values), n in sums.counts.items():
            key = (minute - minute % width, tuple(values[:5]))   # the first layout's five dimensions
            rows[key] = rows.get(key, 0) + n
        conn.executemany("INSERT INTO rollup_counts VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                         [(width, m, orjson.dumps(list(v)), *v, n) for (m, v), n in rows.items()])
        calls: dict = {}
        for (minute, *values), numbers in sums.providers.items():
            had = calls.setdefault((minute - minute % width, tuple(values)), [0, 0, 0])
            for i, x in enumerate(numbers):
                had[i] += x
        conn.executemany("INSERT INTO rollup_providers VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                         [(width, m, orjson.dumps(list(v)), *v, *x) for (m, v), x in calls.items()])
        latency: dict = {}
        for (minute, provider, kind, bucket), n in sums.latency.items():
            key = (minute - minute % width, (provider, kind), bucket)
            latency[key] = latency.get(key, 0) + n
        conn.executemany("INSERT INTO rollup_latency VALUES (?, ?, ?, ?, ?, ?, ?)",
                         [(width, m, orjson.dumps(list(v)), *v, b, n) for (m, v, b), n in latency.items()])


def events_of(normalizer) -> list[dict]:
    return demo(normalizer, 900, datetime(2026, 11, 19, tzinfo=UTC), seed=11, days=2) + odd_events(normalizer)


def tables(path) -> set[str]:
    with sqlite3.connect(path) as conn:
        return {name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def test_keys_are_stored_once_and_rows_hold_small_integers(tmp_path, normalizer):
    rollups = RollupFile(tmp_path / "rollups.db")
    events = events_of(normalizer)
    rollups.add(reduce(events))
    conn = rollups._thread_reader()
    keys = conn.execute("SELECT count(*), count(DISTINCT key) FROM rollup_keys").fetchone()
    assert keys[0] == keys[1] > 0
    for table in ("counts_by_key", "calls_by_key", "latency_sketches", "value_sketches"):
        types = {t for (t,) in conn.execute(f"SELECT DISTINCT typeof(w) || typeof(m) || typeof(k) FROM {table}")}
        assert types == {"integerintegerinteger"}
        assert conn.execute(f"SELECT DISTINCT w FROM {table} ORDER BY w").fetchall() == [(1,), (60,), (1440,)]
    for table in ("latency_sketches", "value_sketches"):   # one row a key and a minute (hour, day)
        assert conn.execute(f"SELECT DISTINCT typeof(s) FROM {table}").fetchall() == [("blob",)]
    rollups.close()


def test_a_rollups_db_of_the_first_layout_is_migrated_when_opened(tmp_path, normalizer):
    path = tmp_path / "rollups.db"
    events = events_of(normalizer)
    with sqlite3.connect(path) as conn:
        conn.executescript(V1_SCHEMA)
        write_v1(conn, events[:500])
        conn.execute("INSERT INTO rollup_docs VALUES ('202611', 's0', 500)")
    rollups = RollupFile(path)
    try:
        assert not tables(path) & {"rollup_counts", "rollup_providers", "rollup_latency"}
        assert rollups.counted() == {("202611", "s0"): 500}
        # its counts were kept by five dimensions: the integration call's three wait for a rebuild
        assert rollups.dimensions() == COUNT_DIMENSIONS[:5]

        class Store:   # what assert_equal_to_brute_force reads
            pass
        store = Store()
        store.rollups = rollups
        assert_equal_to_brute_force(store, events[:500], dimensions=COUNT_DIMENSIONS[:5])
        rollups.add(reduce(events[500:]))              # writes after the migration add to its rows
        assert_equal_to_brute_force(store, events, dimensions=COUNT_DIMENSIONS[:5])
    finally:
        rollups.close()
    again = RollupFile(path)                           # opened again: nothing left to migrate
    store.rollups = again
    assert_equal_to_brute_force(store, events, dimensions=COUNT_DIMENSIONS[:5])
    assert again.dimensions() == COUNT_DIMENSIONS[:5]
    again.set_counted({("202611", "s0"): len(events)})   # what a rebuild of every stored minute ends with
    assert again.dimensions() == COUNT_DIMENSIONS
    again.close()


def test_a_new_rollups_db_counts_by_every_dimension(tmp_path, normalizer):
    rollups = RollupFile(tmp_path / "rollups.db")
    assert rollups.dimensions() == COUNT_DIMENSIONS
    rollups.close()


def test_the_legacy_sqlite_store_migrates_its_rollup_tables(tmp_path, normalizer):
    url = f"sqlite://{tmp_path}/events?day_partition_days=36500"
    s = open_store(url)
    stored = ingest(s, normalizer)
    s.close()
    db = next((tmp_path / "events").glob("*.db"))
    with sqlite3.connect(db) as conn:   # its rollups back to the first layout
        conn.executescript("DROP TABLE counts_by_key; DROP TABLE calls_by_key; DROP TABLE latency_sketches; "
                           "DROP TABLE value_sketches; "
                           "DROP TABLE rollup_keys;" + V1_SCHEMA.split("CREATE TABLE rollup_docs")[0])
        write_v1(conn, stored)
    s = open_store(url)
    try:
        assert "rollup_counts" not in tables(db)
        assert_equal_to_brute_force(s, stored, dimensions=COUNT_DIMENSIONS[:5])
        more = demo(normalizer, 200, datetime(2026, 11, 19, 6, tzinfo=UTC), seed=12)
        stored += write(s, more)
        assert_equal_to_brute_force(s, stored, dimensions=COUNT_DIMENSIONS[:5])
    finally:
        s.close()


def test_counts_kept_before_a_dimension_was_added_read_it_as_missing(tmp_path):
    """A rollups.db whose counts keys have eight values (before the HTTP status code): read with
    None for it, and searches ask it about the eight it knows until a rebuild."""
    path = tmp_path / "rollups.db"
    rollups = RollupFile(path)
    conn = rollups._writer
    conn.execute("INSERT INTO rollup_keys (family, key) VALUES (0, ?)",
                 (orjson.dumps(["api", "request", "info", None, "gateway", None, None, None]),))
    conn.execute("INSERT INTO counts_by_key VALUES (1, 100, last_insert_rowid(), 7)")
    conn.execute("UPDATE rollup_meta SET value = 8 WHERE name = 'count_dimensions'")
    rollups.close()
    again = RollupFile(path)
    assert again.dimensions() == COUNT_DIMENSIONS[:8]
    rows = again.counts(0, 200 * MINUTE_MS, MINUTE_MS, ("event.component", "http.response.status_code"))
    assert [(r.start_ms, r.values, r.count) for r in rows] == [(100 * MINUTE_MS, ("api", None), 7)]
    again.close()


def back_to_bucket_rows(path) -> dict[str, list]:
    """The sketch tables of a rollups.db turned into the second layout (a row a bucket, as the
    code before the packed sketches wrote them); their rows before, by table."""
    before = {}
    with sqlite3.connect(path) as conn:
        for old, new in (("latency_by_key", "latency_sketches"), ("values_by_key", "value_sketches")):
            before[new] = conn.execute(f"SELECT * FROM {new} ORDER BY w, m, k").fetchall()
            conn.execute(f"CREATE TABLE {old} (w INTEGER NOT NULL, m INTEGER NOT NULL, k INTEGER NOT NULL, "
                         "b INTEGER NOT NULL, n INTEGER NOT NULL, PRIMARY KEY (w, m, k, b)) WITHOUT ROWID")
            conn.executemany(f"INSERT INTO {old} VALUES (?, ?, ?, ?, ?)",
                             [(w, m, k, b, n) for w, m, k, s in before[new] for b, n in sketches.unpack(s)])
            conn.execute(f"DROP TABLE {new}")
    return before


def test_a_rollups_db_of_bucket_rows_is_packed_when_opened(tmp_path, normalizer):
    path = tmp_path / "rollups.db"
    events = events_of(normalizer)
    rollups = RollupFile(path)
    rollups.add(reduce(events[:600]))
    rollups.close()
    before = back_to_bucket_rows(path)
    assert sum(len(rows) for rows in before.values()) > 100
    again = RollupFile(path)
    try:
        assert not tables(path) & {"latency_by_key", "values_by_key"}
        with sqlite3.connect(path) as conn:     # the same rows, byte for byte, as the packed writer made
            for table, rows in before.items():
                assert conn.execute(f"SELECT * FROM {table} ORDER BY w, m, k").fetchall() == rows

        class Store:
            pass
        store = Store()
        store.rollups = again
        again.add(reduce(events[600:]))           # writes after the migration merge into its rows
        assert_equal_to_brute_force(store, events)
    finally:
        again.close()


@given(st.lists(st.dictionaries(st.integers(-2**31, 2**31 - 1), st.integers(1, 2**63 - 1), max_size=40),
                min_size=1, max_size=4))
@settings(max_examples=200, deadline=None)
def test_packed_sketches_round_trip_and_merge_by_adding(parts):
    for part in parts:
        assert dict(sketches.unpack(sketches.pack(part))) == part
        assert [b for b, _ in sketches.unpack(sketches.pack(part))] == sorted(part)
    total: dict = {}
    for part in parts:
        for b, n in part.items():
            total[b] = total.get(b, 0) + n
    if all(n < 2**64 for n in total.values()):
        merged = sketches.pack(parts[0])
        for part in parts[1:]:
            merged = sketches.merge(merged, sketches.pack(part))
        assert dict(sketches.unpack(merged)) == total
        assert sketches.sum_blobs([sketches.pack(part) for part in parts]) == total


@given(st.lists(st.dictionaries(st.integers(-2**31, 2**31 - 1), st.integers(1, 2**40), max_size=60),
                min_size=0, max_size=40))
@settings(max_examples=200, deadline=None)
def test_many_blobs_sum_as_adding_each(parts):
    """sum_blobs (numpy, for the reads of many rows) equals adding the blobs one by one."""
    blobs = [sketches.pack(part) for part in parts]
    one_by_one: dict = {}
    for blob in blobs:
        sketches.add_into(one_by_one, blob)
    assert sketches.sum_blobs(blobs) == one_by_one
    assert all(type(b) is int and type(n) is int for b, n in sketches.sum_blobs(blobs).items())


def test_values_refuse_a_field_or_qualifier_the_sketches_do_not_keep(tmp_path):
    rollups = RollupFile(tmp_path / "rollups.db")
    try:
        with pytest.raises(ValueError, match="not sketched"):
            rollups.values(0, MINUTE_MS, "payment.fee")
        with pytest.raises(ValueError, match=r"cannot narrow by payment\.method"):
            rollups.values(0, MINUTE_MS, "payment.amount", {"payment.method": {"card"}})
        assert rollups.values(0, MINUTE_MS, "payment.amount", {"payment.status": {"declined"}}) == {}
    finally:
        rollups.close()
