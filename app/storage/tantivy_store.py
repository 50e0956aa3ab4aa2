"""The embedded store on tantivy: an inverted index with columnar fast fields, like OpenSearch's
Lucene, in-process and installed with pip (`tantivy` wheels).

Layout of a store directory:
  store.json           the layout version (refused when it is not this code's)
  parts/<P>/s<k>/      one tantivy index per partition P and writer shard k; P is a calendar month
                       (YYYYMM, UTC), or a year (YYYY) for old events (app/storage/partitioning.py)
  shards/<k>.lock      held by the process that writes shard k (flock; freed when it dies)
  store.lock           held while a partition is opened, or a batch with client-chosen ids
                       is checked and committed
  rollups.db           per-minute rollups of the stored events (app/storage/rollups_sqlite_file.py),
                       added after each batch's commit; `?rollups=off` in the URL: none kept

Why months and shards: a search pays a fixed cost per index it opens (about 0.4 ms), so a
30-day query should touch one or two; and tantivy allows one writer per index, so each writing
process (two web workers, the CLI, the scheduler) claims a shard of its own and never waits for
another. Readers search every shard of the months a query covers and merge by `seq`.

One indexing thread per writer (`writer_threads`, default 1): the process's own thread
normalises the next events while tantivy's indexes these, and two web workers keep two cores
busy. Two threads per writer cut each commit into two segments, and merging them back cost
more than the thread gained: 40,000 demo events in commits of 2,000 took 218 CPU µs an event
with two threads, 171 with one, 140 with one in commits of 10,000 (PLATLOGS_BATCH_SIZE).

A write is acknowledged after tantivy's commit (segment files and meta.json written and synced):
a killed process loses only batches it had not acknowledged. Client-chosen ids are checked
against every shard of the event's month under store.lock, so two processes never both store
one id.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO, Literal, overload
from urllib.parse import parse_qs, unquote, urlsplit

import orjson
import tantivy
from tantivy import Query

from ..query.ast import QueryError
from ..rollups.model import reduce_pairs
from .base import Partition, SearchRequest, SearchResult, StoreError, WriteResult
from .group_commit import GroupCommit, Ticket
from .partitioning import DEFAULT_DAY_PARTITION_DAYS, Layout, month_span, name_span, span_name
from .rollups_sqlite_file import RollupFile
from .tantivy_docs import DocumentCodec, decode_cursor, encode_cursor  # noqa: F401 (imported from here)
from .tantivy_readers import Readers
from .tantivy_schema import LAYOUT, MAX_SHARDS, READ_ONLY_LAYOUTS, SEQ_BITS, Converter, analyzers, index_schema
from .tantivy_writer import ShardWriter, create_index

MAX_TS = (1 << (64 - SEQ_BITS)) - 1  # the last millisecond a seq can hold (year 2109)
OPEN_WRITERS = 3  # partitions a process keeps a writer open for
GROUP_EVENTS = 50_000  # events of concurrent batches committed together at most


class TantivyStore:
    def __init__(
        self,
        directory: Path,
        writer_heap_mb: int = 64,
        writer_threads: int = 1,
        day_partition_days: int = DEFAULT_DAY_PARTITION_DAYS,
        rollups: bool = True,
    ):
        self.directory = Path(directory)
        self.parts_dir = self.directory / "parts"
        self.parts_dir.mkdir(parents=True, exist_ok=True)
        (self.directory / "shards").mkdir(exist_ok=True)
        self.read_only: str | None = None  # the layout, when this version reads it but never writes it
        self._check_layout()
        self.codec = DocumentCodec(self.directory)
        self.converter = Converter(self.codec.encode, self.codec.encode_json)  # native path: app/storage/native_docs.py
        self.heap = max(writer_heap_mb, 8) * 1_000_000
        self.threads = max(1, writer_threads)
        self.day_partition_days = int(day_partition_days)
        self._lock = threading.RLock()  # writes in this process, one at a time
        self.readers = Readers(self._prepare_index)
        self._writers: OrderedDict[str, ShardWriter] = OrderedDict()
        self._shard: int | None = None
        self._shard_file: BinaryIO | None = None
        self._closed = False
        self._writes: GroupCommit[WriteResult] = GroupCommit(GROUP_EVENTS)
        self.commits = 0  # commits made by this process (tests, benches)
        self.rollups = RollupFile(self.directory / "rollups.db") if rollups and not self.read_only else None

    @classmethod
    def from_url(cls, url: str, **options) -> TantivyStore:
        parts = urlsplit(url)
        path = unquote(parts.netloc + parts.path)
        if not path:
            raise ValueError(f"tantivy store URL needs a directory: {url!r}")
        for name in ("username", "password", "ca_file", "verify_tls", "synchronous"):
            options.pop(name, None)  # settings of other backends
        query = parse_qs(parts.query)
        for name in ("writer_heap_mb", "writer_threads", "day_partition_days"):
            if name in query:
                options[name] = int(query[name][0])
        if "rollups" in query:
            options["rollups"] = query["rollups"][0] not in ("off", "0", "false")
        return cls(Path(path), **options)

    def _check_layout(self) -> None:
        marker = self.directory / "store.json"
        if marker.exists():
            layout = orjson.loads(marker.read_bytes()).get("layout")
            if layout in READ_ONLY_LAYOUTS:
                self.read_only = layout
            elif layout != LAYOUT:
                raise StoreError(
                    f"{self.directory} has store layout {layout!r}, this version reads {LAYOUT!r}; "
                    "migrate it (platlogs migrate) or start a new data directory"
                )
        else:
            tmp = marker.with_suffix(".tmp")
            tmp.write_bytes(orjson.dumps({"layout": LAYOUT}))
            os.replace(tmp, marker)

    def close(self) -> None:
        with self._lock:
            for w in self._writers.values():
                w.writer.wait_merging_threads()
            self._writers.clear()
            if self._shard_file is not None:
                self._shard_file.close()
                self._shard_file = None
            self._closed = True
            if self.rollups:
                self.rollups.close()
        self.readers.clear()

    # -- indexes ----------------------------------------------------------------------

    @staticmethod
    def _prepare_index(index: tantivy.Index) -> tantivy.Index:
        for name, analyzer in analyzers().items():
            index.register_tokenizer(name, analyzer)
        return index

    def _spans(self) -> list[tuple[str, int, int]]:
        spans = []
        for entry in self.readers.listing(self.parts_dir):
            try:
                start, end = name_span(entry.name)
            except ValueError:
                continue
            spans.append((entry.name, start, end))
        return sorted(spans, key=lambda m: m[1])

    def shard_indexes(self, part: str) -> list[tantivy.Index]:
        """Current readers of every shard of a partition (shards still being created are skipped)."""
        return [index for _, index in self.readers.shards(self.parts_dir / part)]

    def named_shard_indexes(self, part: str) -> list[tuple[str, tantivy.Index]]:
        """(shard name, current reader) of every shard of a partition."""
        return self.readers.shards(self.parts_dir / part)

    def rollups_rebuilt(self) -> None:
        """After a rebuild of every stored minute (app/storage/rollups_rebuild.py): the rollups count
        every event the indexes hold, so searches may believe them again."""
        if self.rollups:
            self.rollups.set_counted(
                {
                    (name, shard): index.searcher().num_docs
                    for name, _, _ in self._spans()
                    for shard, index in self.named_shard_indexes(name)
                }
            )

    # -- writing ----------------------------------------------------------------------

    def _claim_shard(self) -> int:
        if self._shard is not None:
            return self._shard
        for k in range(MAX_SHARDS):
            handle = open(self.directory / "shards" / f"{k}.lock", "a+b")  # noqa: SIM115 (held while open)
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.close()
                continue
            self._shard, self._shard_file = k, handle
            return k
        raise StoreError(f"{MAX_SHARDS} processes already write to {self.directory}")

    def _writer(self, part: str) -> ShardWriter:
        found = self._writers.get(part)
        if found is not None:
            self._writers.move_to_end(part)
            return found
        shard = self._claim_shard()
        path = self.parts_dir / part / f"s{shard}"
        path.mkdir(parents=True, exist_ok=True)
        if not (path / "meta.json").exists():
            create_index(path)
        index = self._prepare_index(tantivy.Index.open(str(path)))
        writer = self._writers[part] = ShardWriter(index, self.heap, self.threads, shard)
        while len(self._writers) > OPEN_WRITERS:
            _, old = self._writers.popitem(last=False)
            old.writer.wait_merging_threads()
        return writer

    def write(self, events: Sequence[dict]) -> WriteResult:
        """Store a batch; returned (acknowledged) after its commit. Batches written at the same
        time by several threads of this process share one commit (app/storage/group_commit.py)."""
        result = WriteResult()
        items = []
        for pos, event in enumerate(events):
            client_id = bool(event.pop("_client_id", False))
            ts = event.pop("_ts")
            event.pop("_columns", None)
            if not 0 <= ts <= MAX_TS:
                result.refused.append((pos, "@timestamp: outside the times this store can hold (1970 to 2109)"))
                continue
            items.append((pos, ts, str(event["event"]["id"]), client_id, event))
        if not items:
            return result
        self._writes.submit(items, result, self._write_group, self._lock)
        result.duplicates.sort()
        return result

    def _write_group(self, group: list[Ticket[WriteResult]]) -> None:
        """Write the batches of `group` in one commit per partition (called holding self._lock);
        each item's position becomes (batch, position) until the results are handed back."""
        if self._closed:
            raise StoreError("the store is closed")
        if self.read_only:
            raise StoreError(
                f"{self.directory} has the earlier layout {self.read_only!r}, which this version "
                "reads but does not write: copy it into a new store with `platlogs migrate "
                f"--from tantivy://{self.directory} --to tantivy://<new directory>`"
            )
        items = [
            ((k, pos), ts, eid, client_id, event)
            for k, ticket in enumerate(group)
            for pos, ts, eid, client_id, event in ticket.items
        ]
        by_span = self._route(items, locked=False)
        # the store-wide lock: to open a partition (every process must agree on the layout)
        # and to check client-chosen ids (two processes must not both store one)
        exclusive = by_span is None or any(item[3] for item in items)
        lock = open(self.directory / "store.lock", "a+b") if exclusive else None  # noqa: SIM115
        duplicates: list[tuple[int, int]] = []  # (batch, position)
        failed: list[tuple[tuple[int, int], str]] = []  # ((batch, position), reason)
        stored: list[tuple] = []
        docs: dict[tuple[str, str], int] = {}  # (partition, shard) -> events stored there
        try:
            if lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
            if by_span is None:  # a partition to open: routed again under the lock (`exclusive`)
                by_span = self._route(items, locked=True)
            for name, part in sorted(by_span.items()):
                kept = self._write_span(name, part, duplicates, failed)
                if kept:
                    docs[(name, f"s{self._shard}")] = len(kept)
                    stored += kept
        finally:
            if lock:
                lock.close()
        for k, _pos in (item[0] for item in stored):
            group[k].result.stored += 1
        for k, pos in duplicates:
            group[k].result.duplicates.append(pos)
        for (k, pos), reason in failed:
            group[k].result.failed.append((pos, reason))
        if self.rollups and stored:  # after the events' commit: never counts what was not stored
            self.rollups.add(reduce_pairs((item[1], item[4]) for item in stored), docs)

    @overload
    def _route(self, items: list, locked: Literal[True]) -> dict[str, list]: ...
    @overload
    def _route(self, items: list, locked: bool) -> dict[str, list] | None: ...
    def _route(self, items: list, locked: bool) -> dict[str, list] | None:
        """Items by partition name, the partitions chosen by app/storage/partitioning.py with the
        month as the recent unit; None when one would have to be opened and we are not `locked`."""
        spans = self._spans()
        layout = Layout(
            [(start, end) for _, start, end in spans],
            time.time_ns() // 1_000_000,
            self.day_partition_days,
            recent=month_span,
        )
        out: dict[str, list] = {}
        names: dict[tuple[int, int], list] = {}  # span -> its items (one name made per span)
        route = layout.route
        for item in items:
            span = route(item[1])
            found = names.get(span)
            if found is None:
                if layout.opened and not locked:
                    return None
                found = names[span] = out.setdefault(span_name(*span), [])
            found.append(item)
        for span in layout.opened:
            (self.parts_dir / span_name(*span)).mkdir(exist_ok=True)
        return out

    def _write_span(
        self, part: str, items: list, duplicates: list[tuple[int, int]], failed: list[tuple[tuple[int, int], str]]
    ) -> list:
        """Store `items` (of one partition) in one commit; the items stored. An item whose client
        chosen id is stored already goes to `duplicates`; all of them to `failed` when the commit fails."""
        try:
            writer = self._writer(part)
            existing = self._existing_ids(part, [item[2] for item in items if item[3]])
            kept = []
            for item in items:
                if item[3]:
                    if item[2] in existing:
                        duplicates.append(item[0])
                        continue
                    existing.add(item[2])  # a repeat inside the batch is a duplicate too
                kept.append(item)
            kept.sort(key=lambda item: item[1])
            document = self.converter.document
            add = writer.writer.add_json
            for _, ts, _, _, event in kept:
                add(document(event, writer.allot(ts), ts))
            writer.writer.commit()
        except (ValueError, OSError) as exc:
            self._abandon(part)
            reason = f"storage error, nothing of this partition's events was stored: {exc}"
            failed.extend((item[0], reason) for item in items)
            return []
        writer.committed()
        self.commits += 1
        return kept

    def _abandon(self, part: str) -> None:
        """After a failed add or commit: drop the writer (its uncommitted documents with it)."""
        writer = self._writers.pop(part, None)
        if writer is not None:
            with contextlib.suppress(ValueError):
                writer.writer.rollback()

    def _existing_ids(self, part: str, ids: list[str]) -> set[str]:
        if not ids:
            return set()
        found: set[str] = set()
        wanted = set(ids)
        schema = index_schema()
        for index in self.shard_indexes(part):
            searcher = index.searcher()
            for i in range(0, len(ids), 1000):
                chunk = sorted({x.lower() for x in ids[i : i + 1000]})
                query = Query.term_set_query(schema, "id", chunk)
                for _, address in searcher.search(query, 10 * len(chunk) + 10, count=False).hits:
                    event_id = self.codec.decode(searcher.doc(address)["doc"][0])["event"]["id"]
                    if event_id in wanted:
                        found.add(event_id)
        return found

    # -- reading ----------------------------------------------------------------------

    def partitions(self) -> list[Partition]:
        out = []
        for name, start, end in self._spans():
            events = sum(index.searcher().num_docs for index in self.shard_indexes(name))
            out.append(Partition(name, start, end, events))
        return out

    def count(self) -> int:
        return sum(p.events for p in self.partitions())

    def get(self, event_id: str) -> dict | None:
        found = self.locate(event_id)
        return found[0] if found else None

    def locate(self, event_id: str) -> tuple[dict, str, str] | None:
        query = Query.term_query(index_schema(), "id", str(event_id).lower())
        for name, _, _ in reversed(self._spans()):
            for index in self.shard_indexes(name):
                searcher = index.searcher()
                for seq, address in searcher.search(query, 100, count=False, order_by_field="seq").hits:
                    doc = self.codec.decode(searcher.doc(address)["doc"][0])
                    if doc.get("event", {}).get("id") == event_id:
                        return doc, encode_cursor(seq, False), encode_cursor(seq, True)
        return None

    def search(self, request: SearchRequest) -> SearchResult:
        from .tantivy_search import TantivySearch

        try:
            return TantivySearch(self).run(request)
        except BaseException as exc:
            if type(exc).__name__ != "PanicException":
                raise
            raise QueryError(
                f"this query cannot run on the embedded store ({exc}); please report it with the query"
            ) from None

    # -- retention --------------------------------------------------------------------

    def drop_partitions_before(self, cutoff_ms: int) -> list[str]:
        """Whole spans that end at or before the cutoff."""
        dropped = []
        with self._lock:
            for name, _, end in self._spans():
                if end <= cutoff_ms:
                    self._writers.pop(name, None)
                    path = self.parts_dir / name
                    trash = self.parts_dir / f".drop-{name}-{time.time_ns()}"
                    os.replace(path, trash)  # gone for readers at once, then deleted
                    shutil.rmtree(trash, ignore_errors=True)
                    self.readers.forget(path)
                    dropped.append(name)
            if self.rollups and dropped:  # the sums stay (managers look back); the counts go
                self.rollups.set_counted({}, dropped)
        return dropped
