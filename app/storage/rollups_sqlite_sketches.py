"""Sketches packed one row a key and a minute (hour, day) in the rollup tables
(rollups_sqlite.py): `latency_sketches` and `value_sketches`, columns (w, m, k, s).

`s` is the sketch's buckets and counts as one blob (app/rollups/sketch.py's keys):

    byte 0       the width of a count: 1, 2, 4 or 8 bytes (unsigned)
    then         n bucket keys, int32, ascending
    then         n counts, of that width
    (little-endian)

About five bytes a bucket, against about nineteen when every bucket was a row of its own
(`latency_by_key`/`values_by_key`, w, m, k, b, n: the second layout, migrated when opened). A day
of a route's durations is one row of sixty-odd buckets instead of sixty-odd rows, so a
30-day percentile reads a few thousand rows, not a few hundred thousand.

Adding to a row merges two sketches in SQLite's upsert (`sketch_merge`, a function of this module
registered on the connection); recomputing hours and days from minutes sums them with the
aggregate `sketch_sum`. Reads sum many blobs at once with numpy (`sum_blobs`: a 30-day read of
a dashboard panel merges a few thousand blobs, ~10x faster than adding bucket by bucket in Python).
"""

from __future__ import annotations

import sqlite3
import sys
from array import array
from collections.abc import Iterable, Mapping, Sequence

import numpy as np

_CODES = {1: "B", 2: "H", 4: "I", 8: "Q"}
_SWAP = sys.byteorder != "little"
assert array("i").itemsize == 4 and all(array(c).itemsize == w for w, c in _CODES.items())

SCHEMA = (
    "CREATE TABLE IF NOT EXISTS latency_sketches (w INTEGER NOT NULL, m INTEGER NOT NULL, k INTEGER NOT NULL, "
    "s BLOB NOT NULL, PRIMARY KEY (w, m, k)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS value_sketches (w INTEGER NOT NULL, m INTEGER NOT NULL, k INTEGER NOT NULL, "
    "s BLOB NOT NULL, PRIMARY KEY (w, m, k)) WITHOUT ROWID;"
)
# the second layout, a row a bucket: read only to migrate it
V2_TABLES = {"latency_by_key": "latency_sketches", "values_by_key": "value_sketches"}
V2_LATENCY = (
    "CREATE TABLE IF NOT EXISTS latency_by_key (w INTEGER NOT NULL, m INTEGER NOT NULL, k INTEGER NOT NULL, "
    "b INTEGER NOT NULL, n INTEGER NOT NULL, PRIMARY KEY (w, m, k, b)) WITHOUT ROWID;"
)
MERGE = "ON CONFLICT (w, m, k) DO UPDATE SET s = sketch_merge(s, excluded.s)"


def pack(buckets: Mapping[int, int]) -> bytes:
    """The blob of {bucket key: count} (counts > 0)."""
    keys = sorted(buckets)
    counts = [buckets[b] for b in keys]
    top = max(counts, default=0)
    width = 1 if top < 1 << 8 else 2 if top < 1 << 16 else 4 if top < 1 << 32 else 8
    a, c = array("i", keys), array(_CODES[width], counts)
    if _SWAP:
        a.byteswap()
        c.byteswap()
    return bytes((width,)) + a.tobytes() + c.tobytes()


def unpack(blob: bytes) -> zip:
    """(bucket key, count) pairs of a blob, keys ascending."""
    width = blob[0]
    n = (len(blob) - 1) // (4 + width)
    keys = array("i", blob[1 : 1 + 4 * n])
    counts = array(_CODES[width], blob[1 + 4 * n :])
    if _SWAP:
        keys.byteswap()
        counts.byteswap()
    return zip(keys, counts, strict=False)


def add_into(into: dict[int, int], blob: bytes) -> None:
    """`blob`'s counts added to `into`."""
    get = into.get
    for b, n in unpack(blob):
        into[b] = get(b, 0) + n


_NP_CODES: dict[int, np.dtype] = {1: np.dtype("<u1"), 2: np.dtype("<u2"), 4: np.dtype("<u4"), 8: np.dtype("<u8")}
_NP_KEYS = np.dtype("<i4")


def sum_blobs(blobs: Sequence[bytes]) -> dict[int, int]:
    """{bucket key: count} of the blobs added together (what `add_into` over each would give).

    Sorted and reduced, not a dense array over the keys' span: keys are any int32. Counts add as
    uint64, the widest a blob stores."""
    if len(blobs) < 4:  # numpy's set-up costs more than a few small blobs
        into: dict[int, int] = {}
        for blob in blobs:
            add_into(into, blob)
        return into
    keys, counts = [], []
    for blob in blobs:
        width = blob[0]
        n = (len(blob) - 1) // (4 + width)
        keys.append(np.frombuffer(blob, _NP_KEYS, n, 1))
        counts.append(np.frombuffer(blob, _NP_CODES[width], n, 1 + 4 * n).astype(np.uint64))
    k, c = np.concatenate(keys), np.concatenate(counts)
    if not len(k):
        return {}
    order = np.argsort(k, kind="stable")
    k, c = k[order], c[order]
    starts = np.concatenate(([0], np.flatnonzero(np.diff(k)) + 1))
    return dict(zip(k[starts].tolist(), np.add.reduceat(c, starts).tolist(), strict=True))


def merge(a: bytes, b: bytes) -> bytes:
    both: dict[int, int] = dict(unpack(a))
    add_into(both, b)
    return pack(both)


class _Sum:
    """SQLite aggregate: the sketches of a group merged."""

    def __init__(self) -> None:
        self.buckets: dict[int, int] = {}

    def step(self, blob: bytes) -> None:
        add_into(self.buckets, blob)

    def finalize(self) -> bytes:
        return pack(self.buckets)


def register(conn: sqlite3.Connection) -> None:
    """`sketch_merge` and `sketch_sum` on this connection (what the writes' SQL calls)."""
    conn.create_function("sketch_merge", 2, merge, deterministic=True)
    # typeshed's aggregate protocol types step()'s value as int; SQLite hands _Sum the blob
    conn.create_aggregate("sketch_sum", 1, _Sum)  # type: ignore[arg-type]


def group(items: Iterable[tuple[tuple, int]]) -> dict[tuple, dict[int, int]]:
    """((…, bucket), n) items as {(…): {bucket: n}}."""
    out: dict[tuple, dict[int, int]] = {}
    for (*rest, bucket), n in items:
        buckets = out.setdefault(tuple(rest), {})
        buckets[bucket] = buckets.get(bucket, 0) + n
    return out


def has_v2(conn: sqlite3.Connection) -> bool:
    return (
        conn.execute(
            f"SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN ({', '.join('?' * len(V2_TABLES))})",
            tuple(V2_TABLES),
        ).fetchone()[0]
        > 0
    )


def migrate_v2(conn: sqlite3.Connection, chunk: int = 50_000) -> int:
    """The second layout's bucket rows packed into the sketch tables and dropped (inside the
    caller's write transaction, on a connection `register` was given); the rows read. Rows come
    in primary-key order, so one pass groups each (w, m, k); a group cut by a chunk's end merges
    in the upsert."""
    present = {name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    read = 0
    for old, new in V2_TABLES.items():
        if old not in present:
            continue
        cursor = conn.execute(f"SELECT w, m, k, b, n FROM {old} ORDER BY w, m, k, b")
        while True:
            rows = cursor.fetchmany(chunk)
            if not rows:
                break
            read += len(rows)
            packed = group(((w, m, k, b), n) for w, m, k, b, n in rows)
            conn.executemany(
                f"INSERT INTO {new} VALUES (?, ?, ?, ?) {MERGE}", [(*key, pack(buckets)) for key, buckets in packed.items()]
            )
        conn.execute(f"DROP TABLE {old}")
    return read
