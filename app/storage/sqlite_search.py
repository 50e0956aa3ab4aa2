"""Search over the embedded store's partitions: hits with cursor paging, bounded totals,
facets and a histogram.

Partition tables (a day, or a month or year for old times) are clustered by time (rowid = ms
into the partition << SEQ_BITS | sequence), so a time
window is a rowid range, newest-first is rowid order, and the FTS tables — which share the
rowids — give matches in time order and can be counted per time bucket without reading events.
Partitions are visited newest first (or oldest first), so the first page, the bounded total and
the facets over the newest matches stop early however large the store.
"""

from __future__ import annotations

import base64
import sqlite3
import time
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass

import orjson

from ..query.ast import MatchAll, QueryError
from ..query.fields import resolve
from ..query.sql import DAY, HI, LO, Compiled, KeyIndex, SQLCompiler, json_path
from .base import Bucket, CursorError, Facet, FacetValue, Partition, SearchRequest, SearchResult, histogram_buckets
from .partitioning import name_span

SEQ_BITS = 10  # up to 1,024 events per millisecond keep their exact place in time
FULL_DAY = 1 << 62  # an upper rowid bound past any row


def encode_cursor(day: str, ts: int, rowid: int, newest_first: bool) -> str:
    raw = orjson.dumps([day, ts, rowid, "d" if newest_first else "a"])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, newest_first: bool) -> tuple[str, int, int]:
    try:
        day, ts, rowid, order = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if not (isinstance(day, str) and day.isdigit() and isinstance(ts, int) and isinstance(rowid, int)):
            raise ValueError
        name_span(day)
    except (ValueError, TypeError, orjson.JSONDecodeError):
        raise CursorError("cursor: not a cursor this server issued") from None
    if order != ("d" if newest_first else "a"):
        raise CursorError("cursor: issued for the other sort order")
    return day, ts, rowid


class Deadline:
    """Aborts the connection's running statement once `budget_ms` have passed."""

    def __init__(self, conn: sqlite3.Connection, budget_ms: int):
        self.conn = conn
        self.stop_at = time.monotonic() + budget_ms / 1000

    def check(self) -> None:
        """Between statements: give up the same way SQLite's interrupt does."""
        if time.monotonic() >= self.stop_at:
            raise sqlite3.OperationalError("interrupted")

    @contextmanager
    def running(self):
        stop_at = self.stop_at
        self.conn.set_progress_handler(lambda: int(time.monotonic() >= stop_at), 20_000)
        try:
            yield
        finally:
            self.conn.set_progress_handler(None, 0)


@dataclass
class Slice:
    """One partition's share of the search: its rowid window and the query's SQL for it."""

    part: Partition
    lo: int
    hi: int
    where: str
    params: list

    @property
    def table(self) -> str:
        return f"ev_{self.part.name}"


class PartitionSearch:
    def __init__(self, conn: sqlite3.Connection, keys: KeyIndex, partitions: list[Partition]):
        self.conn = conn
        self.keys = keys
        self.partitions = partitions

    def run(self, request: SearchRequest) -> SearchResult:
        try:
            return self._run(request)
        except sqlite3.OperationalError as exc:
            if "fts5" in str(exc):  # a token FTS splits differently from us: refuse, never a 500
                raise QueryError(f"this text cannot be searched as written ({exc}); try fewer punctuation marks") from None
            raise

    def _slices(self, request: SearchRequest, compiled: Compiled) -> list[Slice]:
        slices = []
        for part in self.partitions:
            if (request.start_ms is not None and part.end_ms <= request.start_ms) or (
                request.end_ms is not None and part.start_ms >= request.end_ms
            ):
                continue
            lo = (
                0
                if request.start_ms is None or request.start_ms <= part.start_ms
                else (request.start_ms - part.start_ms) << SEQ_BITS
            )
            hi = (
                FULL_DAY
                if request.end_ms is None or request.end_ms >= part.end_ms
                else (request.end_ms - part.start_ms) << SEQ_BITS
            )
            where = "rowid >= ? AND rowid < ? AND " + compiled.sql.replace(DAY, part.name).replace(LO, str(lo)).replace(
                HI, str(hi)
            )
            slices.append(Slice(part, lo, hi, where, [lo, hi, *compiled.params]))
        slices.sort(key=lambda s: s.part.start_ms, reverse=request.newest_first)
        return slices

    def _run(self, request: SearchRequest) -> SearchResult:
        now_ms = request.now_ms if request.now_ms is not None else int(time.time() * 1000)
        compiled = SQLCompiler(self.keys, now_ms).compile(request.query)
        slices = self._slices(request, compiled)
        hits, next_cursor = self._hits(request, slices)
        total, exact = self._total(request, slices, compiled)
        if request.cursor is None and len(hits) < request.size and exact:
            total = len(hits)  # the whole result is on this page
        result = SearchResult(hits=hits, total=total, total_exact=exact, next_cursor=next_cursor)
        newest = sorted(slices, key=lambda s: s.part.start_ms, reverse=True)
        if request.facets:
            result.facets = self._facets(request, newest)
        if request.histogram_ms:
            result.histogram, result.histogram_timed_out = self._histogram(request, slices, compiled)
        return result

    # -- hits and paging ---------------------------------------------------------------

    def _hits(self, request, slices: list[Slice]) -> tuple[list[dict], str | None]:
        if request.size <= 0:  # only counts, facets or a histogram were asked for
            return [], None
        order = "DESC" if request.newest_first else "ASC"
        after = decode_cursor(request.cursor, request.newest_first) if request.cursor else None
        after_start = name_span(after[0])[0] if after else 0
        hits: list[dict] = []
        last = None
        for sl in slices:
            name = sl.part.name
            start = sl.part.start_ms
            if after and (start > after_start if request.newest_first else start < after_start):
                continue  # pages already served
            where, params = sl.where, list(sl.params)
            if after and name == after[0]:
                where += f" AND rowid {'<' if request.newest_first else '>'} ?"
                params.append(after[2])
            need = request.size + 1 - len(hits)  # one more than asked: is there a next page?
            rows = self.conn.execute(
                f"SELECT rowid, ts, doc FROM {sl.table} WHERE {where} ORDER BY rowid {order} LIMIT ?", (*params, need)
            ).fetchall()
            for rowid, ts_ms, doc in rows:
                if len(hits) == request.size:
                    assert last is not None  # (set with the first hit)
                    return hits, encode_cursor(last[0], last[1], last[2], request.newest_first)
                hits.append(orjson.loads(doc))
                last = (name, ts_ms, rowid)
        return hits, None

    def _total(self, request, slices: list[Slice], compiled: Compiled) -> tuple[int, bool]:
        if request.total_bound <= 0:  # the caller does not need a count (paging through, context)
            return 0, False
        total = 0
        for sl in slices:
            remaining = request.total_bound - total + 1
            if compiled.pure_match:  # counted in the FTS index alone
                sql = (
                    f"SELECT count(*) FROM (SELECT 1 FROM fts_{sl.part.name} WHERE fts_{sl.part.name} MATCH ? "
                    "AND rowid >= ? AND rowid < ? LIMIT ?)"
                )
                params = (compiled.pure_match, sl.lo, sl.hi, remaining)
            else:
                sql = f"SELECT count(*) FROM (SELECT 1 FROM {sl.table} WHERE {sl.where} LIMIT ?)"
                params = (*sl.params, remaining)
            total += self.conn.execute(sql, params).fetchone()[0]
            if total > request.total_bound:
                return request.total_bound, False
        return total, True

    # -- facets and histogram ----------------------------------------------------------

    def _facets(self, request, newest: list[Slice]) -> dict[str, Facet]:
        """All facets in one pass per partition: SQLite counts each combination of the facet
        fields' values over the newest matches (few combinations, counted in C), and each facet
        is the sum over the others. Exact over the newest `facet_bound` matches."""
        exprs, expr_params = [], []
        for name in request.facets:
            info = resolve(name)
            if name == "@timestamp":
                exprs.append("ts")
            elif info.column:
                exprs.append(info.column)
            else:
                exprs.append("json_extract(doc, ?)")
                expr_params.append(json_path(info.path))
        columns = ", ".join(f"{e} AS f{i}" for i, e in enumerate(exprs))
        group = ", ".join(f"f{i}" for i in range(len(exprs)))
        counts: list[Counter] = [Counter() for _ in exprs]
        approximate = timed_out = False
        remaining = request.facet_bound
        deadline = Deadline(self.conn, request.budget_ms)
        try:
            with deadline.running():
                for sl in newest:
                    deadline.check()
                    if remaining <= 0:
                        approximate = True
                        break
                    rows = self.conn.execute(
                        f"SELECT {group}, count(*) FROM (SELECT {columns} FROM {sl.table} WHERE {sl.where} "
                        f"ORDER BY rowid DESC LIMIT ?) GROUP BY {group}",
                        (*expr_params, *sl.params, remaining),
                    ).fetchall()
                    for row in rows:
                        n = row[-1]
                        remaining -= n
                        for i, counter in enumerate(counts):
                            if row[i] is not None:
                                counter[row[i]] += n
                    if remaining <= 0 and sl is not newest[-1]:
                        approximate = True
        except sqlite3.OperationalError as exc:
            if "interrupted" not in str(exc):
                raise
            timed_out = True
        facets = {}
        for name, counter in zip(request.facets, counts, strict=True):
            top = sorted(counter.items(), key=lambda kv: (-kv[1], str(kv[0])))[: request.facet_size]
            facets[name] = Facet([FacetValue(v, n) for v, n in top], approximate=approximate, timed_out=timed_out)
        return facets

    def _histogram(self, request, slices: list[Slice], compiled: Compiled) -> tuple[list[Bucket], bool]:
        width = request.histogram_ms
        counts: Counter = Counter()
        timed_out = False
        deadline = Deadline(self.conn, request.budget_ms)
        bucket = f"((? + (rowid >> {SEQ_BITS})) / ?) * ?"
        try:
            with deadline.running():
                if isinstance(request.query, MatchAll) and width % 60_000 == 0:
                    counts = self._rollup_histogram(request, slices, width)
                else:
                    for sl in slices:
                        deadline.check()
                        if compiled.pure_match:  # bucketed from the FTS index alone
                            rows = self.conn.execute(
                                f"SELECT {bucket}, count(*) FROM fts_{sl.part.name} WHERE fts_{sl.part.name} MATCH ? "
                                "AND rowid >= ? AND rowid < ? GROUP BY 1",
                                (sl.part.start_ms, width, width, compiled.pure_match, sl.lo, sl.hi),
                            )
                        else:
                            rows = self.conn.execute(
                                f"SELECT {bucket}, count(*) FROM {sl.table} WHERE {sl.where} GROUP BY 1",
                                (sl.part.start_ms, width, width, *sl.params),
                            )
                        for start, n in rows:
                            counts[start] += n
        except sqlite3.OperationalError as exc:
            if "interrupted" not in str(exc):
                raise
            timed_out = True
        return histogram_buckets(counts, request), timed_out

    def _rollup_histogram(self, request, slices: list[Slice], width: int) -> Counter:
        """The unfiltered histogram from the per-minute counts; the partial minutes at the
        window's edges are counted exactly from the events."""
        start = request.start_ms if request.start_ms is not None else min((s.part.start_ms for s in slices), default=0)
        end = request.end_ms if request.end_ms is not None else max((s.part.end_ms for s in slices), default=0)
        inner_start, inner_end = -(-start // 60_000) * 60_000, (end // 60_000) * 60_000
        counts: Counter = Counter()
        if inner_start < inner_end:
            for minute, n in self.conn.execute(
                "SELECT minute_ms, events FROM minutes WHERE minute_ms >= ? AND minute_ms < ?", (inner_start, inner_end)
            ):
                counts[(minute // width) * width] += n
        edges = [(start, min(inner_start, end))] + ([(max(inner_end, start), end)] if inner_end >= inner_start else [])
        for lo_ms, hi_ms in edges:
            for sl in slices:
                lo = max(lo_ms, sl.part.start_ms)
                hi = min(hi_ms, sl.part.end_ms)
                if lo >= hi:
                    continue
                (n,) = self.conn.execute(
                    f"SELECT count(*) FROM {sl.table} WHERE rowid >= ? AND rowid < ?",
                    ((lo - sl.part.start_ms) << SEQ_BITS, (hi - sl.part.start_ms) << SEQ_BITS),
                ).fetchone()
                if n:
                    counts[(lo // width) * width] += n
        return counts
