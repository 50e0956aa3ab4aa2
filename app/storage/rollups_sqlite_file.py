"""The embedded tantivy store's rollups: `rollups.db`, a SQLite file of its own in the store's
directory (the tables and their reads: rollups_sqlite.py, their writes: rollups_sqlite_write.py).
One writer connection under a lock, one reader connection a thread, and `rollup_docs`: how many
events of each index (partition, shard) the sums count, which tells a search whether it may believe
them (app/rollups/answer.py)."""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Collection, Mapping
from contextlib import contextmanager
from pathlib import Path

from ..rollups.model import COUNT_DIMENSIONS, Sums
from .base import StoreError
from .rollups_sqlite import SQLiteRollups
from .rollups_sqlite_write import SET_DIMENSIONS, add_sums, create_tables

log = logging.getLogger(__name__)


JOURNAL_LIMIT = 32 << 20
DOCS_TABLE = (
    "CREATE TABLE IF NOT EXISTS rollup_docs (part TEXT NOT NULL, shard TEXT NOT NULL, "
    "events INTEGER NOT NULL, PRIMARY KEY (part, shard))"
)


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
                    conn.executemany(
                        "INSERT INTO rollup_docs VALUES (?, ?, ?) ON CONFLICT (part, shard) "
                        "DO UPDATE SET events = events + excluded.events",
                        [(part, shard, n) for (part, shard), n in docs.items()],
                    )
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
                conn.execute(SET_DIMENSIONS, (len(COUNT_DIMENSIONS),))  # every row rebuilt with them all
                conn.execute("DELETE FROM rollup_docs")
                conn.executemany(
                    "INSERT INTO rollup_docs VALUES (?, ?, ?)", [(part, shard, n) for (part, shard), n in docs.items()]
                )
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
                self.keys.forget()  # the ids this transaction added are gone
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
