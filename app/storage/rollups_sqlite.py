"""Rollups in SQLite tables: the embedded tantivy store keeps them in a file of their own
(`rollups.db` in its directory), the legacy sqlite store in its own database file, written in the
same transaction as the events.

Tables (WITHOUT ROWID, clustered by width and time, so a time range is one range scan):
  counts_by_key   w, m, k, n                           events by the count dimensions
  calls_by_key    w, m, k, calls, failures, timeouts   provider calls by (provider, kind, status)
  latency_by_key  w, m, k, b, n                        latency sketch buckets by (provider, kind)
  values_by_key   w, m, k, b, n                        sketch buckets of model.MEASURES by (field, group, qualifiers)
  rollup_keys     id, family, key                      the keys' values (rollups_sqlite_keys.py)
`w` is the row's width and `m` its start, both in minutes (1, 60 or 1440; minutes since the
epoch): small integers take one to four bytes in SQLite's records, where milliseconds took six.
`k` is the id of the row's key in `rollup_keys` (the JSON array of its values, a missing value
a null of its own), so a row is about 15 bytes whatever its values; an upsert that adds
(`n = n + excluded.n`) finds its row by (w, m, k). Two writers adding to the same minute are
serialised by SQLite's write lock: both additions count. A database of the first layout (values
as text in every row) is migrated when opened (`create_tables`).

Widths: every batch is added per minute and also per hour and per day, so 90 days at a step of
an hour or a day read thousands of rows, not millions (about 10 µs a row in SQLite's GROUP BY).
A read splits [start, end) into the widest aligned pieces whose width divides the step, minutes
at the ragged edges. The rebuild replaces minutes and recomputes the hours and days it touched
from them, so all widths always agree.

Reads sum in SQL, grouped by step and key (`m / step * step, k`); Python maps the keys to their
values and sums the dimensions asked for.
"""
from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable, Collection, Mapping
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

from ..rollups.model import (  # noqa: F401 (DAY_MS, HOUR_MS: imported from here too)
    COUNT_DIMENSIONS,
    DAY_MS,
    HOUR_MS,
    MINUTE_MS,
    WIDTHS,
    CountRow,
    ProviderRow,
    Sums,
    check_range,
    count_columns,
    pieces,
)
from .base import StoreError
from .rollups_sqlite_keys import COUNTS, KEYS_SCHEMA, LATENCY, PROVIDERS, VALUES, Keys, has_v1, migrate_v1
from .rollups_sqlite_series import minute_calls, values
from .rollups_sqlite_sketches import (
    MERGE,
    SCHEMA as SKETCH_SCHEMA,
    V2_LATENCY,
    group,
    has_v2,
    migrate_v2,
    pack,
    register,
    sum_blobs,
)

SCHEMA = KEYS_SCHEMA + SKETCH_SCHEMA + (
    "CREATE TABLE IF NOT EXISTS counts_by_key (w INTEGER NOT NULL, m INTEGER NOT NULL, k INTEGER NOT NULL, "
    "n INTEGER NOT NULL, PRIMARY KEY (w, m, k)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS calls_by_key (w INTEGER NOT NULL, m INTEGER NOT NULL, k INTEGER NOT NULL, "
    "calls INTEGER NOT NULL, failures INTEGER NOT NULL, timeouts INTEGER NOT NULL, PRIMARY KEY (w, m, k)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS rollup_meta (name TEXT PRIMARY KEY, value) WITHOUT ROWID;"
)
# rollup_meta 'count_dimensions': how many of COUNT_DIMENSIONS every counts row is keyed by (rows
# migrated from the first layout know the first five only, until a rebuild of every stored minute)
SET_DIMENSIONS = "INSERT OR REPLACE INTO rollup_meta VALUES ('count_dimensions', ?)"
log = logging.getLogger(__name__)
# table: (the key family, the key's length in a Sums key, the numbers it adds, its primary key)
TABLES = {"counts_by_key": (COUNTS, len(COUNT_DIMENSIONS), ("n",), "w, m, k"),
          "calls_by_key": (PROVIDERS, 3, ("calls", "failures", "timeouts"), "w, m, k")}
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
        if v1:      # the first layout goes through the second's bucket rows, then is packed with them
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
    log.info("rollups: %d rows of the first layout moved to the keyed tables, %d bucket rows packed into "
             "sketch rows", copied, packed)
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
        ids = keys.ids(conn, family, {k[1:1 + key_len] for k in items})
        sql = (f"INSERT INTO {table} VALUES ({', '.join('?' * (len(primary.split(',')) + len(numbers)))}) "
               f"ON CONFLICT ({primary}) DO UPDATE SET " + ", ".join(f"{n} = {n} + excluded.{n}" for n in numbers))
        # (minute, key id) -> numbers
        rows = {(k[0] // MINUTE_MS, ids[k[1:1 + key_len]]): (v,) if single else tuple(v) for k, v in items.items()}
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
        ids = keys.ids(conn, family, {k[1:1 + key_len] for k in items})
        # (minute, key id) -> {bucket: n}
        minutes = group(((k[0] // MINUTE_MS, ids[k[1:1 + key_len]], k[-1]), n) for k, n in items.items())
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
            conn.executemany(f"INSERT INTO {table} VALUES (?, ?, ?, ?) {MERGE}",
                             [(w, m, k, pack(buckets)) for (m, k), buckets in at.items()])


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
                f"FROM {table} WHERE w = 1 AND m >= ? AND m < ? GROUP BY s, k", (w, w, w, low, high))
        for table in SKETCHES:
            conn.execute(f"DELETE FROM {table} WHERE w = ? AND m >= ? AND m < ?", (w, low, high))
            conn.execute(f"INSERT INTO {table} SELECT ?, m / ? * ? AS t, k, sketch_sum(s) FROM {table} "
                         f"WHERE w = 1 AND m >= ? AND m < ? GROUP BY t, k", (w, w, w, low, high))


def _matching(values_of: Mapping[int, tuple], positions: list[int], wanted: list[set]) -> list[int]:
    return [ident for ident, values in values_of.items()
            if all(values[p] in allowed for p, allowed in zip(positions, wanted, strict=True))]


class SQLiteRollups:
    """RollupReader (and writer) over the rollup tables. `reader()` gives this thread's
    connection; `transaction()` a connection inside a write transaction of the owner's."""

    def __init__(self, reader: Callable[[], sqlite3.Connection],
                 transaction: Callable[[], AbstractContextManager[sqlite3.Connection]]):
        self._reader = reader
        self._transaction = transaction
        self.keys = Keys()

    def add(self, sums: Sums) -> None:
        if sums:
            with self._forgetting(), self._transaction() as conn:
                add_sums(conn, sums, keys=self.keys)

    def replace(self, start_ms: int, end_ms: int, sums: Sums) -> None:
        """The sums of [start_ms, end_ms) become `sums` (the rebuild), in one transaction."""
        with self._forgetting(), self._transaction() as conn:
            replace_range(conn, start_ms, end_ms, sums, keys=self.keys)

    @contextmanager
    def _forgetting(self):
        """The key dictionary forgotten when the transaction fails (its new ids were rolled back)."""
        try:
            yield
        except BaseException:
            self.keys.forget()
            raise

    def dimensions(self) -> tuple[str, ...]:
        """The count dimensions every counts row is keyed by (all but after a migration from the
        first layout, until a full rebuild): only these may be asked or filtered on."""
        found = self._reader().execute("SELECT value FROM rollup_meta WHERE name = 'count_dimensions'").fetchone()
        return COUNT_DIMENSIONS[:found[0] if found else len(COUNT_DIMENSIONS)]

    def _steps(self, table: str, group: str, numbers: str, start_ms: int, end_ms: int, step_ms: int,
               ids: list[int] | None):
        """Rows (step start in minutes, {group,} sums) over every piece of the range; `ids`: only
        the rows of these keys (None: all)."""
        conn = self._reader()
        only = "" if ids is None else f" AND k IN ({','.join(map(str, ids))})"
        step = step_ms // MINUTE_MS
        for width, low, high in pieces(start_ms, end_ms, step_ms):
            w, low, high = width // MINUTE_MS, low // MINUTE_MS, high // MINUTE_MS
            if w == step and group:     # the rows as stored: each is its own group
                yield from conn.execute(f"SELECT m, {group}, {numbers} FROM {table} WHERE w = ? AND m >= ? "
                                        f"AND m < ?{only}", (w, low, high))
                continue
            summed = ", ".join(f"sum({n})" for n in numbers.split(", "))
            yield from conn.execute(
                f"SELECT m / ? * ? AS s, {group + ', ' if group else ''}{summed} FROM {table} WHERE w = ? AND m >= ? "
                f"AND m < ?{only} GROUP BY s{', ' + group if group else ''}", (step, step, w, low, high))

    def _sketch_steps(self, table: str, start_ms: int, end_ms: int, step_ms: int,
                      ids: list[int] | None) -> dict[tuple[int, int], dict[int, int]]:
        """(step start in minutes, key id) -> {bucket: n} over every piece of the range; `ids`:
        only these keys (None: all)."""
        conn = self._reader()
        only = "" if ids is None else f" AND k IN ({','.join(map(str, ids))})"
        step = step_ms // MINUTE_MS
        blobs: dict[tuple[int, int], list[bytes]] = {}
        for width, low, high in pieces(start_ms, end_ms, step_ms):
            w, low, high = width // MINUTE_MS, low // MINUTE_MS, high // MINUTE_MS
            for m, k, blob in conn.execute(f"SELECT m, k, s FROM {table} WHERE w = ? AND m >= ? AND m < ?{only}",
                                           (w, low, high)):
                key = (m - m % step, k)
                found = blobs.get(key)
                if found is None:
                    blobs[key] = [blob]
                else:
                    found.append(blob)
        return {key: sum_blobs(found) for key, found in blobs.items()}

    def counts(self, start_ms: int, end_ms: int, step_ms: int, by: tuple[str, ...],
               where: Mapping[str, Collection[str]] | None = None,
               match: Callable[[Mapping[str, str | None]], bool] | None = None) -> list[CountRow]:
        """RollupReader.counts; `match`: only the keys whose values ({dimension: value}) pass it
        (app/rollups/answer.py's predicate of a query)."""
        check_range(start_ms, end_ms, step_ms)
        count_columns(by)
        count_columns(tuple(where or ()))
        positions = [COUNT_DIMENSIONS.index(d) for d in by]
        ids = None
        values_of: Mapping[int, tuple] = {}
        if by or where or match:
            values_of = self.keys.of_family(self._reader(), COUNTS)
        if where:
            ids = _matching(values_of, [COUNT_DIMENSIONS.index(d) for d in where], [set(v) for v in where.values()])
            if not ids:
                return []
        if match is not None:
            ids = [k for k in (values_of if ids is None else ids)
                   if match(dict(zip(COUNT_DIMENSIONS, values_of[k], strict=False)))]
            if not ids:
                return []
        summed: dict[tuple, int] = {}
        if by:
            for s, k, n in self._steps("counts_by_key", "k", "n", start_ms, end_ms, step_ms, ids):
                values = values_of[k]
                key = (s, *(values[p] for p in positions))
                summed[key] = summed.get(key, 0) + n
        else:
            for s, n in self._steps("counts_by_key", "", "n", start_ms, end_ms, step_ms, ids):
                summed[(s,)] = summed.get((s,), 0) + n
        return [CountRow(key[0] * MINUTE_MS, tuple(key[1:]), n)
                for key, n in sorted(summed.items(), key=lambda kv: kv[0][0])]

    def providers(self, start_ms: int, end_ms: int, step_ms: int,
                  providers: Collection[str] | None = None, latency: bool = True) -> list[ProviderRow]:
        check_range(start_ms, end_ms, step_ms)
        conn = self._reader()
        calls_of, latency_of = self.keys.of_family(conn, PROVIDERS), self.keys.of_family(conn, LATENCY)
        calls_ids = latency_ids = None
        if providers is not None:
            wanted = [set(providers)]
            calls_ids, latency_ids = _matching(calls_of, [0], wanted), _matching(latency_of, [0], wanted)
        out: dict[tuple, ProviderRow] = {}
        found = out.get
        if calls_ids != []:
            for s, k, calls, failures, timeouts in self._steps("calls_by_key", "k", "calls, failures, timeouts",
                                                               start_ms, end_ms, step_ms, calls_ids):
                provider, kind, status = calls_of[k]
                r = found((s, provider, kind))
                if r is None:
                    r = out[(s, provider, kind)] = ProviderRow(s * MINUTE_MS, provider, kind)
                r.calls += calls
                r.failures += failures
                r.timeouts += timeouts
                if status is not None:
                    r.statuses[status] = r.statuses.get(status, 0) + calls
        if latency and latency_ids != []:
            for (s, k), buckets in self._sketch_steps("latency_sketches", start_ms, end_ms, step_ms,
                                                      latency_ids).items():
                provider, kind = latency_of[k]
                r = found((s, provider, kind))
                if r is None:
                    r = out[(s, provider, kind)] = ProviderRow(s * MINUTE_MS, provider, kind)
                if r.latency:
                    for b, n in buckets.items():
                        r.latency[b] = r.latency.get(b, 0) + n
                else:
                    r.latency = buckets
        return sorted(out.values(), key=lambda r: (r.start_ms, r.provider, r.kind or ""))

    def values(self, start_ms: int, end_ms: int, field: str,
               where: Mapping[str, Collection[str | None]] | None = None) -> dict[str | None, dict[int, int]]:
        """A MEASURES field's sketch over the range per value of its group field (rollups_sqlite_series)."""
        return values(self, start_ms, end_ms, field, where)

    def minute_calls(self, start_ms: int, end_ms: int,
                     providers: Collection[str] | None = None) -> dict[str, tuple[list[int], list[int]]]:
        """{provider: (calls, failures)} per minute of the range, dense (rollups_sqlite_series)."""
        return minute_calls(self, start_ms, end_ms, providers)


JOURNAL_LIMIT = 32 << 20
DOCS_TABLE = ("CREATE TABLE IF NOT EXISTS rollup_docs (part TEXT NOT NULL, shard TEXT NOT NULL, "
              "events INTEGER NOT NULL, PRIMARY KEY (part, shard))")


class RollupFile(SQLiteRollups):
    """Rollups in a SQLite file of their own (the embedded tantivy store's `rollups.db`): WAL,
    synchronous=NORMAL (the events are durable in tantivy; rollups lost to a power cut come back
    with `platlogs rollups rebuild`), one transaction per write batch."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._local = threading.local()
        self._write_lock = threading.Lock()
        self._writer = self._connect()
        super().__init__(self._thread_reader, self._write)
        with self._write_lock:
            migrated = create_tables(self._writer, self.keys)
            self._writer.execute(DOCS_TABLE)
        if migrated:
            self._vacuum()

    def add(self, sums: Sums, docs: Mapping[tuple[str, str], int] | None = None) -> None:
        """After the events' commit: the batch's sums, and how many events each index (partition,
        shard) now has counted in them, in one transaction. A failure here must not report
        stored events as failed (a retry would store them twice), so it is logged; the counts
        then disagree with the index, searches stop believing the rollups
        (app/rollups/answer.py), and the rebuild puts them right."""
        try:
            with self._write() as conn:
                if sums:
                    add_sums(conn, sums, keys=self.keys)
                if docs:
                    conn.executemany("INSERT INTO rollup_docs VALUES (?, ?, ?) ON CONFLICT (part, shard) "
                                     "DO UPDATE SET events = events + excluded.events",
                                     [(part, shard, n) for (part, shard), n in docs.items()])
        except sqlite3.Error as exc:
            log.error("rollups of a stored batch were not kept (%s): run `platlogs rollups rebuild`", exc)

    @contextmanager
    def snapshot(self):
        """One read transaction of this thread: the counted events per index and the sums read
        inside it are of the same moment."""
        conn = self._thread_reader()
        conn.execute("BEGIN")
        try:
            yield self
        finally:
            conn.execute("COMMIT")

    def counted(self) -> dict[tuple[str, str], int]:
        """(partition, shard) -> the events of that index the sums count."""
        return {(part, shard): n for part, shard, n in self._thread_reader().execute("SELECT * FROM rollup_docs")}

    def set_counted(self, docs: Mapping[tuple[str, str], int], dropped: Collection[str] = ()) -> None:
        """After a rebuild of every stored minute: the indexes' event counts, as the sums now
        count them; `dropped`: partitions removed (retention), whose counts go."""
        with self._write() as conn:
            if docs:
                conn.execute(SET_DIMENSIONS, (len(COUNT_DIMENSIONS),))   # every row rebuilt with them all
                conn.execute("DELETE FROM rollup_docs")
                conn.executemany("INSERT INTO rollup_docs VALUES (?, ?, ?)",
                                 [(part, shard, n) for (part, shard), n in docs.items()])
            conn.executemany("DELETE FROM rollup_docs WHERE part = ?", [(part,) for part in dropped])

    def _connect(self) -> sqlite3.Connection:
        try:
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=60)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            # the WAL cut back after a checkpoint: a migration or a rebuild writes hundreds of MB through it
            conn.execute(f"PRAGMA journal_size_limit={JOURNAL_LIMIT}")
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open {self.path}: {exc}") from exc
        return conn

    def _thread_reader(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = self._connect()
        return conn

    @contextmanager
    def _write(self):
        with self._write_lock:
            conn = self._writer
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                self.keys.forget()      # the ids this transaction added are gone
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def _vacuum(self) -> None:
        """The first layout's pages given back to the file system after its migration (skipped,
        and logged, when another connection is reading: the pages are then reused by new rows)."""
        with self._write_lock:
            try:
                self._writer.execute("VACUUM")
                self._writer.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            except sqlite3.Error as exc:
                log.warning("rollups: %s not compacted after its migration (%s)", self.path, exc)

    def close(self) -> None:
        with self._write_lock:
            self._writer.close()
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None
