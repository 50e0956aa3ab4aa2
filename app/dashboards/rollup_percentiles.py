"""Percentiles of integration call durations from the per-minute rollups' latency sketches
(app/rollups/sketch.py), for the percentiles panels that allow it — instead of reading the newest
PERCENTILE_MAX events, the whole range is counted.

    from_rollups(reader, panel, max_edge) -> figures (the percentiles panel's shape) or None

A panel qualifies when it measures `integration.duration`, is grouped by nothing or by
`integration.provider`, and its query is `event.component:integration`, optionally narrowed by
`integration.provider` values (terms, ORs of terms, ANDed). Anything else — and a store without
rollups — returns None: the caller reads events as before.

Exact over the range: the whole minutes inside it come from the rollups (day, hour and minute
rows as the store has them), the partial minutes at its two ends from the events themselves (at
most `max_edge` of them, else None). The figures are nearest-rank percentiles, like the read
ones, each answered by its sketch bucket: within sketch.RELATIVE_ACCURACY (1 %) of the exact
value. Before answering, the sketches' call count is checked against the store's exact count of
the panel's events with a duration; if they differ (rollups lost for a batch and not rebuilt, an
integration event without a provider) the rollups are not used."""

from __future__ import annotations

import math

from ..events.schema import get_path
from ..query import parse
from ..query.ast import And, Exists, Or, Term
from ..rollups import sketch
from ..rollups.model import MINUTE_MS
from ..search.figures import number, sample
from ..storage import SearchRequest, StoreError

FIELD, PROVIDER = "integration.duration", "integration.provider"
DAY_MS = 1440 * MINUTE_MS
_ALL = object()


def _providers(node) -> object | set[str] | None:
    """The provider values a query node allows (_ALL: any), or None when it is not a provider filter."""
    if isinstance(node, Term) and node.field == PROVIDER:
        return {node.value}
    if isinstance(node, Or) and node.items:
        out: set[str] = set()
        for item in node.items:
            part = _providers(item)
            if not isinstance(part, set):
                return None
            out |= part
        return out
    if isinstance(node, Exists) and node.field in (FIELD, PROVIDER):
        return _ALL
    return None


def eligible(panel) -> tuple[bool, set[str] | None]:
    """(whether the rollups can answer the panel, the providers it narrows to — None: all)."""
    if panel.kind != "percentiles" or panel.field != FIELD or panel.by not in (None, PROVIDER):
        return False, None
    try:
        node = parse(panel.query)
    except Exception:  # noqa: BLE001 (validated already; a query that no longer parses is read as before)
        return False, None
    items = node.items if isinstance(node, And) else (node,)
    component, allowed = False, None
    for item in items:
        if isinstance(item, Term) and item.field == "event.component" and item.value == "integration":
            component = True
            continue
        part = _providers(item)
        if part is None:
            return False, None
        if isinstance(part, set):
            allowed = part if allowed is None else allowed & part
    return component, allowed


def nearest_rank(buckets: dict[int, int], p: float) -> float | None:
    """The nearest-rank p-th percentile of the durations counted in a sketch (the bucket holding
    the smallest value with at least p % at or below it), as that bucket answers it."""
    total = sketch.count(buckets)
    if total <= 0:
        return None
    rank, seen = max(1, math.ceil(p / 100 * total)), 0
    for k in sorted(buckets):
        seen += buckets[k]
        if seen >= rank:
            return sketch.value(k)
    return sketch.value(max(buckets))


def agreeing(r, query: str, by_group: dict, plain: str | None = None) -> dict[int, int] | None:
    """The sketches of `by_group` merged, when they count exactly the events the store counts
    for `query`; else None, with a note (a batch stored without its rollups, a lost rollups.db):
    the caller then reads events.

    `plain`: `query` without its `field:*` (the panel's own query, whose count the rollups answer
    and the panel shows anyway). The sketches hold at most the events of `query`, which are at most
    those of `plain`; when the sketches count as many as `plain`, they count `query` too, and the
    store's slower count of `field:*` is skipped (on 30 days of 5 M events: 47 of 57 ms)."""
    overall = sketch.merge(*by_group.values())
    counted = sketch.count(overall)
    if plain is not None and counted == r.total(plain):
        return overall
    if counted != r.total(query):
        r.note(
            "the rollups disagree with the store's count of these events (run `platlogs rollups rebuild`): "
            "percentiles read from events instead"
        )
        return None
    return overall


def _edges(r, query: str, low: int, high: int, max_edge: int) -> list[dict] | None:
    if low >= high:
        return []
    request = SearchRequest(query=parse(query), start_ms=low, end_ms=high, now_ms=r.window.now_ms)
    events = sample(r.store, request, r.scope, max_edge + 1)
    return None if len(events) > max_edge else events


def from_rollups(r, panel, max_edge: int) -> dict | None:
    ok, allowed = eligible(panel)
    rollups = getattr(r.store, "rollups", None)
    if not ok or rollups is None:
        return None
    start, end = r.window.start_ms, r.window.end_ms
    inner_start, inner_end = -(-start // MINUTE_MS) * MINUTE_MS, end // MINUTE_MS * MINUTE_MS
    if inner_end - inner_start < MINUTE_MS:
        return None
    query = f"({panel.query}) AND {FIELD}:*" if panel.query else f"{FIELD}:*"
    try:
        # one step over the whole range (a multiple of a day, so day rows serve its whole days):
        # the sketches summed in SQL, one row per provider
        rows = rollups.providers(
            inner_start, inner_end, -(-inner_end // DAY_MS) * DAY_MS, sorted(allowed) if allowed is not None else None
        )
        edges = [_edges(r, query, start, inner_start, max_edge), _edges(r, query, inner_end, end, max_edge)]
    except (StoreError, ValueError):
        return None
    before, after = edges
    if before is None or after is None or len(before) + len(after) > max_edge:
        return None
    by_provider: dict[str, dict[int, int]] = {}
    for row in rows:
        if allowed is None or row.provider in allowed:
            by_provider[row.provider] = sketch.merge(by_provider.get(row.provider, {}), row.latency)
    for event in before + after:
        value, provider = number(get_path(event, FIELD)), get_path(event, PROVIDER)
        if value is None or provider is None or isinstance(provider, (dict, list)) or not math.isfinite(value):
            continue
        buckets = by_provider.setdefault(str(provider), {})
        buckets[sketch.key(value)] = buckets.get(sketch.key(value), 0) + 1
    overall = agreeing(r, query, by_provider, panel.query)
    if overall is None:
        return None
    counted = sketch.count(overall)
    total = r.total(panel.query)

    def figures(buckets: dict[int, int]) -> dict:
        return {
            "count": sketch.count(buckets),
            "values": [nearest_rank(buckets, p) for p in panel.percentiles],
            "max": sketch.value(max(buckets)) if buckets else None,
        }

    rows_out = []
    if panel.by:
        for provider, buckets in by_provider.items():
            if sketch.count(buckets):
                rows_out.append(
                    {
                        "value": r.shown_value(PROVIDER, provider),
                        "link": r.group_link(query, PROVIDER, provider),
                        **figures(buckets),
                    }
                )
        rows_out.sort(key=lambda row: (-(row["values"][-1] or 0), str(row["value"])))
    r.note(
        f"percentiles over all {counted:,} calls of the range, from the per-minute rollups' latency sketches: "
        f"each within {sketch.RELATIVE_ACCURACY * 100:g} % of the exact value"
    )
    return {
        "percentiles": list(panel.percentiles),
        "overall": figures(overall),
        "rows": rows_out[: panel.limit],
        "groups": len(rows_out),
        "read": counted,
        "total": total,
        "field": panel.field,
        "by": panel.by,
        "exact": True,
        "source": "rollups",
        "relative_accuracy": sketch.RELATIVE_ACCURACY,
    }


__all__ = ["eligible", "from_rollups", "nearest_rank"]
