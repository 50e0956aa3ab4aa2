"""The rollup tables in SQLite and their writes (rollups_sqlite.py has the layout and the reads):
the schema, the move of an earlier layout's rows into it when a database is opened, a batch's sums
added at every width (the ingest path: an upsert a key, a minute and a width) and the rebuild's
replacement of a range. Each runs inside the caller's transaction, on a connection `create_tables`
was given (it registers the sketch functions the writes call)."""

from __future__ import annotations

import logging
import sqlite3

from ..rollups.model import COUNT_DIMENSIONS, MINUTE_MS, WIDTHS, Sums
from .rollups_sqlite_keys import COUNTS, KEYS_SCHEMA, LATENCY, PROVIDERS, VALUES, Keys, has_v1, migrate_v1
from .rollups_sqlite_sketches import (
    MERGE,
    SCHEMA as SKETCH_SCHEMA,
    V2_LATENCY,
    group,
    has_v2,
    migrate_v2,
    pack,
    register,
)

SCHEMA = (
    KEYS_SCHEMA
    + SKETCH_SCHEMA
    + (
        "CREATE TABLE IF NOT EXISTS counts_by_key (w INTEGER NOT NULL, m INTEGER NOT NULL, k INTEGER NOT NULL, "
        "n INTEGER NOT NULL, PRIMARY KEY (w, m, k)) WITHOUT ROWID;"
        "CREATE TABLE IF NOT EXISTS calls_by_key (w INTEGER NOT NULL, m INTEGER NOT NULL, k INTEGER NOT NULL, "
        "calls INTEGER NOT NULL, failures INTEGER NOT NULL, timeouts INTEGER NOT NULL, PRIMARY KEY (w, m, k)) WITHOUT ROWID;"
        "CREATE TABLE IF NOT EXISTS rollup_meta (name TEXT PRIMARY KEY, value) WITHOUT ROWID;"
    )
)
# rollup_meta 'count_dimensions': how many of COUNT_DIMENSIONS every counts row is keyed by (rows
# migrated from the first layout know the first five only, until a rebuild of every stored minute)
SET_DIMENSIONS = "INSERT OR REPLACE INTO rollup_meta VALUES ('count_dimensions', ?)"
log = logging.getLogger(__name__)
# table: (the key family, the key's length in a Sums key, the numbers it adds, its primary key)
TABLES = {
    "counts_by_key": (COUNTS, len(COUNT_DIMENSIONS), ("n",), "w, m, k"),
    "calls_by_key": (PROVIDERS, 3, ("calls", "failures", "timeouts"), "w, m, k"),
}
# sketch table: (the key family, the key's length in a Sums key), rows packed (rollups_sqlite_sketches)
SKETCHES = {"latency_sketches": (LATENCY, 2), "value_sketches": (VALUES, 5)}


def create_tables(conn: sqlite3.Connection, keys: Keys | None = None) -> bool:
    """The tables, and the rows of an earlier layout moved into them when the database has one (in
    a transaction of its own unless the caller's is open); whether it had. Registers on `conn`
    the sketch functions that the writes call: the rollups are written through it."""
    register(conn)
    conn.executescript(SCHEMA)
    v1, v2 = has_v1(conn), has_v2(conn)
    if not v1 and not v2:
        conn.execute("INSERT OR IGNORE INTO rollup_meta VALUES ('count_dimensions', ?)", (len(COUNT_DIMENSIONS),))
        return False
    keys = keys or Keys()
    own = not conn.in_transaction
    if own:
        conn.execute("BEGIN IMMEDIATE")
    try:
        copied = 0
        if v1:  # the first layout goes through the second's bucket rows, then is packed with them
            conn.execute(V2_LATENCY)
            copied = migrate_v1(conn, keys)
            conn.execute(SET_DIMENSIONS, (5,))
        packed = migrate_v2(conn)
    except BaseException:
        keys.forget()
        if own:
            conn.execute("ROLLBACK")
        raise
    if own:
        conn.execute("COMMIT")
    log.info(
        "rollups: %d rows of the first layout moved to the keyed tables, %d bucket rows packed into sketch rows",
        copied,
        packed,
    )
    return True


def add_sums(conn: sqlite3.Connection, sums: Sums, widths: tuple[int, ...] = WIDTHS, keys: Keys | None = None) -> None:
    """Add `sums` to the tables at every width (inside the caller's transaction, on a connection
    `create_tables` was given; `keys`: the process's dictionary, which the caller forgets if the
    transaction rolls back)."""
    keys = keys or Keys()
    families: dict[str, dict] = {"counts_by_key": sums.counts, "calls_by_key": sums.providers}
    for table, items in families.items():
        if not items:
            continue
        family, key_len, numbers, primary = TABLES[table]
        single = len(numbers) == 1
        ids = keys.ids(conn, family, {k[1 : 1 + key_len] for k in items})
        sql = (
            f"INSERT INTO {table} VALUES ({', '.join('?' * (len(primary.split(',')) + len(numbers)))}) "
            f"ON CONFLICT ({primary}) DO UPDATE SET " + ", ".join(f"{n} = {n} + excluded.{n}" for n in numbers)
        )
        # (minute, key id) -> numbers
        rows = {(k[0] // MINUTE_MS, ids[k[1 : 1 + key_len]]): (v,) if single else tuple(v) for k, v in items.items()}
        for width in widths:
            w = width // MINUTE_MS
            if w != 1:
                coarse: dict = {}
                for (m, k), found in rows.items():
                    key = (m - m % w, k)
                    had = coarse.get(key)
                    coarse[key] = found if had is None else tuple(x + y for x, y in zip(had, found, strict=True))
                rows_at = coarse
            else:
                rows_at = rows
            conn.executemany(sql, [(w, *key, *found) for key, found in rows_at.items()])
    sketches = {"latency_sketches": sums.latency, "value_sketches": sums.values}
    for table, items in sketches.items():
        if not items:
            continue
        family, key_len = SKETCHES[table]
        ids = keys.ids(conn, family, {k[1 : 1 + key_len] for k in items})
        # (minute, key id) -> {bucket: n}
        minutes = group(((k[0] // MINUTE_MS, ids[k[1 : 1 + key_len]], k[-1]), n) for k, n in items.items())
        for width in widths:
            w = width // MINUTE_MS
            if w == 1:
                at = minutes
            else:
                at = {}
                for (m, k), buckets in minutes.items():
                    into = at.setdefault((m - m % w, k), {})
                    for b, n in buckets.items():
                        into[b] = into.get(b, 0) + n
            conn.executemany(
                f"INSERT INTO {table} VALUES (?, ?, ?, ?) {MERGE}",
                [(w, m, k, pack(buckets)) for (m, k), buckets in at.items()],
            )


def replace_range(conn: sqlite3.Connection, start_ms: int, end_ms: int, sums: Sums, keys: Keys | None = None) -> None:
    """The minutes of [start_ms, end_ms) become `sums`; the hours and days that overlap the range
    are recomputed from their minutes (inside the caller's transaction)."""
    start, end = -(-start_ms // MINUTE_MS), -(-end_ms // MINUTE_MS)
    for table in (*TABLES, *SKETCHES):
        conn.execute(f"DELETE FROM {table} WHERE w = 1 AND m >= ? AND m < ?", (start, end))
    add_sums(conn, sums, widths=(MINUTE_MS,), keys=keys)
    for width in WIDTHS[1:]:
        w = width // MINUTE_MS
        low, high = start - start % w, -(-end // w) * w
        for table, (_, _, numbers, _) in TABLES.items():
            conn.execute(f"DELETE FROM {table} WHERE w = ? AND m >= ? AND m < ?", (w, low, high))
            conn.execute(
                f"INSERT INTO {table} SELECT ?, m / ? * ? AS s, k, {', '.join(f'sum({n})' for n in numbers)} "
                f"FROM {table} WHERE w = 1 AND m >= ? AND m < ? GROUP BY s, k",
                (w, w, w, low, high),
            )
        for table in SKETCHES:
            conn.execute(f"DELETE FROM {table} WHERE w = ? AND m >= ? AND m < ?", (w, low, high))
            conn.execute(
                f"INSERT INTO {table} SELECT ?, m / ? * ? AS t, k, sketch_sum(s) FROM {table} "
                f"WHERE w = 1 AND m >= ? AND m < ? GROUP BY t, k",
                (w, w, w, low, high),
            )
