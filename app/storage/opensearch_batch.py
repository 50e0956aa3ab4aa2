"""Merging the searches of one `_msearch` that share a shape (search_many in opensearch_search.py).

On a node every search pays a fixed cost per shard it reaches, and every query a fixed cost
per segment (its terms looked up), whatever it counts; the alert scheduler asks hundreds of
small counts at one moment over a few windows (the rules' windows and the same windows of
earlier weeks) and a few dozen distinct queries. So requests of one shape become one search:
its query the union of their windows, a `date_range` aggregation with a bucket per window and,
under it, a `filters` aggregation with a bucket per distinct query (so a query is looked up
once per segment however many windows ask it), and under those what the shape needs —

    count    no facets, no histogram, no hits: the (window, query) bucket's doc_count is the
             total (exact, then bounded as track_total_hits would bound it);
    hits     a count with up to MAX_SAMPLES hits, merged only with its own window: a `top_hits`
             under the bucket, sorted as the hits are (newest or oldest first);
    groups   one facet, no hits and no total: the facet's `terms` under the bucket, with the
             same size, shard_size, order and timeout as the request's own search.

A request's answer is the one its own search would give (tests/test_opensearch_batch.py
compares them). A merged search the node refuses (e.g. a field it cannot count values of), or
answers with a failed shard, is sent again request by request, so the refusal (or the partial
answer) is the request at fault's alone — unless it had more value counts than a response may
hold (search.max_buckets): then it is split in halves.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import cast

import orjson

from .base import SearchRequest

MAX_CELLS = 256  # (window, query) pairs per merged search
MAX_GROUP_CELLS = 64  # ... of value counts (each pair lists up to facet_size values: search.max_buckets)
MAX_SAMPLES = 99  # top_hits' limit is 100 (index.max_inner_result_window), and we ask size + 1
TOTAL_LIMIT = 2**31 - 1  # track_total_hits' own bound

Window = tuple[int | None, int | None]


@dataclass
class Group:
    """Requests merged into one search: (position, window, filter query) of each, and the body."""

    key: tuple
    members: list[tuple[int, Window, dict]] = field(default_factory=list)
    terms: dict | None = None
    body: dict | None = None
    windows: dict[Window, int] = field(default_factory=dict)  # window -> its bucket
    queries: dict[bytes, int] = field(default_factory=dict)  # a filter's JSON -> its bucket

    @property
    def kind(self) -> str:  # "count" | "hits" | "groups"
        return self.key[0]

    def halves(self) -> list[Group]:
        """The same requests in two searches (value counts too many for one response)."""
        middle = len(self.members) // 2
        return [made(self.key, part, self.terms) for part in (self.members[:middle], self.members[middle:])]


def made(key: tuple, members: list[tuple[int, Window, dict]], terms: dict | None) -> Group:
    group = Group(key, members, terms)
    filters: list[dict] = []
    for _, window, query in members:
        group.windows.setdefault(window, len(group.windows))
        text = orjson.dumps(query, option=orjson.OPT_SORT_KEYS)
        if text not in group.queries:
            group.queries[text] = len(filters)
            filters.append(query)
    group.body = body(key, list(group.windows), filters, terms)
    return group


def shape(request: SearchRequest) -> tuple | None:
    """The key requests are merged by, None for a request searched on its own. Counts and value
    counts of any windows share a search; counts with hits share it with their own window only."""
    if request.cursor or request.histogram_ms or request.start_ms is None or request.end_ms is None:
        return None
    if not request.facets:
        if request.size <= 0 and request.total_bound <= 0:
            return None  # answered without a search
        if request.size <= 0:
            return ("count",)
        if request.size > MAX_SAMPLES:
            return None
        return ("hits", (request.start_ms, request.end_ms), request.size, request.newest_first)
    if len(request.facets) == 1 and request.size <= 0 and request.total_bound <= 0 and request.budget_ms > 0:
        return ("groups", request.facets[0], request.facet_size, request.budget_ms)
    return None


def window_query(window: Window) -> dict:
    start, end = window
    return {"bool": {"filter": [{"range": {"@timestamp": {"gte": start, "lt": end, "format": "epoch_millis"}}}]}}


def any_of(windows: list[Window]) -> dict:
    """The events of any of the windows: a range per stretch of overlapping or touching windows
    (the windows of one moment and their earlier weeks make a few stretches)."""
    stretches: list[list[int]] = []
    # (typed as bounded: several windows compare their bounds; a lone window may lack one)
    for start, end in sorted(cast("list[tuple[int, int]]", windows)):
        if stretches and start <= stretches[-1][1]:
            stretches[-1][1] = max(stretches[-1][1], end)
        else:
            stretches.append([start, end])
    if len(stretches) == 1:
        return window_query((stretches[0][0], stretches[0][1]))
    return {
        "bool": {
            "filter": [{"bool": {"should": [window_query((s[0], s[1])) for s in stretches], "minimum_should_match": 1}}]
        }
    }


def body(key: tuple, windows: list[Window], filters: list[dict], terms: dict | None) -> dict:
    """One merged search: the windows, a bucket per window (a `date_range` aggregation: no query
    per window to look up in every segment) and, under each, one per query (each query is looked
    up once per segment, whatever the number of windows), and under those what the shape needs."""
    sub: dict = {}
    out: dict = {"query": any_of(windows), "size": 0, "track_total_hits": False}
    if key[0] == "hits":
        size, newest_first = key[2], key[3]
        order = "desc" if newest_first else "asc"
        sub["hits"] = {"top_hits": {"size": size + 1, "sort": [{"@timestamp": order}, {"event.id": order}]}}
    elif key[0] == "groups":
        sub["f0"] = terms
        out["timeout"] = f"{key[3]}ms"
    inner: dict = {"filters": {"filters": {str(i): f for i, f in enumerate(filters)}}}
    if sub:
        inner["aggs"] = sub
    ranges = [{"key": f"w{j}", "from": start, "to": end} for j, (start, end) in enumerate(windows)]
    out["aggs"] = {
        "m": {
            "date_range": {"field": "@timestamp", "format": "epoch_millis", "keyed": True, "ranges": ranges},
            "aggs": {"q": inner},
        }
    }
    return out


def plan(keyed: list[tuple[int, tuple, Window, dict, dict | None]]) -> list[Group]:
    """The merged searches for (position, key, window, filter query, the facet's `terms`
    aggregation or None) of every mergeable request, at most MAX_CELLS (window, query) pairs
    each (MAX_GROUP_CELLS for value counts); a key with a single request is left to its own search."""
    by_key: dict[tuple, list[tuple[int, Window, dict]]] = {}
    terms_of: dict[tuple, dict | None] = {}
    for position, key, window, query, terms in keyed:
        by_key.setdefault(key, []).append((position, window, query))
        terms_of.setdefault(key, terms)
    groups = []
    for key, members in by_key.items():
        if len(members) == 1:
            continue
        cells = MAX_GROUP_CELLS if key[0] == "groups" else MAX_CELLS
        chunk: list = []
        windows: set = set()
        queries: set = set()
        for member in sorted(members, key=lambda m: m[1]):
            text = orjson.dumps(member[2], option=orjson.OPT_SORT_KEYS)
            if chunk and len(windows | {member[1]}) * len(queries | {text}) > cells:
                groups.append(made(key, chunk, terms_of[key]))
                chunk, windows, queries = [], set(), set()
            chunk.append(member)
            windows.add(member[1])
            queries.add(text)
        groups.append(made(key, chunk, terms_of[key]))
    return groups


def answers(group: Group, response: dict) -> list[tuple[int, dict]]:
    """Each member's answer in the shape of its own search's response: for a count, a hits
    response (total as track_total_hits reports it); for groups, an aggregations response."""
    buckets = response["aggregations"]["m"]["buckets"]
    out = []
    for position, window, query in group.members:
        bucket = buckets[f"w{group.windows[window]}"]["q"]["buckets"][
            str(group.queries[orjson.dumps(query, option=orjson.OPT_SORT_KEYS)])
        ]
        if group.kind == "groups":
            out.append((position, {"timed_out": response.get("timed_out", False), "aggregations": {"f0": bucket["f0"]}}))
        else:
            n = bucket["doc_count"]
            hits = bucket.get("hits", {}).get("hits", {}).get("hits", [])
            total = {"value": min(n, TOTAL_LIMIT), "relation": "eq" if n <= TOTAL_LIMIT else "gte"}
            out.append((position, {"hits": {"hits": hits, "total": total}}))
    return out
