"""Small computations the control views, dashboards and integration pages share: bounded reads
of the newest matches, counts, facet rows and notes, nearest-rank percentiles, and the short
texts for durations, milliseconds and shares. No Flask here."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import replace

from ..query.timeexpr import parse_time
from ..storage import LogStore, SearchRequest, SearchResult
from .window import Scope

SAMPLE_MAX = 20_000  # the most events any page reads into Python
SAMPLE_DEFAULT = 5_000  # latency samples unless the reader asks for more (≤ SAMPLE_MAX)
READ_PAGE = 5_000  # events per store read (well inside OpenSearch's default result window)
TOTAL_BOUND = 10_000  # totals not read off a histogram are exact up to here (as on the search page)
COUNT_ALL = 10_000_000  # ... and a query of one indexed value up to here
FACET_BOUND = 20_000  # facets count the newest this many matches (the store's default)


def percentile(ordered: list[float], p: float) -> float | None:
    """The nearest-rank percentile of already sorted values: the smallest value with at least
    p % of the values at or below it."""
    if not ordered:
        return None
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def latency(values: Iterable[float]) -> dict:
    ordered = sorted(values)
    return {
        "count": len(ordered),
        "p50": percentile(ordered, 50),
        "p95": percentile(ordered, 95),
        "p99": percentile(ordered, 99),
        "max": ordered[-1] if ordered else None,
    }


def number(value) -> float | None:
    """A finite number, or None (booleans and strings are not durations)."""
    kind = type(value)
    if kind is float:
        return value if math.isfinite(value) else None
    if kind is int:
        return float(value)
    return None


def sample(store: LogStore, request: SearchRequest, scope: Scope, size: int) -> list[dict]:
    """The newest `size` (≤ SAMPLE_MAX) matching events, read in pages of at most READ_PAGE."""
    size = max(0, min(size, SAMPLE_MAX))
    page = replace(
        request, size=min(size, READ_PAGE), newest_first=True, facets=(), histogram_ms=None, total_bound=0, cursor=None
    )
    events: list[dict] = []
    while len(events) < size:
        result = store.search(scope(replace(page, size=min(READ_PAGE, size - len(events)))))
        events += result.hits
        if result.next_cursor is None or not result.hits:
            break
        page = replace(page, cursor=result.next_cursor)
    return events


def one(store: LogStore, request: SearchRequest, scope: Scope, newest: bool = True) -> dict | None:
    """The newest (or oldest) matching event."""
    found = store.search(
        scope(replace(request, size=1, newest_first=newest, facets=(), histogram_ms=None, total_bound=0, cursor=None))
    )
    return found.hits[0] if found.hits else None


def count(store: LogStore, request: SearchRequest, scope: Scope) -> tuple[int, bool]:
    found = store.search(scope(replace(request, size=0, facets=(), histogram_ms=None, total_bound=TOTAL_BOUND, cursor=None)))
    return found.total, found.total_exact


def histogram_total(store: LogStore, scope: Scope, request: SearchRequest, result: SearchResult) -> tuple[int, bool]:
    """The window's count from its histogram (no second pass over the matches); a bounded count
    when the histogram ran out of time."""
    if not result.histogram_timed_out:
        return sum(b.count for b in result.histogram), True
    return count(store, request, scope)


def facet_rows(result: SearchResult, name: str) -> list[dict]:
    facet = result.facets.get(name)
    return [{"value": v.value, "count": v.count} for v in facet.values] if facet else []


def facet_note(result: SearchResult) -> dict:
    """Per facet: '' (exact), 'newest' (over the newest matches only) or 'timed out'."""
    return {name: "timed out" if f.timed_out else "newest" if f.approximate else "" for name, f in result.facets.items()}


def duration_text(ms: int | float | None) -> str:
    """A short human duration: 850 ms, 12 s, 4 min 5 s, 3 h 20 min, 2 d 4 h."""
    if ms is None:
        return ""
    ms = int(ms)
    if ms < 1000:
        return f"{ms} ms"
    seconds = ms // 1000
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds} s" if seconds else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"


def event_ms(event: dict) -> int:
    return parse_time(event["@timestamp"], 0)


def ms_text(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:,.0f} ms" if value >= 100 else f"{value:,.1f} ms"


def share_text(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value * 100:.1f} %"
