"""Percentiles of the fields the rollups sketch (model.MEASURES: `payment.amount` by currency,
`http.duration` by route — url.path with ids folded, model.route; the events' reading folds alike) for
the percentiles panels that allow it — the whole range counted, not the newest PERCENTILE_MAX
events. The integration calls' latency has its own reader (rollup_percentiles.py).

    from_value_sketches(reader, panel, max_edge) -> figures (the percentiles panel's shape) or None

A panel qualifies when its field is a measure, it is grouped by nothing or by the measure's group
field, and its query is an AND of terms (or ORs of terms) on the measure's qualifiers (for
payments: event.component, event.type, payment.status). Anything else — a store whose rollups
have no value sketches (OpenSearch's, today) — returns None: the caller reads events as before.

Exact over the range, like the latency panel: whole minutes from the rollups, the partial minutes
at the ends from the events (at most `max_edge`), each figure the nearest-rank percentile as its
sketch bucket answers it (within sketch.RELATIVE_ACCURACY, 1 %). The sketches' count is checked
against the store's exact count of the panel's events with the field; when they differ (rollups
kept before the sketches existed and not rebuilt, a negative or non-numeric value, which the
sketches leave out) the rollups are not used."""

from __future__ import annotations

import math

from ..events.schema import get_path
from ..query import parse
from ..query.ast import And, Or, Term
from ..rollups import sketch
from ..rollups.model import FOLDS, MEASURES, MINUTE_MS, group_value
from ..storage import StoreError
from .rollup_percentiles import _edges, agreeing, nearest_rank

ROUTE_NOTE = "grouped by route: {by} with its ids folded to * (a segment with a digit, or long)"


def _terms(node, field_ok) -> tuple[str, set[str]] | None:
    """(field, values) of a term or an OR of terms on one field, None otherwise."""
    if isinstance(node, Term) and field_ok(node.field) and isinstance(node.value, str):
        return node.field, {node.value}
    if isinstance(node, Or) and node.items:
        parts = [_terms(item, field_ok) for item in node.items]
        found = [p for p in parts if p is not None]
        if len(found) != len(parts) or len({p[0] for p in found}) != 1:
            return None
        return found[0][0], set().union(*(p[1] for p in found))
    return None


def folded_measure(panel) -> str | None:
    """The measure whose sketches count a `top` panel's groups: one whose group field is the
    panel's `by` and is folded (url.path by route: a facet of raw paths cannot be folded exactly)."""
    if panel.kind != "top":
        return None
    return next((m for m, (group, _) in MEASURES.items() if group == panel.by and m in FOLDS), None)


def eligible(panel, field: str | None = None) -> dict[str, set[str]] | None:
    """{qualifier: allowed values} when the value sketches of `field` (default: the panel's, a
    percentiles panel's) can answer the panel, else None."""
    field = field or (panel.field if panel.kind == "percentiles" else None)
    if field not in MEASURES:
        return None
    group, qualifiers = MEASURES[field]
    if panel.by not in (None, group):
        return None
    try:
        node = parse(panel.query) if panel.query else None
    except Exception:  # noqa: BLE001 (validated already; a query that no longer parses is read as before)
        return None
    items = () if node is None else node.items if isinstance(node, And) else (node,)
    where: dict[str, set[str]] = {}
    for item in items:
        part = _terms(item, lambda f: f in qualifiers)
        if part is None:
            return None
        field, values = part
        where[field] = where[field] & values if field in where else values
    return where


def _figures(panel, buckets: dict[int, int]) -> dict:
    return {
        "count": sketch.count(buckets),
        "values": [nearest_rank(buckets, p) for p in panel.percentiles],
        "max": sketch.value(max(buckets)) if buckets else None,
    }


def _sketches(r, panel, field: str, max_edge: int) -> dict[str | None, dict[int, int]] | None:
    """{group value: sketch} of `field` over the panel's window and query, the whole minutes from
    the rollups and the partial minutes at the ends from the events; None when they cannot answer."""
    where = eligible(panel, field)
    reader = getattr(getattr(r.store, "rollups", None), "values", None)
    if where is None or reader is None:
        return None
    start, end = r.window.start_ms, r.window.end_ms
    inner_start, inner_end = -(-start // MINUTE_MS) * MINUTE_MS, end // MINUTE_MS * MINUTE_MS
    if inner_end - inner_start < MINUTE_MS:
        return None
    group = MEASURES[field][0]
    query = f"({panel.query}) AND {field}:*" if panel.query else f"{field}:*"
    try:
        by_group = reader(inner_start, inner_end, field, where)
        edges = [_edges(r, query, start, inner_start, max_edge), _edges(r, query, inner_end, end, max_edge)]
    except (StoreError, ValueError):
        return None
    before, after = edges
    if before is None or after is None or len(before) + len(after) > max_edge:
        return None
    for event in before + after:
        value = get_path(event, field)
        if type(value) not in (int, float) or not math.isfinite(value) or value < 0:
            continue  # (left out of the sketches too: the count check then refuses them)
        key = get_path(event, group)
        buckets = by_group.setdefault(None if isinstance(key, (dict, list)) else group_value(field, key), {})
        buckets[sketch.key(value)] = buckets.get(sketch.key(value), 0) + 1
    return by_group


FOLD_FACET_SIZE = 5_000  # the raw values a folded top panel reads when the rollups cannot answer


def fold_facet(r, panel, values) -> list[dict]:
    """A top panel's rows from a facet of raw values (url.path) added up by their folded group
    (the route): what the panel shows when the sketches cannot answer (top_from_value_sketches)."""
    r.note(ROUTE_NOTE.format(by=panel.by))
    if len(values) >= FOLD_FACET_SIZE:
        r.note(f"routes folded from the {len(values):,} most frequent values of {panel.by}; the others are in the rest")
    field = folded_measure(panel) or ""  # (the caller asks only for a panel with one)
    counts: dict[str, int] = {}
    for v in values:
        key = group_value(field, v.value)
        if key is not None:
            counts[key] = counts.get(key, 0) + v.count
    ordered = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[: panel.limit]
    return [
        {"value": k, "count": n, "link": None if "*" in k else r.group_link(panel.query, panel.by, k)} for k, n in ordered
    ]


def top_from_value_sketches(r, panel, max_edge: int) -> dict | None:
    """A `top` panel by a folded group field (url.path: busiest routes) counted from the measure's
    sketches — only when they hold every event of the panel's query (each has the measure), so
    the rows are exact counts of the panel's events; else None (the caller folds a facet)."""
    field = folded_measure(panel)
    by_group = _sketches(r, panel, field, max_edge) if field else None
    if by_group is None:
        return None
    total = r.total(panel.query)
    if sketch.count(sketch.merge(*by_group.values())) != total:
        return None
    counts = sorted(
        ((value, sketch.count(b)) for value, b in by_group.items() if value is not None),
        key=lambda vc: (-vc[1], str(vc[0])),
    )
    r.note(ROUTE_NOTE.format(by=panel.by))
    rows = [
        {
            "value": r.shown_value(panel.by, value),
            "count": n,
            "link": None if "*" in value else r.group_link(panel.query, panel.by, value),
            "share": n / total if total else None,
        }
        for value, n in counts[: panel.limit]
        if n
    ]
    listed = sum(row["count"] for row in rows)
    return {"rows": rows, "total": total, "rest": total - listed, "field": panel.by, "source": "rollups"}


def from_value_sketches(r, panel, max_edge: int) -> dict | None:
    by_group = _sketches(r, panel, panel.field, max_edge) if panel.field else None
    if by_group is None:
        return None
    query = f"({panel.query}) AND {panel.field}:*" if panel.query else f"{panel.field}:*"
    group = MEASURES[panel.field][0]
    overall = agreeing(r, query, by_group, panel.query)
    if overall is None:
        return None
    counted = sketch.count(overall)
    rows = []
    if panel.by and panel.field in FOLDS:
        r.note(ROUTE_NOTE.format(by=panel.by))
    if panel.by:
        for value, buckets in by_group.items():
            if value is not None and sketch.count(buckets):
                folded = panel.field in FOLDS and "*" in value  # (a route's link: its paths have no one term)
                rows.append(
                    {
                        "value": r.shown_value(group, value),
                        "link": None if folded else r.group_link(query, group, value),
                        **_figures(panel, buckets),
                    }
                )
        rows.sort(key=lambda row: (-(row["values"][-1] or 0), str(row["value"])))
    r.note(
        f"percentiles over all {counted:,} events of the range with {panel.field}, from the per-minute rollups' "
        f"sketches: each within {sketch.RELATIVE_ACCURACY * 100:g} % of the exact value"
    )
    return {
        "percentiles": list(panel.percentiles),
        "overall": _figures(panel, overall),
        "rows": rows[: panel.limit],
        "groups": len(rows),
        "read": counted,
        "total": r.total(panel.query),
        "field": panel.field,
        "by": panel.by,
        "exact": True,
        "source": "rollups",
        "relative_accuracy": sketch.RELATIVE_ACCURACY,
    }


__all__ = [
    "FOLD_FACET_SIZE",
    "ROUTE_NOTE",
    "eligible",
    "fold_facet",
    "folded_measure",
    "from_value_sketches",
    "top_from_value_sketches",
]
