"""The embedded store: one SQLite file (WAL), one table pair per partition of event time.

Partitions are UTC days for recent times and coarser calendar spans (a month, a year) for old
ones, chosen by app/storage/partitioning.py; a partition P is named YYYYMMDD, YYYYMM or YYYY:
  ev_P   the events: promoted columns from schema.yaml (`column:`), the JSON document in `doc`
  fts_P  FTS5, contentless, rowid = ev_P.rowid: `message`, `body` (the other full-text fields)
         and `keys` (tokens of the exact lookup keys: player, correlation, transaction, … ids)
  partitions  the catalogue: name (column `day`), time bounds, event count
  minutes     events per minute (histograms and totals of the unfiltered view)
  rollup_*    per-minute rollups (app/storage/rollups_sqlite.py), added in the batch's transaction

Rowids are time-ordered: (ms since the partition began) << 10 | a sequence number. A partition
table is therefore clustered by time — windows are rowid ranges, newest-first is rowid order, and
the FTS table (which shares the rowids) yields matches in time order without touching events.

Why day tables in one file rather than a file per day: a batch that spans days (a backfill) is
still one transaction with one fsync, and retention is still DROP TABLE (no row deletes);
auto_vacuum=INCREMENTAL hands the freed pages back to the file system.

One writer: writes are serialised by a lock in-process and a file lock across processes.
Readers use one connection per thread and never block the writer (WAL).
"""

from __future__ import annotations

import fcntl
import re
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Sequence
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import orjson

from ..events.schema import get_path, load_schema
from ..query.sql import KeyIndex
from ..rollups.model import reduce_pairs
from .base import Partition, SearchRequest, SearchResult, StoreError, WriteResult
from .partitioning import DEFAULT_DAY_PARTITION_DAYS, Layout, span_name
from .rollups_sqlite import SQLiteRollups
from .rollups_sqlite_write import add_sums, create_tables
from .sqlite_search import SEQ_BITS, PartitionSearch, encode_cursor

DAY_MS = 86_400_000
LAYOUT_VERSION = 3  # bumped when the files' structure changes (3: column values as FTS tokens)
_NAME = re.compile(r"\d{4}(\d{2}(\d{2})?)?\Z")  # YYYY, YYYYMM, YYYYMMDD: safe in table names


_NOT_TOKEN = re.compile(r"[\W_]+", re.UNICODE)


_ID_PUNCTUATION = str.maketrans("", "", "-_.:/@+=#")


def key_token(code: str, value) -> str | None:
    """One FTS token for an exact key value: a column code plus the value's letters and digits."""
    if value is None:
        return None
    folded = str(value).translate(_ID_PUNCTUATION)  # the usual id punctuation, cheaply
    if not folded.isalnum():
        folded = _NOT_TOKEN.sub("", folded)
    return code + folded if folded else None


ID_CODE = "kidx"  # event.id has no B-tree index either: its token in `keys` finds it


def _keys_match(code: str, values) -> str:
    """An FTS query for rows whose `keys` hold any of the values (exactness re-checked by caller)."""
    tokens = {t for v in values if (t := key_token(code, v)) is not None}
    # no token: one that matches nothing real (one word: "kidx-none" was a phrase, refused by FTS5)
    return "keys: (" + " OR ".join(f'"{t}"' for t in sorted(tokens)) + ")" if tokens else 'keys: "kidxnone"'


class SQLiteStore:
    def __init__(
        self,
        directory: Path,
        synchronous: str = "FULL",
        day_partition_days: int = DEFAULT_DAY_PARTITION_DAYS,
        rollups: bool = True,
    ):
        self.directory = directory
        self.day_partition_days = int(day_partition_days)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / "events.db"
        self.synchronous = synchronous
        schema = load_schema()
        promoted = [(f, f.column) for f in schema.columns if f.column]  # (all of them: the column typed as text)
        self.columns = [(column, f.path) for f, column in promoted if column != "ts"]
        # Exact lookups on sparse, high-cardinality keys go through the FTS table's `keys` column
        # (an append-only inverted index, far cheaper to write than one B-tree per key); the
        # column itself re-checks the exact value.
        self.key_codes = [(column, f"k{i}x") for i, (f, column) in enumerate(promoted) if f.index]
        # The other columns (level, component, service, provider, status…) are indexed the same way,
        # so `log.level:error` is an FTS lookup that is counted and bucketed from the index alone.
        self.filter_codes = [(column, f"f{i}x") for i, (f, column) in enumerate(promoted) if column != "ts" and not f.index]
        self.key_index = KeyIndex(
            codes=dict(self.key_codes),
            token=key_token,
            id_code=ID_CODE,
            filters=dict(self.filter_codes),
            exact=frozenset(column for f, column in promoted if f.enum),
        )
        text_fields = [f.path for f in schema.fields.values() if f.fulltext]
        self.body_paths = [p for p in text_fields if p != ("message",)]
        self._local = threading.local()
        self._write_lock = threading.Lock()
        self._known_days: set[str] = set()
        self._writer = self._connect()
        self._lock_file = open(self.directory / "write.lock", "a+b")  # noqa: SIM115 (lives with the store)
        with self._write_lock:
            (version,) = self._writer.execute("PRAGMA user_version").fetchone()
            has_tables = self._writer.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
            if has_tables and version != LAYOUT_VERSION:
                raise StoreError(
                    f"{self.path} has store layout {version}, this version reads layout "
                    f"{LAYOUT_VERSION}; migrate it or start a new data directory"
                )
            self._writer.executescript(
                "CREATE TABLE IF NOT EXISTS partitions (day TEXT PRIMARY KEY, start_ms INTEGER NOT NULL,"
                " end_ms INTEGER NOT NULL, events INTEGER NOT NULL DEFAULT 0);"
                # events per minute: instant histograms and totals for the unfiltered view
                "CREATE TABLE IF NOT EXISTS minutes (minute_ms INTEGER PRIMARY KEY, events INTEGER NOT NULL);"
                f"PRAGMA user_version = {LAYOUT_VERSION};"
            )
            create_tables(self._writer)
        self.rollups = SQLiteRollups(self._reader, self._transaction) if rollups else None
        self._insert_sql = (
            f"INSERT INTO ev_{{day}} (rowid, ts, id, {', '.join(c for c, _ in self.columns)}, doc) "
            f"VALUES ({', '.join('?' * (len(self.columns) + 4))})"
        )

    @classmethod
    def from_url(cls, url: str, **options) -> SQLiteStore:
        parts = urlsplit(url)
        path = unquote(parts.netloc + parts.path)
        if not path:
            raise ValueError(f"sqlite store URL needs a directory: {url!r}")
        for name in ("username", "password", "ca_file", "verify_tls"):  # network settings: not ours
            options.pop(name, None)
        query = parse_qs(parts.query)
        if "day_partition_days" in query:
            options["day_partition_days"] = int(query["day_partition_days"][0])
        if "rollups" in query:
            options["rollups"] = query["rollups"][0] not in ("off", "0", "false")
        return cls(Path(path), **options)

    # -- connections ------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        try:
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30)
            conn.execute("PRAGMA auto_vacuum=INCREMENTAL")  # only takes effect on a new file
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(f"PRAGMA synchronous={self.synchronous}")
            conn.execute("PRAGMA cache_size=-65536")
            conn.execute("PRAGMA temp_store=MEMORY")
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open {self.path}: {exc}") from exc
        return conn

    @contextmanager
    def _process_lock(self):
        """Writers of other processes (web workers, the CLI) queue on a file lock: the waiter wakes
        the moment it is released, where SQLite's own busy handler would sleep and poll."""
        fcntl.flock(self._lock_file, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(self._lock_file, fcntl.LOCK_UN)

    @contextmanager
    def _transaction(self):
        with self._write_lock, self._process_lock():
            self._writer.execute("BEGIN IMMEDIATE")
            try:
                yield self._writer
            except BaseException:
                self._writer.execute("ROLLBACK")
                raise
            self._writer.execute("COMMIT")

    def _reader(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = self._connect()
        return conn

    def close(self) -> None:
        with self._write_lock:
            self._writer.close()
            self._lock_file.close()
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    # -- writing ----------------------------------------------------------------------

    def _ensure_partition(self, conn: sqlite3.Connection, day: str, start: int, end: int) -> None:
        if day in self._known_days:
            return
        if not _NAME.match(day):
            raise ValueError(f"not a partition name: {day!r}")
        cols = ", ".join(f"{c} {'INTEGER' if c == 'status_code' else 'TEXT'}" for c, _ in self.columns)
        statements = [
            # rowid = (ms since the partition began) << SEQ_BITS | sequence: rows are stored in time
            # order, so time windows are rowid ranges and no time index is needed
            (
                f"CREATE TABLE IF NOT EXISTS ev_{day} (rowid INTEGER PRIMARY KEY, ts INTEGER NOT NULL, "
                f"id TEXT NOT NULL, {cols}, doc TEXT NOT NULL)"
            ),
            # detail=column: no token positions (a third of the index, a quarter cheaper to
            # write); phrases are matched as all-words and then verified on the stored text
            (
                f"CREATE VIRTUAL TABLE IF NOT EXISTS fts_{day} USING fts5(message, body, keys, content='', "
                f"detail=column, tokenize='unicode61 remove_diacritics 2')"
            ),
        ]
        for sql in statements:
            conn.execute(sql)
        conn.execute(
            "INSERT OR IGNORE INTO partitions (day, start_ms, end_ms, events) VALUES (?, ?, ?, 0)", (day, start, end)
        )
        self._known_days.add(day)

    def _prepare(self, event: dict) -> tuple[int, str, tuple, tuple]:
        """(time, id, row, text) for one event, rowid left out: all the CPU work of a write,
        done before the write lock is taken so other workers' inserts overlap with it."""
        columns = event.pop("_columns", None)
        if columns is None:  # events not from the Normalizer: extract the columns here
            columns = {name: get_path(event, path) for name, path in self.columns}
        ts = event.pop("_ts")
        event.pop("_client_id", None)
        event_id = event["event"]["id"]
        values = [ts, event_id]
        for name, _ in self.columns:
            value = columns.get(name)
            values.append(value if value is None or type(value) in (str, int) else str(value))
        values.append(orjson.dumps(event).decode())
        body = [v for v in (get_path(event, p) for p in self.body_paths) if type(v) is str]
        keys = [key_token(code, columns.get(name)) for name, code in self.key_codes + self.filter_codes]
        keys.append(key_token(ID_CODE, event_id))
        message = event.get("message")
        text = (message if type(message) is str else None, " ".join(body) or None, " ".join(k for k in keys if k) or None)
        return ts, event_id, tuple(values), text

    def write(self, events: Sequence[dict]) -> WriteResult:
        result = WriteResult()
        prepared = []
        for pos, event in enumerate(events):
            client_id = bool(event.get("_client_id"))
            _ts, event_id, row, text = self._prepare(event)
            prepared.append((pos, event_id, client_id, row, text))
        try:
            with self._write_lock, self._process_lock():
                conn = self._writer
                conn.execute("BEGIN IMMEDIATE")
                try:
                    # partitions are chosen under the lock, from the catalogue as committed: every
                    # process agrees on them (see partitioning.py)
                    layout = Layout(
                        conn.execute("SELECT start_ms, end_ms FROM partitions"),
                        time.time_ns() // 1_000_000,
                        self.day_partition_days,
                    )
                    by_part: dict[tuple[int, int], list[tuple]] = {}
                    for item in prepared:
                        by_part.setdefault(layout.route(item[3][0]), []).append(item)
                    kept = []
                    for (start, end), items in sorted(by_part.items()):
                        kept += self._write_day(conn, span_name(start, end), start, end, items, result)
                    if self.rollups:
                        add_sums(conn, reduce_pairs((item[3][0], events[item[0]]) for item in kept))
                    conn.execute("COMMIT")
                except BaseException:
                    conn.execute("ROLLBACK")
                    self._known_days.clear()  # tables created in this transaction are gone too
                    raise
        except sqlite3.Error as exc:
            reason = f"storage error, nothing of this batch was stored: {exc}"
            return WriteResult(failed=[(pos, reason) for pos in range(len(events))])
        return result

    def _write_day(self, conn, day: str, start: int, end: int, items: list[tuple], result: WriteResult) -> list:
        self._ensure_partition(conn, day, start, end)
        client_ids = [item[1] for item in items if item[2]]
        existing: set[str] = set()
        for i in range(0, len(client_ids), 500):
            chunk = client_ids[i : i + 500]
            existing.update(
                r[0]
                for r in conn.execute(
                    f"SELECT id FROM ev_{day} WHERE rowid IN (SELECT rowid FROM fts_{day} WHERE fts_{day} MATCH ?)",
                    (_keys_match(ID_CODE, chunk),),
                )
            )
        kept = []
        for item in items:
            pos, event_id, client_id = item[0], item[1], item[2]
            if client_id:
                if event_id in existing:
                    result.duplicates.append(pos)
                    continue
                existing.add(event_id)  # a repeat inside the same batch is a duplicate too
            kept.append(item)
        if not kept:
            return kept
        kept.sort(key=lambda item: item[3][0])  # by time: rowids ascend, B-tree inserts stay local
        day_start = start
        rowids = self._allot_rowids(conn, day, [item[3][0] - day_start for item in kept])
        rows = [(rowid, *item[3]) for rowid, item in zip(rowids, kept, strict=True)]
        texts = [(rowid, *item[4]) for rowid, item in zip(rowids, kept, strict=True)]
        conn.executemany(self._insert_sql.format(day=day), rows)
        conn.executemany(f"INSERT INTO fts_{day} (rowid, message, body, keys) VALUES (?, ?, ?, ?)", texts)
        conn.execute("UPDATE partitions SET events = events + ? WHERE day = ?", (len(rows), day))
        per_minute = Counter((item[3][0] // 60_000) * 60_000 for item in kept)
        conn.executemany(
            "INSERT INTO minutes (minute_ms, events) VALUES (?, ?) "
            "ON CONFLICT (minute_ms) DO UPDATE SET events = events + excluded.events",
            list(per_minute.items()),
        )
        result.stored += len(rows)
        return kept

    @staticmethod
    def _allot_rowids(conn, day: str, offsets: list[int]) -> list[int]:
        """Unique rowids for events at these offsets (ms into the day, ascending): the next free
        sequence number of each millisecond's slot. Slots fill from sequence 0 upwards, so a slot
        is in use iff its first rowid is; a full slot (over 1,024 events in one ms) spills into
        the next millisecond's. Live traffic (a short span) is checked with one range read; a
        backfill spread over the day with one IN query over the slots' first rowids."""
        top: dict[int, int | None] = {}  # slot (ms) -> highest rowid in use, None if empty; absent: unknown
        span = offsets[-1] - offsets[0]
        rows = None
        if span <= 600_000:
            rows = conn.execute(
                f"SELECT rowid FROM ev_{day} WHERE rowid >= ? AND rowid < ? LIMIT 20001",
                (offsets[0] << SEQ_BITS, (offsets[-1] + 1) << SEQ_BITS),
            ).fetchall()
        if rows is not None and len(rows) <= 20_000:
            top.update(dict.fromkeys(range(offsets[0], offsets[-1] + 1)))
            for (rowid,) in rows:
                slot = rowid >> SEQ_BITS
                top[slot] = max(top[slot] or -1, rowid)
        else:
            distinct = sorted(set(offsets))
            for i in range(0, len(distinct), 500):
                chunk = distinct[i : i + 500]
                top.update(dict.fromkeys(chunk))
                bases = [ms << SEQ_BITS for ms in chunk]
                for (rowid,) in conn.execute(
                    f"SELECT rowid FROM ev_{day} WHERE rowid IN ({','.join('?' * len(bases))})", bases
                ):
                    del top[rowid >> SEQ_BITS]  # in use: its highest rowid is looked up when needed
        out = []
        for ms in offsets:
            slot = ms
            while True:
                if slot not in top:
                    (top[slot],) = conn.execute(
                        f"SELECT max(rowid) FROM ev_{day} WHERE rowid >= ? AND rowid < ?",
                        (slot << SEQ_BITS, (slot + 1) << SEQ_BITS),
                    ).fetchone()
                highest = top[slot]
                rowid = (slot << SEQ_BITS) if highest is None else highest + 1
                if rowid >> SEQ_BITS == slot:
                    break
                slot += 1  # this millisecond is full
            top[slot] = rowid
            out.append(rowid)
        return out

    # -- reading ----------------------------------------------------------------------

    def partitions(self) -> list[Partition]:
        rows = self._reader().execute("SELECT day, start_ms, end_ms, events FROM partitions ORDER BY start_ms").fetchall()
        return [Partition(*row) for row in rows]

    def count(self) -> int:
        return self._reader().execute("SELECT coalesce(sum(events), 0) FROM partitions").fetchone()[0]

    def get(self, event_id: str) -> dict | None:
        found = self.locate(event_id)
        return found[0] if found else None

    def locate(self, event_id: str) -> tuple[dict, str, str] | None:
        conn = self._reader()
        for part in reversed(self.partitions()):
            row = conn.execute(
                f"SELECT doc, ts, rowid FROM ev_{part.name} WHERE rowid IN (SELECT rowid FROM fts_{part.name} "
                f"WHERE fts_{part.name} MATCH ?) AND id = ?",
                (_keys_match(ID_CODE, [event_id]), event_id),
            ).fetchone()
            if row:
                doc, ts, rowid = row
                return (
                    orjson.loads(doc),
                    encode_cursor(part.name, ts, rowid, False),
                    encode_cursor(part.name, ts, rowid, True),
                )
        return None

    def search(self, request: SearchRequest) -> SearchResult:
        return PartitionSearch(self._reader(), self.key_index, self.partitions()).run(request)

    # -- retention --------------------------------------------------------------------

    def drop_partitions_before(self, cutoff_ms: int) -> list[str]:
        dropped = []
        with self._write_lock, self._process_lock():
            conn = self._writer
            for part in self.partitions():
                if part.end_ms <= cutoff_ms and _NAME.match(part.name):
                    conn.execute("BEGIN IMMEDIATE")
                    conn.execute(f"DROP TABLE IF EXISTS ev_{part.name}")
                    conn.execute(f"DROP TABLE IF EXISTS fts_{part.name}")
                    conn.execute("DELETE FROM partitions WHERE day = ?", (part.name,))
                    conn.execute("DELETE FROM minutes WHERE minute_ms >= ? AND minute_ms < ?", (part.start_ms, part.end_ms))
                    conn.execute("COMMIT")
                    self._known_days.discard(part.name)
                    dropped.append(part.name)
            if dropped:
                conn.execute("PRAGMA incremental_vacuum")
        return dropped
