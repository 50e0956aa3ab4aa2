"""A process's writer for one partition of its shard of the embedded store, and the seqs it
allots: `seq` = event time ms << SEQ_BITS | shard << COUNTER_BITS | counter (app/storage/tantivy_schema.py)."""

from __future__ import annotations

import os
from pathlib import Path

import orjson
import tantivy
from tantivy import FieldType, Order, Query

from .tantivy_schema import COUNTER_BITS, SEQ_BITS, index_schema


def create_index(path: Path) -> None:
    """A new empty index in `path` that keeps no field norms: they are a byte per document and
    text field that only BM25 scoring reads, and hits here are ordered by seq, never scored (8 of
    the ~320 bytes an event took at 10 M events). tantivy's Python binding cannot say so, so its
    meta.json is rewritten before the first document (atomically: a crash in between leaves an
    index that keeps them, which reads the same)."""
    tantivy.Index(index_schema(), path=str(path), reuse=False)
    meta_path = path / "meta.json"
    meta = orjson.loads(meta_path.read_bytes())
    for field in meta["schema"]:
        options = field["options"]
        if options.get("fieldnorms"):
            options["fieldnorms"] = False
        if (options.get("indexing") or {}).get("fieldnorms"):
            options["indexing"]["fieldnorms"] = False
    temporary = path / "meta.json.new"
    with open(temporary, "wb") as handle:
        handle.write(orjson.dumps(meta, option=orjson.OPT_INDENT_2))
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, meta_path)
    directory = os.open(path, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


class ShardWriter:
    """This process's writer for one partition of its shard, and what it knows of the seqs in it."""

    def __init__(self, index: tantivy.Index, heap: int, threads: int, shard: int):
        self.index = index
        self.writer = index.writer(heap, threads)
        self.shard = shard
        self.next: dict[int, int] = {}  # ms -> next counter, for ms this process has written
        index.reload()
        newest = index.searcher().search(Query.all_query(), 1, count=False, order_by_field="seq", order=Order.Desc).hits
        self.high = newest[0][0] >> SEQ_BITS if newest else -1  # newest ms in this shard's partition

    def allot(self, ms: int) -> int:
        """A seq no other event of this shard has: the next counter of the millisecond (looked
        up in the index for a millisecond at or before the newest written), spilling into the
        next millisecond when one holds 65,536 events."""
        while True:
            n = self.next.get(ms)
            if n is None:
                n = 0 if ms > self.high else self._next_in_index(ms)
            if n < 1 << COUNTER_BITS:
                break
            ms += 1
        self.next[ms] = n + 1
        self.high = max(self.high, ms)
        return (ms << SEQ_BITS) | (self.shard << COUNTER_BITS) | n

    def _next_in_index(self, ms: int) -> int:
        low = (ms << SEQ_BITS) | (self.shard << COUNTER_BITS)
        query = Query.range_query(index_schema(), "seq", FieldType.Unsigned, low, low + (1 << COUNTER_BITS) - 1)
        hits = self.index.searcher().search(query, 1, count=False, order_by_field="seq", order=Order.Desc).hits
        return (hits[0][0] & ((1 << COUNTER_BITS) - 1)) + 1 if hits else 0

    def committed(self) -> None:
        self.index.reload()
        if len(self.next) > 200_000:  # what is committed is found in the index again
            self.next.clear()
