"""The figures of a dashboard's panels, from the LogStore. No Flask here.

    dashboard_data(store, scope, window, dashboard, sees_personal=...) -> dict (JSON-ready)

Every store read goes through `scope` (the web layer passes reading.scoped: a masked reader's
query rules). Counts are exact (total_bound=EXACT, facets over every match); when the store says
a budget ran out (a facet or histogram timed out: SearchResult.counted) the panel carries a note
saying so — never silent sampling. Personal values (events, group values) are masked here for
readers without see_personal, and their links are left out (a link would carry the value).

Percentiles: the LogStore protocol has no percentile aggregation, so a percentiles panel reads
the newest PERCENTILE_MAX matching events and computes nearest-rank percentiles from them: exact
when the range holds at most that many, and otherwise the panel says over how many of how many.
Integration call durations (`integration.duration` over `event.component:integration`, by
provider or not) are answered from the per-minute rollups' latency sketches instead, over the
whole range (rollup_percentiles.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from ..events.convert import format_ts
from ..events.failures import FAILURE_QUERY
from ..events.schema import get_path
from ..query import QueryError, parse
from ..query.quoting import term
from ..rollups.model import FOLDS, MEASURES, MINUTE_MS, group_value
from ..search import control_health
from ..search.figures import duration_text, number as finite_number, percentile, sample
from ..search.masking import is_personal, mask_event, mask_value, masked_facet
from ..search.window import Window, group, histogram_width, parse_window
from ..storage import SearchRequest, SearchResult, StoreError
from ..storage.base import EXACT
from .definitions import Dashboard, Panel
from .rollup_percentiles import from_rollups
from .rollup_values import (
    FOLD_FACET_SIZE,
    ROUTE_NOTE,
    fold_facet,
    folded_measure,
    from_value_sketches,
    top_from_value_sketches,
)

Scope = Callable[[SearchRequest], SearchRequest]
PERCENTILE_MAX = 10_000  # the most events a percentiles panel reads (about 0.5 s of reading)
DEGRADED_SHARE, FAILING_SHARE = control_health.DEGRADED_SHARE, control_health.FAILING_SHARE


def both(query: str, more: str) -> str:
    """`query` narrowed by `more` (either may be empty: all events)."""
    if not query:
        return more
    if not more:
        return query
    return f"{group(query)} AND {group(more)}"


class _Reader:
    """One panel's reads: the window, the reader's scope, and the notes the store's answers call for."""

    def __init__(self, store, scope: Scope, window: Window, sees_personal: bool):
        self.store, self.scope, self.window, self.sees_personal = store, scope, window, sees_personal
        self.notes: list[str] = []
        self._totals: dict[str, int] = {}

    def total(self, query: str) -> int:
        """The exact count of `query`'s events over the window (asked once a panel)."""
        if query not in self._totals:
            self._totals[query] = self.search(query).total
        return self._totals[query]

    def search(self, query: str, **options) -> SearchResult:
        request = SearchRequest(
            query=parse(query),
            start_ms=self.window.start_ms,
            end_ms=self.window.end_ms,
            now_ms=self.window.now_ms,
            **{"size": 0, "total_bound": EXACT, **options},
        )
        result = self.store.search(self.scope(request))
        if request.total_bound and not result.total_exact:
            self.note(f"at least {result.total:,} events: the store stopped counting")
        if result.histogram_timed_out or any(f.timed_out for f in result.facets.values()):
            counted = f"{result.counted:,} of {result.total:,}" if result.counted is not None else "part"
            self.note(f"the store's time budget ran out: counted {counted} events")
        if any(f.approximate for f in result.facets.values()):
            self.note("values counted over the newest matches only")
        return result

    def note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)

    def link(self, query: str) -> dict:
        """Arguments of the search page showing these events over this range."""
        return {"q": query, **self.window.time_args()}

    def shown_value(self, field: str, value):
        if value is None or self.sees_personal or not is_personal(field):
            return value
        return mask_value(field, value)

    def group_link(self, query: str, field: str, value) -> dict | None:
        if value is None or (not self.sees_personal and is_personal(field)):
            return None
        return self.link(both(query, term(field, str(value) if not isinstance(value, bool) else str(value).lower())))


def _width(window: Window) -> int:
    return histogram_width(window)


def number(r: _Reader, panel: Panel) -> dict:
    found = r.search(panel.query)
    out: dict[str, Any] = {"count": found.total, "exact": found.total_exact, "value": found.total}
    if panel.ratio_of is not None:
        base = r.search(panel.ratio_of)
        out.update(
            of=base.total, value=found.total / base.total if base.total else None, ratio=True, of_link=r.link(panel.ratio_of)
        )
    return out


def _series_of(r: _Reader, query: str, width: int) -> tuple[list[int], list[int], int]:
    found = r.search(query, histogram_ms=width, total_bound=0)
    x = [b.start_ms for b in found.histogram]
    values = [b.count for b in found.histogram]
    return x, values, sum(values)


def timeseries(r: _Reader, panel: Panel) -> dict:
    width = _width(r.window)
    x: list[int] = []
    series = []
    for s in panel.series:
        xs, values, total = _series_of(r, s.query, width)
        x = x or xs
        series.append({"label": s.label, "values": values, "total": total, "link": r.link(s.query)})
    return {"x": x, "starts": [format_ts(ms) for ms in x], "series": series, "width_ms": width}


def stacked(r: _Reader, panel: Panel) -> dict:
    by = _by(panel)
    width = _width(r.window)
    found = r.search(panel.query, facets=(by,), facet_size=panel.limit, histogram_ms=width)
    x = [b.start_ms for b in found.histogram]
    rest = [b.count for b in found.histogram]
    series = []
    for value in found.facets[by].values:
        _, values, total = _series_of(r, both(panel.query, term(by, _text(value.value))), width)
        rest = [max(a - b, 0) for a, b in zip(rest, values, strict=False)]  # (a timed-out total: the note says so)
        series.append(
            {
                "label": str(r.shown_value(by, value.value)),
                "values": values,
                "total": total,
                "link": r.group_link(panel.query, by, value.value),
            }
        )
    if any(rest):
        series.append(
            {
                "label": "other",
                "rest": True,
                "values": rest,
                "total": sum(rest),
                "link": r.link(
                    both(panel.query, " AND ".join(f"NOT {term(by, _text(s.value))}" for s in found.facets[by].values))
                ),
            }
        )
    return {"x": x, "starts": [format_ts(ms) for ms in x], "series": series, "width_ms": width, "total": found.total}


def _by(panel: Panel) -> str:
    """The field a stacked, top or status panel groups by (definitions.py requires it there)."""
    if panel.by is None:
        raise ValueError(f"a {panel.kind} panel needs `by`")
    return panel.by


def _text(value) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def top(r: _Reader, panel: Panel) -> dict:
    by = _by(panel)
    counted = top_from_value_sketches(r, panel, PERCENTILE_MAX)  # busiest routes: from the rollups' sketches
    if counted is not None:
        return counted
    fold = folded_measure(panel) is not None
    found = r.search(panel.query, facets=(by,), facet_size=FOLD_FACET_SIZE if fold else panel.limit)
    rows: list[dict[str, Any]] = (
        fold_facet(r, panel, found.facets[by].values)
        if fold
        else [
            {"value": v.value, "count": v.count, "link": r.group_link(panel.query, by, v.value)}
            for v in found.facets[by].values
        ]
    )
    if not r.sees_personal and is_personal(by):
        rows = masked_facet(by, rows)  # rows that mask alike merged: the order tells nothing
    for row in rows:
        row["share"] = row["count"] / found.total if found.total else None
    listed = sum(row["count"] for row in rows)
    return {"rows": rows, "total": found.total, "rest": found.total - listed, "field": by}


def percentiles(r: _Reader, panel: Panel) -> dict:
    counted = from_rollups(r, panel, PERCENTILE_MAX)  # integration.duration: the whole range, from sketches
    if counted is None:
        counted = from_value_sketches(r, panel, PERCENTILE_MAX)  # model.MEASURES (payment.amount)
    if counted is not None:
        return counted
    total = r.total(panel.query)
    query = both(panel.query, f"{panel.field}:*")
    request = SearchRequest(query=parse(query), start_ms=r.window.start_ms, end_ms=r.window.end_ms, now_ms=r.window.now_ms)
    events = sample(r.store, request, r.scope, PERCENTILE_MAX) if total else []
    if len(events) >= PERCENTILE_MAX:
        r.note(
            f"percentiles over the newest {len(events):,} events with {panel.field} (the range holds more: "
            f"{total:,} events in all)"
        )
    groups: dict = {}
    overall: list[float] = []
    by = panel.by or ""  # (no `by`: no groups, only the overall figures)
    field = panel.field or ""  # (definitions.py requires it of a percentiles panel)
    folded = panel.field in FOLDS and by == MEASURES[panel.field][0]  # routes, as the rollups group them
    if folded:
        r.note(ROUTE_NOTE.format(by=by))
    for event in events:
        v = finite_number(get_path(event, field))
        if v is None:
            continue
        overall.append(v)
        if by:
            key = get_path(event, by)
            if key is not None and not isinstance(key, (dict, list)):
                groups.setdefault(group_value(field, key) if folded else key, []).append(v)

    def figures(values: list[float]) -> dict:
        ordered = sorted(values)
        return {
            "count": len(ordered),
            "values": [percentile(ordered, p) for p in panel.percentiles],
            "max": ordered[-1] if ordered else None,
        }

    rows = []
    for key, values in groups.items():
        link = None if folded and "*" in key else r.group_link(query, by, key)
        rows.append({"value": r.shown_value(by, key), "link": link, **figures(values)})
    rows.sort(key=lambda row: (-(row["values"][-1] or 0), str(row["value"])))
    return {
        "percentiles": list(panel.percentiles),
        "overall": figures(overall),
        "rows": rows[: panel.limit],
        "groups": len(rows),
        "read": len(events),
        "total": total,
        "field": panel.field,
        "by": panel.by,
        "exact": len(events) < PERCENTILE_MAX,
    }


def _recent(r: _Reader, panel: Panel) -> _Reader:
    """The reader judging a status panel's values: the whole range, or (with `recent`) its newest
    part — a reader over that window, its links too, sharing the panel's notes."""
    if panel.recent_ms is None:
        return r
    start = max(r.window.start_ms, r.window.end_ms - panel.recent_ms)
    window = replace(r.window, start_ms=start, raw_from=format_ts(start), raw_to=format_ts(r.window.end_ms))
    judge = _Reader(r.store, r.scope, window, r.sees_personal)
    judge.notes = r.notes
    return judge


def status(r: _Reader, panel: Panel) -> dict:
    by = _by(panel)
    status_field = panel.status_field or ""  # (definitions.py requires it of a status panel)
    failure = panel.failure_query or FAILURE_QUERY
    found = r.search(panel.query, facets=(by,), facet_size=panel.limit)
    listed = found.facets[by].values
    judge = _recent(r, panel)
    counts = {_text(v.value): v.count for v in listed}
    failed: dict = {}
    range_failed: dict | None = None
    if listed:  # facets among the listed values (failures; with `recent`, all too): exact counts for each
        among = " OR ".join(term(by, _text(v.value)) for v in listed)
        if judge is not r:
            counted = judge.search(both(panel.query, among), facets=(by,), facet_size=len(listed))
            counts = {_text(f.value): f.count for f in counted.facets[by].values}
        counted = judge.search(both(both(panel.query, failure), among), facets=(by,), facet_size=len(listed))
        failed = {_text(f.value): f.count for f in counted.facets[by].values}
        if judge is not r:  # and the range's failures, shown beside the recent ones
            counted = r.search(both(both(panel.query, failure), among), facets=(by,), facet_size=len(listed))
            range_failed = {_text(f.value): f.count for f in counted.facets[by].values}
    cells = []
    for v in listed:
        narrowed = both(panel.query, term(by, _text(v.value)))
        failures, count = failed.get(_text(v.value), 0), counts.get(_text(v.value), 0)
        newest = r.search(narrowed, size=1, total_bound=0).hits
        latest = get_path(newest[0], status_field) if newest else None
        share = failures / count if count else None
        state = (
            "quiet"
            if share is None
            else "failing"
            if share >= FAILING_SHARE
            else "degraded"
            if share >= DEGRADED_SHARE
            else "ok"
        )
        linked = judge.group_link(panel.query, by, v.value)
        cells.append(
            {
                "value": r.shown_value(by, v.value),
                "count": count,
                "failures": failures,
                "share": share,
                "state": state,
                "range_count": v.count,
                "range_failures": failures if range_failed is None else range_failed.get(_text(v.value), 0),
                "latest": r.shown_value(status_field, latest),
                "latest_at": newest[0].get("@timestamp") if newest else None,
                "link": linked,
                "failure_link": None if not linked else judge.link(both(narrowed, failure)),
            }
        )
    order = {"failing": 0, "degraded": 1, "ok": 2, "quiet": 3}
    cells.sort(key=lambda c: (order[c["state"]], -(c["share"] or 0), str(c["value"])))
    recent = (
        None
        if judge is r
        else {
            "ms": panel.recent_ms,
            "text": duration_text(panel.recent_ms),
            "start": format_ts(judge.window.start_ms),
            "start_ms": judge.window.start_ms,
        }
    )
    return {
        "cells": cells,
        "total": found.total,
        "field": by,
        "status_field": panel.status_field,
        "failure_query": failure,
        "recent": recent,
    }


def events(r: _Reader, panel: Panel) -> dict:
    found = r.search(panel.query, size=panel.limit)
    hits = found.hits if r.sees_personal else [mask_event(e) for e in found.hits]
    rows = [{"id": get_path(e, "event.id"), "cells": [get_path(e, c) for c in panel.columns]} for e in hits]
    return {"columns": list(panel.columns), "rows": rows, "total": found.total}


KIND_DATA = {
    "number": number,
    "timeseries": timeseries,
    "stacked": stacked,
    "top": top,
    "percentiles": percentiles,
    "status": status,
    "events": events,
}


def panel_data(store, scope: Scope, window: Window, panel: Panel, *, sees_personal: bool) -> dict:
    """One panel's figures; a query the store refuses or a store that cannot answer is the
    panel's `error` (the other panels still show)."""
    r = _Reader(store, scope, window, sees_personal)
    out: dict[str, Any] = {
        "id": panel.id,
        "title": panel.title,
        "kind": panel.kind,
        "description": panel.description,
        "width": panel.width,
        "unit": panel.unit,
        "query": panel.query,
        "link": r.link(panel.query),
        "error": None,
    }
    try:
        out["data"] = KIND_DATA[panel.kind](r, panel)
    except QueryError as exc:
        out["data"], out["error"] = None, f"the query cannot run: {exc.message}"
    except StoreError as exc:
        out["data"], out["error"] = None, f"the store cannot answer now: {exc}"
    out["notes"] = r.notes
    return out


def dashboard_data(store, scope: Scope, window: Window, dashboard: Dashboard, *, sees_personal: bool) -> dict:
    return {
        "id": dashboard.id,
        "title": dashboard.title,
        "description": dashboard.description,
        "range": {
            "from": window.raw_from,
            "to": window.raw_to or "now",
            "start": format_ts(window.start_ms),
            "end": format_ts(window.end_ms),
            "start_ms": window.start_ms,
            "end_ms": window.end_ms,
        },
        "panels": [panel_data(store, scope, window, p, sees_personal=sees_personal) for p in dashboard.panels],
    }


def window_for(dashboard: Dashboard, args, now_ms: int | None = None) -> Window:
    """The range asked for (`from`/`to`), the dashboard's own range by default; QueryError names
    what is wrong."""
    merged = {"from": args.get("from") or dashboard.range, "to": args.get("to") or ""}
    window = parse_window(merged, now_ms)
    if not window.raw_to and window.raw_from.lower().startswith("now"):
        # "the last 30 days" in whole minutes: the per-minute rollups answer all of it, with no
        # partial minute at either end read from the events (two reads a panel, each a scan of
        # the time column of a month's shard: ~40% of a dashboard's time). An absolute range is
        # kept to the millisecond.
        start, end = window.start_ms // MINUTE_MS * MINUTE_MS, -(-window.end_ms // MINUTE_MS) * MINUTE_MS
        window = replace(window, start_ms=start, end_ms=end)
    return replace(window, q="")
