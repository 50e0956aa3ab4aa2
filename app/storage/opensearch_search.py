"""Searching the OpenSearch backend: queries compiled to Query DSL over the read alias, hits
sorted by (@timestamp, event.id) with `search_after` cursors (a point in time from the second page
on), facets as `terms` and the histogram as a `date_histogram` aggregation.

`search_many(requests)` answers many requests in one `_msearch` (the alert scheduler's batched
evaluation): each request gets what `search` would give it, or the QueryError / StoreError that
`search` would raise, in its own place; one bad request never fails its neighbours.
"""

from __future__ import annotations

import base64
import contextlib
import logging
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, overload

import orjson

from ..query.ast import QueryError
from ..query.dsl import DSLCompiler
from ..query.fields import resolve
from . import opensearch_batch as batch
from .base import CursorError, Facet, FacetValue, SearchRequest, SearchResult, StoreError, histogram_buckets
from .opensearch_templates import SEARCH

log = logging.getLogger(__name__)

PIT_KEEP_ALIVE = "2m"
RETRY_STATUSES = {429, 502, 503, 504}
MSEARCH_BODIES = 200  # searches per `_msearch` request
SEARCH_PARAMS = {"ignore_unavailable": "true", "allow_no_indices": "true"}


def encode_cursor(ts: int, event_id: str, newest_first: bool, pit: str | None = None) -> str:
    raw = orjson.dumps([ts, event_id, "d" if newest_first else "a", pit])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, newest_first: bool) -> tuple[int, str, str | None]:
    try:
        ts, event_id, order, pit = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if not (isinstance(ts, int) and isinstance(event_id, str) and (pit is None or isinstance(pit, str))):
            raise ValueError
    except (ValueError, TypeError, orjson.JSONDecodeError):
        raise CursorError("cursor: not a cursor this server issued") from None
    if order != ("d" if newest_first else "a"):
        raise CursorError("cursor: issued for the other sort order")
    return ts, event_id, pit


def source(hit: dict) -> dict:
    """A hit's event. Generations made before the index-only search fields were mapped keep them
    in _source: they never leave the store."""
    event = hit["_source"]
    event.pop(SEARCH, None)
    return event


def reason(exc) -> str:
    info = exc.info if isinstance(exc.info, dict) else {}
    causes = (info.get("error") or {}).get("root_cause") or [{}]
    return causes[0].get("reason") or str(exc.error)


class SearchMixin:
    """The search half of OpenSearchStore (needs client, alias, _exc, _call, _refresh)."""

    if TYPE_CHECKING:  # provided by OpenSearchStore
        client: Any
        alias: str
        _exc: Any  # opensearchpy.exceptions

        def _refresh(self) -> None: ...
        def _call(self, method, **kwargs) -> Any: ...

    def search(self, request: SearchRequest) -> SearchResult:
        self._refresh()
        query = self._compiled(request)
        after = decode_cursor(request.cursor, request.newest_first) if request.cursor else None
        result = self._hits(request, query, after)
        body = self._aggs_body(request, query)
        if body is not None:
            try:
                response = self._call(self.client.search, index=self.alias, body=body, params=SEARCH_PARAMS)
            except self._exc.RequestError as exc:
                raise QueryError(f"the store refused these facets: {reason(exc)}") from None
            self._apply_aggs(request, response, result)
        elif request.facets or request.histogram_ms:
            self._apply_aggs(request, None, result)
        return result

    def search_many(self, requests: Sequence[SearchRequest]) -> list:
        """Each request's SearchResult, or the QueryError / StoreError it met, in one `_msearch`
        (requests with a cursor are searched one by one). Requests of one window and shape are
        merged into one search (opensearch_batch.py)."""
        try:
            self._refresh()
        except StoreError as exc:
            return [exc] * len(requests)
        out: list = [None] * len(requests)
        own: dict[int, tuple[dict, dict | None]] = {}  # position -> (compiled query, aggs body)
        keyed = []  # (position, key, filter, terms) of mergeable ones
        for i, request in enumerate(requests):
            try:
                if request.cursor:
                    out[i] = self.search(request)
                    continue
                found = self._filter(request)
                query = self._windowed(request, found)
                aggs = self._aggs_body(request, query)
            except (QueryError, StoreError, CursorError) as exc:
                out[i] = exc
                continue
            own[i] = (query, aggs)
            if request.size <= 0 and request.total_bound <= 0:
                out[i] = SearchResult(hits=[], total=0, total_exact=False)
            key = batch.shape(request)
            if key is not None:
                keyed.append((i, key, (request.start_ms, request.end_ms), found, aggs["aggs"]["f0"] if aggs else None))
        todo = batch.plan(keyed)
        merged = {i for g in todo for i, _, _ in g.members}
        bodies = [body for i in own if i not in merged for body in self._own_bodies(i, requests[i], *own[i])]
        answers: dict = {}
        while bodies or todo:
            answers.update(self._msearch(bodies + [(("merged", n), g.body or {}) for n, g in enumerate(todo)]))
            bodies, split = [], []
            for n, group in enumerate(todo):
                response = answers.pop(("merged", n))
                part = "aggs" if group.kind == "groups" else "hits"
                if isinstance(response, Exception):  # the whole request failed: so did each of its searches
                    answers.update({(i, part): response for i, _, _ in group.members})
                elif "error" not in response and not (response.get("_shards") or {}).get("failed"):
                    answers.update({(i, part): answer for i, answer in batch.answers(group, response)})
                elif len(group.members) > 1 and "too_many_buckets" in str(response.get("error")):
                    split += group.halves()
                else:  # refused, on some shard at least: each request on its own, so that the refusal (or the
                    # partial answer) is the one at fault's alone
                    log.info(
                        "a merged search of %d requests was refused, asking them one by one: %s",
                        len(group.members),
                        str(response.get("error") or response.get("_shards"))[:300],
                    )
                    bodies += [body for i, _, _ in group.members for body in self._own_bodies(i, requests[i], *own[i])]
            todo = split
        for i in own:
            request = requests[i]
            try:
                hits = answers.get((i, "hits"))
                result = out[i] if hits is None else self._hits_result(request, _checked(hits, "search"), None)
                if request.facets or request.histogram_ms:
                    aggs = answers.get((i, "aggs"))
                    self._apply_aggs(request, None if aggs is None else _checked(aggs, "facets"), result)
                out[i] = result
            except (QueryError, StoreError) as exc:
                out[i] = exc
        return out

    def _own_bodies(self, i: int, request: SearchRequest, query: dict, aggs: dict | None) -> list[tuple[tuple, dict]]:
        """The request at position i's own searches in an `_msearch`: its hits (when it wants hits
        or a total) and its aggregations (when it has any)."""
        bodies = []
        if request.size > 0 or request.total_bound > 0:
            bodies.append(((i, "hits"), self._hits_body(request, query, None)))
        if aggs is not None:
            bodies.append(((i, "aggs"), aggs))
        return bodies

    def _msearch(self, bodies: list[tuple[tuple, dict]]) -> dict:
        """{key: response (or the StoreError met)} of every (key, body), `_msearch` by `_msearch`."""
        header = orjson.dumps({"index": self.alias, "ignore_unavailable": True, "allow_no_indices": True})
        answers: dict = {}
        for start in range(0, len(bodies), MSEARCH_BODIES):
            chunk = bodies[start : start + MSEARCH_BODIES]
            payload = b"".join(header + b"\n" + orjson.dumps(body) + b"\n" for _, body in chunk)
            try:
                responses = self._call(self.client.msearch, body=payload)["responses"]
            except (StoreError, self._exc.TransportError) as exc:
                failure = exc if isinstance(exc, StoreError) else StoreError(f"OpenSearch refused a batch: {exc}")
                responses = [failure] * len(chunk)
            for (key, _), response in zip(chunk, responses, strict=False):
                answers[key] = response
        return answers

    def _filter(self, request: SearchRequest) -> dict:
        """The request's query in Query DSL, without its time window."""
        now_ms = request.now_ms if request.now_ms is not None else int(time.time() * 1000)
        return DSLCompiler(now_ms, inside_personal=request.inside_personal).compile(request.query)

    def _compiled(self, request: SearchRequest) -> dict:
        return self._windowed(request, self._filter(request))

    @staticmethod
    def _windowed(request: SearchRequest, query: dict) -> dict:
        window = {}
        if request.start_ms is not None:
            window["gte"] = request.start_ms
        if request.end_ms is not None:
            window["lt"] = request.end_ms
        if window:
            query = {"bool": {"filter": [query, {"range": {"@timestamp": {**window, "format": "epoch_millis"}}}]}}
        return query

    def _hits_body(self, request: SearchRequest, query: dict, after) -> dict:
        order = "desc" if request.newest_first else "asc"
        body: dict = {
            "query": query,
            "size": max(request.size, 0) + (1 if request.size > 0 else 0),
            "sort": [{"@timestamp": order}, {"event.id": order}],
            # OpenSearch counts up to a 32-bit bound; beyond it the total is "at least"
            "track_total_hits": min(request.total_bound, 2**31 - 1) if request.total_bound > 0 else False,
        }
        if after:
            body["search_after"] = [after[0], after[1]]
        return body

    def _hits(self, request: SearchRequest, query: dict, after) -> SearchResult:
        if request.size <= 0 and request.total_bound <= 0:  # only facets or a histogram: no hits request
            return SearchResult(hits=[], total=0, total_exact=False)
        body = self._hits_body(request, query, after)
        pit = None
        if after:
            pit = after[2] or self._open_pit()  # deep paging reads one snapshot from page 2 on
        response = self._search_paging(body, pit)
        if response is None:  # the snapshot expired: go on from the cursor without one
            pit = None
            response = self._search_paging(body, None)
        return self._hits_result(request, response, pit)

    def _hits_result(self, request: SearchRequest, response: dict, pit: str | None) -> SearchResult:
        hits = response["hits"]["hits"]
        total_info = response["hits"].get("total") or {}
        total = total_info.get("value", 0) if request.total_bound > 0 else 0
        exact = request.total_bound > 0 and total_info.get("relation") == "eq"
        next_cursor = None
        if request.size > 0 and len(hits) > request.size:
            hits = hits[: request.size]
            ts, eid = hits[-1]["sort"][:2]
            next_cursor = encode_cursor(ts, eid, request.newest_first, pit)
        elif pit:
            self._close_pit(pit)
        if request.total_bound > 0 and total > request.total_bound:
            total, exact = request.total_bound, False
        return SearchResult(hits=[source(h) for h in hits], total=total, total_exact=exact, next_cursor=next_cursor)

    @overload
    def _search_paging(self, body: dict, pit: None) -> dict: ...
    @overload
    def _search_paging(self, body: dict, pit: str | None) -> dict | None: ...

    def _search_paging(self, body: dict, pit: str | None) -> dict | None:
        """The search's answer; None when the snapshot `pit` is gone (only a snapshot can be)."""
        try:
            if pit:
                return self._call(self.client.search, body={**body, "pit": {"id": pit, "keep_alive": PIT_KEEP_ALIVE}})
            return self._call(self.client.search, index=self.alias, body=body, params=SEARCH_PARAMS)
        except (self._exc.NotFoundError, self._exc.RequestError) as exc:
            if pit:
                return None  # expired, closed or not a snapshot id at all
            if isinstance(exc, self._exc.NotFoundError):
                raise
            raise QueryError(f"the store refused this search: {reason(exc)}") from None

    def _open_pit(self) -> str | None:
        try:
            return self.client.create_pit(index=self.alias, params={"keep_alive": PIT_KEEP_ALIVE})["pit_id"]
        except self._exc.TransportError:
            return None  # no snapshot (e.g. no index yet): search_after alone still never repeats

    def _close_pit(self, pit: str) -> None:
        with contextlib.suppress(self._exc.TransportError):  # it expires on its own
            self.client.delete_pit(body={"pit_id": [pit]})

    def _aggs_body(self, request: SearchRequest, query: dict) -> dict | None:
        """The facets' and histogram's search; None when there are none or no time is allowed."""
        if not (request.facets or request.histogram_ms) or request.budget_ms <= 0:
            return None
        aggs: dict = {}
        for i, name in enumerate(request.facets):
            aggs[f"f{i}"] = {
                "terms": {
                    "field": self._facet_field(name),
                    "size": request.facet_size,
                    "shard_size": max(request.facet_size * 5, 100),
                    "order": [{"_count": "desc"}, {"_key": "asc"}],
                }
            }
        if request.histogram_ms:
            aggs["histogram"] = {
                "date_histogram": {"field": "@timestamp", "fixed_interval": f"{request.histogram_ms}ms", "min_doc_count": 1}
            }
        return {"query": query, "size": 0, "track_total_hits": False, "aggs": aggs, "timeout": f"{request.budget_ms}ms"}

    def _apply_aggs(self, request: SearchRequest, response: dict | None, result: SearchResult) -> None:
        """Facets and histogram from the aggregations' response (None: no time was allowed)."""
        timed_out = response is None or bool(response.get("timed_out"))
        buckets = (response or {}).get("aggregations") or {}
        for i, name in enumerate(request.facets):
            agg = buckets.get(f"f{i}", {})
            values = [
                FacetValue(b.get("key_as_string", b["key"]) if resolve(name).type != "date" else b["key"], b["doc_count"])
                for b in agg.get("buckets", [])
            ]
            result.facets[name] = Facet(
                values, approximate=agg.get("doc_count_error_upper_bound", 0) > 0, timed_out=timed_out
            )
        if request.histogram_ms:
            counts = {b["key"]: b["doc_count"] for b in buckets.get("histogram", {}).get("buckets", [])}
            result.histogram = histogram_buckets(counts, request)
            result.histogram_timed_out = timed_out

    @staticmethod
    def _facet_field(name: str) -> str:
        info = resolve(name)
        if info.type in ("text", "labels", "changes", "namespace") or name.startswith("labels."):
            raise QueryError(f"{name} cannot be a facet on this store: choose a keyword, number or date field", field=name)
        return info.name


def _checked(response, what: str) -> dict:
    """One `_msearch` answer, or the error `search` would have raised for it."""
    if isinstance(response, Exception):
        raise response
    if "error" not in response:
        return response
    status = response.get("status", 500)
    error: dict = response["error"] if isinstance(response["error"], dict) else {"reason": str(response["error"])}
    cause = (error.get("root_cause") or [error])[0].get("reason") or error.get("type")
    if status in RETRY_STATUSES:
        raise StoreError(f"OpenSearch cannot answer now ({status}): {cause}")
    raise QueryError(f"the store refused this {what}: {cause}")
