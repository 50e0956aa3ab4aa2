"""Search over the embedded store's day partitions: hits with cursor paging, bounded totals,
facets and a histogram. Partitions are visited newest first (or oldest first), so the first
page, the bounded total and the facets over the newest matches stop early on large stores.
"""
from __future__ import annotations

import base64
import sqlite3
import time
from collections import Counter
from contextlib import contextmanager

import orjson

from ..query.ast import QueryError
from ..query.fields import resolve
from ..query.sql import DAY, Compiled, KeyIndex, SQLCompiler, json_path
from .base import Bucket, CursorError, Facet, FacetValue, Partition, SearchRequest, SearchResult


def encode_cursor(day: str, ts: int, rowid: int, newest_first: bool) -> str:
    raw = orjson.dumps([day, ts, rowid, "d" if newest_first else "a"])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, newest_first: bool) -> tuple[str, int, int]:
    try:
        day, ts, rowid, order = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if not (isinstance(day, str) and day.isdigit() and isinstance(ts, int) and isinstance(rowid, int)):
            raise ValueError
    except (ValueError, TypeError, orjson.JSONDecodeError):
        raise CursorError("cursor: not a cursor this server issued") from None
    if order != ("d" if newest_first else "a"):
        raise CursorError("cursor: issued for the other sort order")
    return day, ts, rowid


class Deadline:
    """Aborts the connection's running statement once `budget_ms` have passed."""

    def __init__(self, conn: sqlite3.Connection, budget_ms: int):
        self.conn, self.budget_ms = conn, budget_ms
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

    def _run(self, request: SearchRequest) -> SearchResult:
        now_ms = request.now_ms if request.now_ms is not None else int(time.time() * 1000)
        compiled = SQLCompiler(self.keys, now_ms).compile(request.query)
        days = [p for p in self.partitions
                if (request.start_ms is None or p.end_ms > request.start_ms)
                and (request.end_ms is None or p.start_ms < request.end_ms)]
        days.sort(key=lambda p: p.name, reverse=request.newest_first)
        window_sql, window_params = ["1"], []
        if request.start_ms is not None:
            window_sql.append("ts >= ?")
            window_params.append(request.start_ms)
        if request.end_ms is not None:
            window_sql.append("ts < ?")
            window_params.append(request.end_ms)
        base_sql = " AND ".join(window_sql) + f" AND {compiled.sql}"
        base_params = window_params + compiled.params

        hits, next_cursor = self._hits(request, days, base_sql, base_params, compiled)
        total, exact = self._total(request, days, base_sql, base_params)
        if request.cursor is None and len(hits) < request.size and exact:
            total = len(hits)  # the whole result is on this page: no need to trust the bound
        result = SearchResult(hits=hits, total=total, total_exact=exact, next_cursor=next_cursor)
        newest = sorted(days, key=lambda p: p.name, reverse=True)
        for name in request.facets:
            result.facets[name] = self._facet(request, newest, base_sql, base_params, name)
        if request.histogram_ms:
            result.histogram, result.histogram_timed_out = self._histogram(request, days, base_sql, base_params)
        return result

    # -- hits and paging ---------------------------------------------------------------

    def _hits(self, request, days, base_sql, base_params, compiled: Compiled) -> tuple[list[dict], str | None]:
        order = "DESC" if request.newest_first else "ASC"
        after = decode_cursor(request.cursor, request.newest_first) if request.cursor else None
        hits: list[dict] = []
        last = None
        for part in days:
            if after and (part.name > after[0] if request.newest_first else part.name < after[0]):
                continue  # pages already served
            sql, params = base_sql, list(base_params)
            if after and part.name == after[0]:
                op = "<" if request.newest_first else ">"
                sql += f" AND (ts {op} ? OR (ts = ? AND rowid {op} ?))"
                params += [after[1], after[1], after[2]]
            need = request.size + 1 - len(hits)  # one more than asked: is there a next page?
            # `+ts` stops SQLite from walking the time index when an FTS lookup can drive the query
            ts = "+ts" if compiled.uses_fts else "ts"
            rows = self.conn.execute(
                f"SELECT rowid, ts, doc FROM ev_{part.name} WHERE {sql.replace(DAY, part.name)} "
                f"ORDER BY {ts} {order}, rowid {order} LIMIT ?", (*params, need)).fetchall()
            for rowid, ts_ms, doc in rows:
                if len(hits) == request.size:
                    return hits, encode_cursor(last[0], last[1], last[2], request.newest_first)
                hits.append(orjson.loads(doc))
                last = (part.name, ts_ms, rowid)
        return hits, None

    def _total(self, request, days, base_sql, base_params) -> tuple[int, bool]:
        if request.total_bound <= 0:  # the caller does not need a count (paging through, context)
            return 0, False
        total = 0
        for part in days:
            remaining = request.total_bound - total + 1
            (n,) = self.conn.execute(
                f"SELECT count(*) FROM (SELECT 1 FROM ev_{part.name} WHERE {base_sql.replace(DAY, part.name)} LIMIT ?)",
                (*base_params, remaining)).fetchone()
            total += n
            if total > request.total_bound:
                return request.total_bound, False
        return total, True

    # -- facets and histogram ----------------------------------------------------------

    def _facet(self, request, newest: list[Partition], base_sql, base_params, name: str) -> Facet:
        info = resolve(name)
        expr, expr_params = ("ts", []) if name == "@timestamp" else \
            (info.column, []) if info.column else ("json_extract(doc, ?)", [json_path(info.path)])
        counts: Counter = Counter()
        facet = Facet()
        remaining = request.facet_bound
        deadline = Deadline(self.conn, request.budget_ms)
        try:
            with deadline.running():
                for part in newest:
                    deadline.check()
                    if remaining <= 0:
                        facet.approximate = True
                        break
                    where = base_sql.replace(DAY, part.name)
                    rows = self.conn.execute(
                        f"SELECT v, count(*) FROM (SELECT {expr} AS v FROM ev_{part.name} WHERE {where} "
                        f"ORDER BY ts DESC LIMIT ?) GROUP BY v", (*expr_params, *base_params, remaining)).fetchall()
                    seen = sum(n for _, n in rows)
                    remaining -= seen
                    counts.update({v: n for v, n in rows if v is not None})
                    if remaining <= 0 and part is not newest[-1]:
                        facet.approximate = True
        except sqlite3.OperationalError as exc:
            if "interrupted" not in str(exc):
                raise
            facet.timed_out = True
        facet.values = [FacetValue(v, n) for v, n in sorted(counts.items(), key=lambda kv: (-kv[1], str(kv[0])))
                        [:request.facet_size]]
        return facet

    def _histogram(self, request, days, base_sql, base_params) -> tuple[list[Bucket], bool]:
        width = request.histogram_ms
        counts: Counter = Counter()
        timed_out = False
        deadline = Deadline(self.conn, request.budget_ms)
        try:
            with deadline.running():
                for part in days:
                    deadline.check()
                    where = base_sql.replace(DAY, part.name)
                    for bucket, n in self.conn.execute(
                            f"SELECT (ts / ?) * ?, count(*) FROM ev_{part.name} WHERE {where} GROUP BY 1",
                            (width, width, *base_params)):
                        counts[bucket] += n
        except sqlite3.OperationalError as exc:
            if "interrupted" not in str(exc):
                raise
            timed_out = True
        if request.start_ms is not None and request.end_ms is not None:
            first, last = (request.start_ms // width) * width, ((request.end_ms - 1) // width) * width
            if (last - first) // width < 10_000:  # the window's every bucket, zeros included
                return [Bucket(start, counts.get(start, 0)) for start in range(first, last + 1, width)], timed_out
        return [Bucket(start, n) for start, n in sorted(counts.items())], timed_out
