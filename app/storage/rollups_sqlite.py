"""Rollups in SQLite tables: the embedded tantivy store keeps them in a file of their own
(`rollups.db` in its directory), the legacy sqlite store in its own database file, written in the
same transaction as the events.

Tables (WITHOUT ROWID, clustered by width and time, so a time range is one range scan):
  rollup_counts     width, minute_ms, key, component, type, level, outcome, service, n
  rollup_providers  width, minute_ms, key, provider, kind, status, calls, failures, timeouts
  rollup_latency    width, minute_ms, key, provider, kind, bucket, n
`key` is the JSON array of the row's values: one primary key that treats a missing value (NULL)
as a value of its own, so an upsert that adds (`n = n + excluded.n`) finds its row. Two writers
adding to the same minute are serialised by SQLite's write lock: both additions count.

Widths: every batch is added per minute and also per hour and per day (`minute_ms` is then the
start of the hour or day), so 90 days at a step of an hour or a day read thousands of rows, not
millions (about 10 µs a row in SQLite's GROUP BY). A read splits [start, end) into the widest
aligned pieces whose width divides the step, minutes at the ragged edges. The rebuild replaces
minutes and recomputes the hours and days it touched from them, so all widths always agree.

Reads sum in SQL, grouped by step (`minute_ms / step * step`); Python only shapes the result.
"""
from __future__ import annotations

import logging
import re
import sqlite3
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Collection, ContextManager, Mapping

import orjson

from ..rollups.model import MINUTE_MS, CountRow, ProviderRow, Sums, check_range, count_columns
from .base import StoreError

HOUR_MS, DAY_MS = 60 * MINUTE_MS, 1440 * MINUTE_MS
WIDTHS = (MINUTE_MS, HOUR_MS, DAY_MS)
SCHEMA = (
    "CREATE TABLE IF NOT EXISTS rollup_counts (width INTEGER NOT NULL, minute_ms INTEGER NOT NULL, key BLOB NOT NULL, "
    "component TEXT, type TEXT, level TEXT, outcome TEXT, service TEXT, n INTEGER NOT NULL, "
    "PRIMARY KEY (width, minute_ms, key)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS rollup_providers (width INTEGER NOT NULL, minute_ms INTEGER NOT NULL, key BLOB NOT NULL, "
    "provider TEXT NOT NULL, kind TEXT, status TEXT, calls INTEGER NOT NULL, failures INTEGER NOT NULL, "
    "timeouts INTEGER NOT NULL, PRIMARY KEY (width, minute_ms, key)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS rollup_latency (width INTEGER NOT NULL, minute_ms INTEGER NOT NULL, key BLOB NOT NULL, "
    "provider TEXT NOT NULL, kind TEXT, bucket INTEGER NOT NULL, n INTEGER NOT NULL, "
    "PRIMARY KEY (width, minute_ms, key, bucket)) WITHOUT ROWID;"
)
log = logging.getLogger(__name__)
_SUM = re.compile(r"sum\((\w+)\)")
# table: (its value columns after the key, the numbers it adds, the key's length in a Sums key)
TABLES = {"rollup_counts": (("component", "type", "level", "outcome", "service"), ("n",), 5),
          "rollup_providers": (("provider", "kind", "status"), ("calls", "failures", "timeouts"), 3),
          "rollup_latency": (("provider", "kind", "bucket"), ("n",), 2)}


def create_tables(conn: sqlite3.Connection) -> None:
    conn.executescript(SCHEMA)


def add_sums(conn: sqlite3.Connection, sums: Sums, widths: tuple[int, ...] = WIDTHS) -> None:
    """Add `sums` to the tables at every width (inside the caller's transaction)."""
    dumps = orjson.dumps
    families = {"rollup_counts": sums.counts, "rollup_providers": sums.providers, "rollup_latency": sums.latency}
    for table, items in families.items():
        if not items:
            continue
        columns, numbers, key_len = TABLES[table]
        single = len(numbers) == 1
        conflict = "width, minute_ms, key, bucket" if table == "rollup_latency" else "width, minute_ms, key"
        sql = (f"INSERT INTO {table} VALUES ({', '.join('?' * (3 + len(columns) + len(numbers)))}) "
               f"ON CONFLICT ({conflict}) DO UPDATE SET " + ", ".join(f"{n} = {n} + excluded.{n}" for n in numbers))
        # (minute, key blob, values) -> numbers, the blob made once for every width
        rows = {(k[0], dumps(k[1:1 + key_len]), k[1:]): (v,) if single else tuple(v) for k, v in items.items()}
        for width in widths:
            if width != MINUTE_MS:
                coarse: dict = {}
                for (minute, blob, values), found in rows.items():
                    key = (minute - minute % width, blob, values)
                    had = coarse.get(key)
                    coarse[key] = found if had is None else tuple(x + y for x, y in zip(had, found))
                rows_at = coarse
            else:
                rows_at = rows
            conn.executemany(sql, [(width, minute, blob, *values, *found)
                                   for (minute, blob, values), found in rows_at.items()])


def replace_range(conn: sqlite3.Connection, start_ms: int, end_ms: int, sums: Sums) -> None:
    """The minutes of [start_ms, end_ms) become `sums`; the hours and days that overlap the range
    are recomputed from their minutes (inside the caller's transaction)."""
    for table in TABLES:
        conn.execute(f"DELETE FROM {table} WHERE width = ? AND minute_ms >= ? AND minute_ms < ?",
                     (MINUTE_MS, start_ms, end_ms))
    add_sums(conn, sums, widths=(MINUTE_MS,))
    for width in WIDTHS[1:]:
        low, high = start_ms - start_ms % width, -(-end_ms // width) * width
        for table, (columns, numbers, _) in TABLES.items():
            conn.execute(f"DELETE FROM {table} WHERE width = ? AND minute_ms >= ? AND minute_ms < ?", (width, low, high))
            group = "key, bucket" if table == "rollup_latency" else "key"
            conn.execute(
                f"INSERT INTO {table} SELECT ?, minute_ms / ? * ? AS m, key, {', '.join(columns)}, "
                f"{', '.join(f'sum({n})' for n in numbers)} FROM {table} WHERE width = ? AND minute_ms >= ? "
                f"AND minute_ms < ? GROUP BY m, {group}", (width, width, width, MINUTE_MS, low, high))


def pieces(start_ms: int, end_ms: int, step_ms: int) -> list[tuple[int, int, int]]:
    """[start, end) as (width, from, to): the widest width dividing the step on whole units of
    it, narrower ones at the edges."""
    out: list[tuple[int, int, int]] = []

    def split(low: int, high: int, widths: tuple[int, ...]) -> None:
        if low >= high:
            return
        width = widths[-1]
        if width == MINUTE_MS:
            out.append((width, low, high))
            return
        first, last = -(-low // width) * width, high // width * width
        if step_ms % width or first >= last:
            split(low, high, widths[:-1])
            return
        split(low, first, widths[:-1])
        out.append((width, first, last))
        split(last, high, widths[:-1])
    split(start_ms, end_ms, WIDTHS)
    return out


def _in(column: str, values: Collection[str | None], args: list) -> str:
    present = [v for v in values if v is not None]
    parts = []
    if present:
        parts.append(f"{column} IN ({', '.join('?' * len(present))})")
        args.extend(present)
    if len(present) < len(values):
        parts.append(f"{column} IS NULL")
    return "(" + (" OR ".join(parts) or "0") + ")"


class SQLiteRollups:
    """RollupReader (and writer) over the rollup tables. `reader()` gives this thread's
    connection; `transaction()` a connection inside a write transaction of the owner's."""

    def __init__(self, reader: Callable[[], sqlite3.Connection],
                 transaction: Callable[[], ContextManager[sqlite3.Connection]]):
        self._reader = reader
        self._transaction = transaction

    def add(self, sums: Sums) -> None:
        if sums:
            with self._transaction() as conn:
                add_sums(conn, sums)

    def replace(self, start_ms: int, end_ms: int, sums: Sums) -> None:
        """The sums of [start_ms, end_ms) become `sums` (the rebuild), in one transaction."""
        with self._transaction() as conn:
            replace_range(conn, start_ms, end_ms, sums)

    def _grouped(self, table: str, select: str, group: str, start_ms: int, end_ms: int, step_ms: int,
                 filters: str = "", args: tuple = ()):
        """Rows of `SELECT step start, {select} ... GROUP BY step start, {group}` over every piece;
        grouped by the whole key (`group` None) at the step's own width, the rows as stored
        (each is its own group: no sort)."""
        conn = self._reader()
        for width, low, high in pieces(start_ms, end_ms, step_ms):
            if group is None and width == step_ms:
                plain = _SUM.sub(r"\1", select)
                yield from conn.execute(
                    f"SELECT minute_ms, {plain} FROM {table} WHERE width = ? AND minute_ms >= ? "
                    f"AND minute_ms < ?{filters}", (width, low, high, *args))
                continue
            grouping = (", key, bucket" if table == "rollup_latency" else ", key") if group is None else group
            yield from conn.execute(
                f"SELECT minute_ms / ? * ? AS s, {select} FROM {table} WHERE width = ? AND minute_ms >= ? "
                f"AND minute_ms < ?{filters} GROUP BY s{grouping}", (step_ms, step_ms, width, low, high, *args))

    def counts(self, start_ms: int, end_ms: int, step_ms: int, by: tuple[str, ...],
               where: Mapping[str, Collection[str]] | None = None) -> list[CountRow]:
        check_range(start_ms, end_ms, step_ms)
        columns = count_columns(by)
        args: list = []
        filters = "".join(f" AND {_in(column, values, args)}"
                          for column, values in zip(count_columns(tuple(where or ())), (where or {}).values()))
        summed: dict[tuple, int] = {}
        for row in self._grouped("rollup_counts", "".join(f"{c}, " for c in columns) + "sum(n)",
                                 "".join(f", {c}" for c in columns), start_ms, end_ms, step_ms, filters, tuple(args)):
            key = row[:-1]
            summed[key] = summed.get(key, 0) + row[-1]
        return [CountRow(key[0], tuple(key[1:]), n) for key, n in sorted(summed.items(), key=lambda kv: kv[0][0])]

    def providers(self, start_ms: int, end_ms: int, step_ms: int,
                  providers: Collection[str] | None = None) -> list[ProviderRow]:
        check_range(start_ms, end_ms, step_ms)
        args: list = []
        only = f" AND {_in('provider', list(providers), args)}" if providers is not None else ""
        out: dict[tuple, ProviderRow] = {}

        def row(s, provider, kind) -> ProviderRow:
            found = out.get((s, provider, kind))
            if found is None:
                found = out[(s, provider, kind)] = ProviderRow(s, provider, kind)
            return found

        for s, provider, kind, status, calls, failures, timeouts in self._grouped(
                "rollup_providers", "provider, kind, status, sum(calls), sum(failures), sum(timeouts)",
                None, start_ms, end_ms, step_ms, only, tuple(args)):
            r = row(s, provider, kind)
            r.calls += calls
            r.failures += failures
            r.timeouts += timeouts
            if status is not None:
                r.statuses[status] = r.statuses.get(status, 0) + calls
        for s, provider, kind, bucket, n in self._grouped(
                "rollup_latency", "provider, kind, bucket, sum(n)", None,
                start_ms, end_ms, step_ms, only, tuple(args)):
            latency = row(s, provider, kind).latency
            latency[bucket] = latency.get(bucket, 0) + n
        return sorted(out.values(), key=lambda r: (r.start_ms, r.provider, r.kind or ""))


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
        with self._write_lock:
            create_tables(self._writer)
            self._writer.execute(DOCS_TABLE)
        super().__init__(self._thread_reader, self._write)

    def add(self, sums: Sums, docs: Mapping[tuple[str, str], int] | None = None) -> None:
        """After the events' commit: the batch's sums, and how many events each index (partition,
        shard) now has counted in them, in one transaction. A failure here must not report
        stored events as failed (a retry would store them twice), so it is logged; the counts
        then disagree with the index, searches stop believing the rollups
        (app/rollups/answer.py), and the rebuild puts them right."""
        try:
            with self._write() as conn:
                if sums:
                    add_sums(conn, sums)
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
                conn.execute("DELETE FROM rollup_docs")
                conn.executemany("INSERT INTO rollup_docs VALUES (?, ?, ?)",
                                 [(part, shard, n) for (part, shard), n in docs.items()])
            conn.executemany("DELETE FROM rollup_docs WHERE part = ?", [(part,) for part in dropped])

    def _connect(self) -> sqlite3.Connection:
        try:
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=60)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
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
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def close(self) -> None:
        with self._write_lock:
            self._writer.close()
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None
