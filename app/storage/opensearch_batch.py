"""Merging the searches of one `_msearch` that share a shape (search_many in opensearch_search.py).

On a node every search pays a fixed cost per shard it reaches, whatever it counts; the alert
scheduler asks hundreds of small counts at one moment, most of them over the same few windows.
So requests of the same window and shape become one search: the window is the search's query,
and each request's own query one named filter of a `filters` aggregation —

    count    no facets, no histogram, at most MAX_SAMPLES hits: the bucket's doc_count is the
             total (exact, then bounded as track_total_hits would bound it) and a `top_hits` under
             it, sorted as the hits are, the newest (or oldest) hits;
    groups   one facet, no hits and no total: the facet's `terms` under the bucket, with the
             same size, shard_size, order and timeout as the request's own search.

A request's answer is the one its own search would give (tests/test_opensearch_batch.py
compares them). A merged search the node refuses (e.g. a field it cannot count values of) is
sent again request by request, so the refusal lands on the request at fault alone — unless it
had more value counts than a response may hold (search.max_buckets): then it is split in halves.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from .base import SearchRequest

MAX_FILTERS = 100        # requests per merged search
MAX_SAMPLES = 99         # top_hits' limit is 100 (index.max_inner_result_window), and we ask size + 1
TOTAL_LIMIT = 2**31 - 1  # track_total_hits' own bound


@dataclass
class Group:
    """Requests merged into one search: their positions and filter queries, and the body."""
    key: tuple
    members: list[tuple[int, dict]] = field(default_factory=list)
    terms: dict | None = None
    body: dict | None = None

    @property
    def kind(self) -> str:                       # "count" | "groups"
        return self.key[0]

    def halves(self) -> list["Group"]:
        """The same requests in two searches (value counts too many for one response)."""
        middle = len(self.members) // 2
        return [made(self.key, part, self.terms) for part in (self.members[:middle], self.members[middle:])]


def made(key: tuple, members: list[tuple[int, dict]], terms: dict | None) -> Group:
    return Group(key, members, terms, body(key, [q for _, q in members], terms))


def shape(request: SearchRequest) -> tuple | None:
    """The key requests are merged by, None for a request searched on its own."""
    if request.cursor or request.histogram_ms:
        return None
    window = (request.start_ms, request.end_ms)
    if not request.facets:
        if request.size <= 0 and request.total_bound <= 0:
            return None          # answered without a search
        if request.size > MAX_SAMPLES:
            return None
        return ("count", window, max(request.size, 0), request.newest_first)
    if len(request.facets) == 1 and request.size <= 0 and request.total_bound <= 0 and request.budget_ms > 0:
        return ("groups", window, request.facets[0], request.facet_size, request.budget_ms)
    return None


def window_query(window: tuple[int | None, int | None]) -> dict:
    start, end = window
    bounds = {}
    if start is not None:
        bounds["gte"] = start
    if end is not None:
        bounds["lt"] = end
    if not bounds:
        return {"match_all": {}}
    return {"bool": {"filter": [{"range": {"@timestamp": {**bounds, "format": "epoch_millis"}}}]}}


def body(key: tuple, filters: list[dict], terms: dict | None) -> dict:
    """One merged search: the window, one named filter per request, and what each bucket needs."""
    kind, window = key[0], key[1]
    sub: dict = {}
    out: dict = {"query": window_query(window), "size": 0, "track_total_hits": False}
    if kind == "count":
        size, newest_first = key[2], key[3]
        if size > 0:
            order = "desc" if newest_first else "asc"
            sub["hits"] = {"top_hits": {"size": size + 1, "sort": [{"@timestamp": order}, {"event.id": order}]}}
    else:
        sub["f0"] = terms
        out["timeout"] = f"{key[4]}ms"
    agg: dict = {"filters": {"filters": {str(i): f for i, f in enumerate(filters)}}}
    if sub:
        agg["aggs"] = sub
    out["aggs"] = {"m": agg}
    return out


def plan(keyed: list[tuple[int, tuple, dict, dict | None]]) -> list[Group]:
    """The merged searches for (position, key, filter query, the facet's `terms` aggregation or
    None) of every mergeable request; a key with a single request is left to its own search."""
    by_key: dict[tuple, list[tuple[int, dict]]] = {}
    terms_of: dict[tuple, dict | None] = {}
    for position, key, query, terms in keyed:
        by_key.setdefault(key, []).append((position, query))
        terms_of.setdefault(key, terms)
    groups = []
    for key, members in by_key.items():
        if len(members) == 1:
            continue
        for start in range(0, len(members), MAX_FILTERS):
            chunk = members[start:start + MAX_FILTERS]
            groups.append(made(key, chunk, terms_of[key]))
    return groups


def answers(group: Group, response: dict) -> list[tuple[int, dict]]:
    """Each member's answer in the shape of its own search's response: for a count, a hits
    response (total as track_total_hits reports it); for groups, an aggregations response."""
    buckets = response["aggregations"]["m"]["buckets"]
    out = []
    for i, (position, _) in enumerate(group.members):
        bucket = buckets[str(i)]
        if group.kind == "count":
            n = bucket["doc_count"]
            hits = bucket.get("hits", {}).get("hits", {}).get("hits", [])
            total = {"value": min(n, TOTAL_LIMIT), "relation": "eq" if n <= TOTAL_LIMIT else "gte"}
            out.append((position, {"hits": {"hits": hits, "total": total}}))
        else:
            out.append((position, {"timed_out": response.get("timed_out", False), "aggregations": {"f0": bucket["f0"]}}))
    return out
