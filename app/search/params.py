"""Search parameters from a request's arguments (API, pages, CLI) -> a validated SearchRequest.

Every problem is a QueryError naming the parameter, which the views answer with 400."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from ..query import QueryError, parse
from ..query.ast import And, Node, Term
from ..query.fields import NAMESPACE, resolve
from ..query.timeexpr import parse_time
from ..storage import SearchRequest

MAX_SIZE = 1000
MAX_FACETS = 10
_INTERVAL = re.compile(r"(\d{1,6})(ms|s|m|h|d|w)\Z")
_UNIT_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}
# widths the automatic histogram chooses from: round numbers a person reads at a glance
NICE_WIDTHS = [
    1000,
    5000,
    10_000,
    30_000,
    60_000,
    300_000,
    600_000,
    1_800_000,
    3_600_000,
    3 * 3_600_000,
    6 * 3_600_000,
    12 * 3_600_000,
    86_400_000,
    7 * 86_400_000,
]


@dataclass
class SearchParams:
    q: str
    request: SearchRequest

    @property
    def selected(self) -> set[tuple[str, str]]:
        """field:value pairs the query already requires (facet values shown as selected)."""
        node = self.request.query
        items = node.items if isinstance(node, And) else (node,)
        return {(n.field, n.value) for n in items if isinstance(n, Term)}


def _int(args: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = args.get(name)
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except ValueError:
        raise QueryError(f"{name}: expected an integer, got {raw!r}", field=name) from None
    if not low <= value <= high:
        raise QueryError(f"{name}: must be between {low} and {high}", field=name)
    return value


def auto_interval(start_ms: int, end_ms: int, buckets: int = 60) -> int:
    span = max(end_ms - start_ms, 1000)
    for width in NICE_WIDTHS:
        if span / width <= buckets:
            return width
    return NICE_WIDTHS[-1]


def parse_interval(raw: str, start_ms: int, end_ms: int) -> int:
    if raw == "auto":
        return auto_interval(start_ms, end_ms)
    match = _INTERVAL.match(raw)
    if not match or int(match.group(1)) == 0:
        raise QueryError(f"histogram: expected auto or a width such as 30s, 5m, 1h, 1d; got {raw!r}", field="histogram")
    width = int(match.group(1)) * _UNIT_MS[match.group(2)]
    if (end_ms - start_ms) / width > 10_000:
        raise QueryError("histogram: more than 10,000 buckets in this window; choose a wider interval", field="histogram")
    return width


def search_params(
    args: Mapping[str, str],
    *,
    now_ms: int | None = None,
    default_from: str | None = None,
    default_size: int = 50,
    earliest: Callable[[], int | None] | None = None,
) -> SearchParams:
    """`earliest`: asked for the oldest stored time only when `from` is open and a histogram is
    wanted, to size it (finding it can mean opening every partition of the store)."""
    now = int(time.time() * 1000) if now_ms is None else now_ms
    q = args.get("q", "") or ""
    query: Node = parse(q)
    raw_from = args.get("from") or default_from
    start = parse_time(raw_from, now, "from") if raw_from else None
    end = parse_time(args.get("to") or "now", now, "to") + (1 if not args.get("to") else 0)
    if start is not None and start >= end:
        raise QueryError("from: must be before to", field="from")
    order = args.get("order", "desc")
    if order not in ("asc", "desc"):
        raise QueryError("order: asc or desc", field="order")
    facets = tuple(f for f in (args.get("facets") or "").split(",") if f.strip())
    if len(facets) > MAX_FACETS:
        raise QueryError(f"facets: at most {MAX_FACETS}", field="facets")
    for name in facets:
        if resolve(name.strip()).type in (NAMESPACE, "text", "changes"):
            raise QueryError(f"facets: {name} cannot be counted by value; choose a keyword or number field", field="facets")
    histogram = None
    if args.get("histogram"):
        earliest_ms = earliest() if start is None and earliest is not None else None
        span_start = start if start is not None else (earliest_ms if earliest_ms is not None else end - 86_400_000)
        histogram = parse_interval(args["histogram"], span_start, end)
    request = SearchRequest(
        query=query,
        start_ms=start,
        end_ms=end,
        size=_int(args, "size", default_size, 0, MAX_SIZE),
        newest_first=order == "desc",
        cursor=args.get("cursor") or None,
        facets=tuple(f.strip() for f in facets),
        facet_size=_int(args, "facet_size", 10, 1, 100),
        histogram_ms=histogram,
        now_ms=now,
    )
    return SearchParams(q=q, request=request)
