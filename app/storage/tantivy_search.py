"""Search over the tantivy store: hits with cursor paging, exact totals, facets and a
histogram, merged over the partitions and shards a query covers.

Hits come from each index sorted by the fast field `seq` (time, then arrival) and are merged by
it; a page asks each index for one more than it needs, to know whether there is a next page.
Totals, facets and the histogram are one aggregation request per index, counted over every
match (tantivy reads the fast-field columns): exact whatever the range.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import replace
from typing import Any

from tantivy import FieldType, Order, Query

from ..query.fields import resolve
from ..rollups import answer
from .base import Facet, FacetValue, SearchRequest, SearchResult, histogram_buckets
from .tantivy_docs import decode_cursor, encode_cursor
from .tantivy_query import TantivyCompiler, all_of, any_of, tantivy_path, time_range
from .tantivy_schema import SEQ_BITS, index_schema

TERMS_SIZE = 1000  # values per facet each index returns (merged, then cut to facet_size)
NOT_COUNTED = {"event.id", "@timestamp"}  # one event a value: no facet (the histogram counts time)


class TantivySearch:
    def __init__(self, store):
        self.store = store

    def run(self, request: SearchRequest) -> SearchResult:
        started = time.monotonic()
        now_ms = request.now_ms if request.now_ms is not None else int(time.time() * 1000)
        query = all_of(
            [
                TantivyCompiler(now_ms, request.inside_personal).compile(request.query),
                time_range(request.start_ms, request.end_ms),
            ]
        )
        spans = [
            (name, start, end)
            for name, start, end in self.store._spans()
            if (request.start_ms is None or end > request.start_ms) and (request.end_ms is None or start < request.end_ms)
        ]
        spans.sort(key=lambda m: m[1], reverse=request.newest_first)
        shards = [(name, self.store.named_shard_indexes(name)) for name, _, _ in spans]
        indexes = [(name, [index for _, index in named]) for name, named in shards]
        hits, next_cursor = self._hits(request, query, indexes)
        result = SearchResult(hits=hits, total=0, total_exact=False, next_cursor=next_cursor)
        named = [(name, shard, index.searcher()) for name, found in shards for shard, index in found]
        searchers = [searcher for _, _, searcher in named]
        aggs = None
        rollups = getattr(self.store, "rollups", None)
        if rollups is not None and spans and (request.total_bound > 0 or request.facets or request.histogram_ms):
            # an open window is the stored partitions' span (the same events)
            bounded = replace(
                request,
                start_ms=min(s for _, s, _ in spans) if request.start_ms is None else request.start_ms,
                end_ms=max(e for _, _, e in spans) if request.end_ms is None else request.end_ms,
            )
            found = answer.plan(
                bounded.query,
                bounded.start_ms,
                bounded.end_ms,
                bounded.facets,
                bounded.histogram_ms,
                rollups.dimensions(),
                total=request.total_bound > 0,
            )
            if found is not None:
                aggs = self._aggregate_with_rollups(bounded, query, named, started, found, rollups)
        if aggs is None and not (request.total_bound > 0 or request.facets or request.histogram_ms):
            aggs = {
                "total": 0,
                "facets": {},
                "inexact": set(),
                "histogram": Counter(),
                "timed_out": False,
                "counted": 0,
            }  # hits only (the newest event of something): nothing to count
        if aggs is None:
            aggs = self._aggregate(request, query, searchers, started)
        if request.total_bound > 0:
            total = aggs["total"]
            result.total, result.total_exact = min(total, request.total_bound), total <= request.total_bound
        if request.facets:
            result.facets = self._facets(request, aggs)
        if request.histogram_ms:
            result.histogram = histogram_buckets(aggs["histogram"], request)
            result.histogram_timed_out = aggs["timed_out"]
        if aggs["timed_out"] and (request.facets or request.histogram_ms):
            result.counted = aggs["counted"]
        return result

    # -- hits and paging ---------------------------------------------------------------

    def _hits(self, request: SearchRequest, query: Query, indexes) -> tuple[list[dict], str | None]:
        if request.size <= 0:
            return [], None
        desc = request.newest_first
        after = decode_cursor(request.cursor, desc) if request.cursor else None
        if after is not None:
            bound = (
                Query.range_query(index_schema(), "seq", FieldType.Unsigned, None, after, include_upper=False)
                if desc
                else Query.range_query(index_schema(), "seq", FieldType.Unsigned, after, None, include_lower=False)
            )
            query = all_of([query, bound])
        order = Order.Desc if desc else Order.Asc
        found: list[tuple[int, Any, Any]] = []  # (seq, address, searcher)
        need = request.size + 1
        for name, shards in indexes:
            if after is not None:
                start, end = _span_bounds(name)
                if (desc and start > after >> SEQ_BITS) or (not desc and end <= after >> SEQ_BITS):
                    continue  # partitions already served
            found_here: list[tuple[int, object, object]] = []
            for index in shards:
                searcher = index.searcher()
                for seq, address in searcher.search(
                    query, need - len(found), count=False, order_by_field="seq", order=order
                ).hits:
                    found_here.append((seq, address, searcher))
            found_here.sort(key=lambda hit: hit[0], reverse=desc)
            found.extend(found_here[: need - len(found)])
            if len(found) >= need:
                break
        page = found[: request.size]
        decode = self.store.codec.decode
        hits = [decode(searcher.doc(address)["doc"][0]) for _, address, searcher in page]
        next_cursor = encode_cursor(page[-1][0], desc) if len(found) > request.size else None
        return hits, next_cursor

    # -- counts ------------------------------------------------------------------------

    def _aggregate(self, request: SearchRequest, query: Query, searchers, started: float) -> dict:
        """One aggregation request per index: the total, the fast facets and the histogram."""
        spec: dict = {"total": {"value_count": {"field": "seq"}}}
        for i, name in enumerate(request.facets):
            if name in NOT_COUNTED:
                continue
            spec[f"f{i}"] = {
                "terms": {"field": tantivy_path(resolve(name)), "size": TERMS_SIZE, "segment_size": TERMS_SIZE * 10}
            }
        if request.histogram_ms:
            spec["h"] = {"histogram": {"field": "ts", "interval": request.histogram_ms, "min_doc_count": 1}}
        total = counted = 0
        facets: dict[str, Counter] = {}
        inexact: set[str] = set()
        histogram: Counter = Counter()
        stop_at = started + request.budget_ms / 1000
        timed_out = False
        for searcher in searchers:
            if timed_out or time.monotonic() >= stop_at:
                # out of time: the rest is counted, not bucketed (facets and histogram say so)
                timed_out = True
                total += searcher.search(query, 1, count=True, order_by_field="seq").count
                continue
            out = searcher.aggregate(query, spec)
            here = int(out["total"]["value"] or 0)
            total += here
            counted += here
            for key, value in out.items():
                if key.startswith("f"):
                    counter = facets.setdefault(key, Counter())
                    for bucket in value["buckets"]:
                        counter[bucket["key"]] += bucket["doc_count"]
                    if value.get("sum_other_doc_count") or value.get("doc_count_error_upper_bound"):
                        inexact.add(key)
            for bucket in out.get("h", {}).get("buckets", ()):
                histogram[int(bucket["key"])] += bucket["doc_count"]
        return {
            "total": total,
            "facets": facets,
            "inexact": inexact,
            "histogram": histogram,
            "timed_out": timed_out,
            "counted": counted,
        }

    def _aggregate_with_rollups(
        self, request: SearchRequest, query: Query, named: list, started: float, plan: answer.Plan, rollups
    ) -> dict | None:
        """`_aggregate`'s answer with what the rollups hold taken from them (app/rollups/answer.py):
        the facets on count dimensions and the histogram over the window's whole minutes; the
        index counts the partial minutes at each end and the other facets. None when the rollups
        do not count exactly the events the indexes hold. `named`: (partition, shard, searcher)."""
        spans = self.store._spans()
        start_ms, end_ms = request.start_ms, request.end_ms  # (bounded by the caller)
        if not spans or start_ms is None or end_ms is None:
            return None
        plan = replace(plan, inner_start=max(plan.inner_start, spans[0][1]))  # retention dropped the rest
        if plan.inner_end - plan.inner_start < answer.MINUTE_MS:
            return None
        inside = [
            (name, shard, searcher)
            for name, shard, searcher in named
            if _span_bounds(name)[0] < end_ms and _span_bounds(name)[1] > start_ms
        ]
        if sum(searcher.num_docs for _, _, searcher in inside) < answer.FROM_EVENTS:
            return None  # few events: the index counts them as fast
        with rollups.snapshot():
            counted_docs = rollups.counted()
            for name, shard, searcher in named:
                start, end = _span_bounds(name)
                if (
                    start < plan.inner_end
                    and end > plan.inner_start
                    and counted_docs.get((name, shard), 0) != searcher.num_docs
                ):
                    return None  # rollups missing or behind: the index counts it all
            counted = answer.count(rollups, plan, request.facets, request.histogram_ms)
        searchers = [searcher for _, _, searcher in named]
        rest = tuple(name for i, name in enumerate(request.facets) if i not in plan.dims)
        dims = tuple(request.facets[i] for i in plan.dims)
        edges = all_of([query, any_of([time_range(start_ms, plan.inner_start), time_range(plan.inner_end, end_ms)])])
        edge = self._aggregate(
            replace(request, facets=dims, histogram_ms=request.histogram_ms if plan.histogram else None),
            edges,
            searchers,
            started,
        )
        whole = None
        if rest or (request.histogram_ms and not plan.histogram):
            whole = self._aggregate(
                replace(request, facets=rest, histogram_ms=None if plan.histogram else request.histogram_ms),
                query,
                searchers,
                started,
            )
        if edge["timed_out"] or (whole and whole["timed_out"]):
            return None
        total = whole["total"] if whole else counted.total + edge["total"]
        facets: dict[str, Counter] = {}
        inexact: set[str] = set()
        for i, name in enumerate(request.facets):
            if i in plan.dims:
                facets[f"f{i}"] = counted.facets[i] + edge["facets"].get(f"f{dims.index(name)}", Counter())
            elif name not in NOT_COUNTED and whole:
                facets[f"f{i}"] = whole["facets"].get(f"f{rest.index(name)}", Counter())
                if f"f{rest.index(name)}" in whole["inexact"]:
                    inexact.add(f"f{i}")
        histogram = counted.histogram + edge["histogram"] if plan.histogram else (whole or edge)["histogram"]
        return {
            "total": total,
            "facets": facets,
            "inexact": inexact,
            "histogram": histogram,
            "timed_out": False,
            "counted": total,
        }

    def _facets(self, request: SearchRequest, aggs: dict) -> dict[str, Facet]:
        out = {}
        for i, name in enumerate(request.facets):
            counter = aggs["facets"].get(f"f{i}", Counter())
            top = sorted(counter.items(), key=lambda kv: (-kv[1], str(kv[0])))[: request.facet_size]
            out[name] = Facet(
                [FacetValue(_value(name, v), n) for v, n in top],
                approximate=f"f{i}" in aggs["inexact"],
                timed_out=aggs["timed_out"],
            )
        return out


def _span_bounds(name: str) -> tuple[int, int]:
    from .partitioning import name_span

    return name_span(name)


def _value(name: str, value):
    """A facet value as the document holds it (tantivy's numeric terms come back as numbers,
    booleans as 0/1 or text)."""
    info = resolve(name)
    if info.type == "long" and isinstance(value, float) and value.is_integer():
        return int(value)
    if info.type == "boolean" and not isinstance(value, bool):
        return value in (1, "true", True)
    return value
