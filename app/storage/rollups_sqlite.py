"""Rollups in SQLite tables: the embedded tantivy store keeps them in a file of their own
(`rollups.db` in its directory), the legacy sqlite store in its own database file, written in the
same transaction as the events.

Tables (WITHOUT ROWID, clustered by minute, so a time range is one range scan):
  rollup_counts     minute_ms, key, component, type, level, outcome, service, n
  rollup_providers  minute_ms, key, provider, kind, status, calls, failures, timeouts
  rollup_latency    minute_ms, key, provider, kind, bucket, n
`key` is the JSON array of the row's values: one primary key that treats a missing value (NULL)
as a value of its own, so an upsert that adds (`n = n + excluded.n`) finds its row. Two writers
adding to the same minute are serialised by SQLite's write lock: both additions count.

Reads sum in SQL, grouped by step (`minute_ms / step * step`); Python only shapes the result.
"""
from __future__ import annotations

import logging
import sqlite3
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Collection, ContextManager, Mapping

import orjson

from ..rollups.model import CountRow, ProviderRow, Sums, check_range, count_columns
from .base import StoreError

SCHEMA = (
    "CREATE TABLE IF NOT EXISTS rollup_counts (minute_ms INTEGER NOT NULL, key BLOB NOT NULL, component TEXT, "
    "type TEXT, level TEXT, outcome TEXT, service TEXT, n INTEGER NOT NULL, PRIMARY KEY (minute_ms, key)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS rollup_providers (minute_ms INTEGER NOT NULL, key BLOB NOT NULL, provider TEXT NOT NULL, "
    "kind TEXT, status TEXT, calls INTEGER NOT NULL, failures INTEGER NOT NULL, timeouts INTEGER NOT NULL, "
    "PRIMARY KEY (minute_ms, key)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS rollup_latency (minute_ms INTEGER NOT NULL, key BLOB NOT NULL, provider TEXT NOT NULL, "
    "kind TEXT, bucket INTEGER NOT NULL, n INTEGER NOT NULL, PRIMARY KEY (minute_ms, key, bucket)) WITHOUT ROWID;"
)
log = logging.getLogger(__name__)
TABLES = ("rollup_counts", "rollup_providers", "rollup_latency")


def create_tables(conn: sqlite3.Connection) -> None:
    conn.executescript(SCHEMA)


def add_sums(conn: sqlite3.Connection, sums: Sums) -> None:
    """Add `sums` to the tables (inside the caller's transaction)."""
    dumps = orjson.dumps
    if sums.counts:
        conn.executemany(
            "INSERT INTO rollup_counts VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (minute_ms, key) DO UPDATE SET n = n + excluded.n",
            [(k[0], dumps(k[1:]), *k[1:], n) for k, n in sums.counts.items()])
    if sums.providers:
        conn.executemany(
            "INSERT INTO rollup_providers VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (minute_ms, key) DO UPDATE SET "
            "calls = calls + excluded.calls, failures = failures + excluded.failures, timeouts = timeouts + excluded.timeouts",
            [(k[0], dumps(k[1:]), *k[1:], *v) for k, v in sums.providers.items()])
    if sums.latency:
        conn.executemany(
            "INSERT INTO rollup_latency VALUES (?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (minute_ms, key, bucket) DO UPDATE SET n = n + excluded.n",
            [(k[0], dumps(k[1:3]), *k[1:], n) for k, n in sums.latency.items()])


def delete_range(conn: sqlite3.Connection, start_ms: int, end_ms: int) -> None:
    for table in TABLES:
        conn.execute(f"DELETE FROM {table} WHERE minute_ms >= ? AND minute_ms < ?", (start_ms, end_ms))


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
            delete_range(conn, start_ms, end_ms)
            add_sums(conn, sums)

    def counts(self, start_ms: int, end_ms: int, step_ms: int, by: tuple[str, ...],
               where: Mapping[str, Collection[str]] | None = None) -> list[CountRow]:
        check_range(start_ms, end_ms, step_ms)
        columns = count_columns(by)
        args: list = [step_ms, step_ms, start_ms, end_ms]
        filters = "".join(f" AND {_in(column, values, args)}"
                          for column, values in zip(count_columns(tuple(where or ())), (where or {}).values()))
        group = "".join(f", {c}" for c in columns)
        rows = self._reader().execute(
            f"SELECT minute_ms / ? * ? AS s{group}, sum(n) FROM rollup_counts WHERE minute_ms >= ? AND minute_ms < ?"
            f"{filters} GROUP BY s{group} ORDER BY s", args).fetchall()
        return [CountRow(row[0], tuple(row[1:-1]), row[-1]) for row in rows]

    def providers(self, start_ms: int, end_ms: int, step_ms: int,
                  providers: Collection[str] | None = None) -> list[ProviderRow]:
        check_range(start_ms, end_ms, step_ms)
        args: list = [step_ms, step_ms, start_ms, end_ms]
        only = f" AND {_in('provider', list(providers), args)}" if providers is not None else ""
        conn = self._reader()
        out: dict[tuple, ProviderRow] = {}
        for s, provider, kind, status, calls, failures, timeouts in conn.execute(
                "SELECT minute_ms / ? * ? AS s, provider, kind, status, sum(calls), sum(failures), sum(timeouts) "
                f"FROM rollup_providers WHERE minute_ms >= ? AND minute_ms < ?{only} "
                "GROUP BY s, provider, kind, status", args):
            row = out.get((s, provider, kind))
            if row is None:
                row = out[(s, provider, kind)] = ProviderRow(s, provider, kind)
            row.calls += calls
            row.failures += failures
            row.timeouts += timeouts
            if status is not None:
                row.statuses[status] = calls
        for s, provider, kind, bucket, n in conn.execute(
                "SELECT minute_ms / ? * ? AS s, provider, kind, bucket, sum(n) "
                f"FROM rollup_latency WHERE minute_ms >= ? AND minute_ms < ?{only} "
                "GROUP BY s, provider, kind, bucket", args):
            row = out.get((s, provider, kind))
            if row is None:   # cannot happen for rows written together; kept for a partial rebuild
                row = out[(s, provider, kind)] = ProviderRow(s, provider, kind)
            row.latency[bucket] = n
        return sorted(out.values(), key=lambda r: (r.start_ms, r.provider, r.kind or ""))


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
        super().__init__(self._thread_reader, self._write)

    def add(self, sums: Sums) -> None:
        """After the events' commit: a failure here must not report stored events as failed
        (a retry would store them twice), so it is logged, and the rebuild puts it right."""
        try:
            super().add(sums)
        except sqlite3.Error as exc:
            log.error("rollups of a stored batch were not kept (%s): run `platlogs rollups rebuild`", exc)

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
