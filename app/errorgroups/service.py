"""Error groups as the pages, the JSON API and the alert kinds see them: one function each.

Counts come from the store, over the reader's window and under the reader's restrictions
(`scope`, app/web/reading.py): an exact facet on error.fingerprint, and the same facet over
TREND_BUCKETS slices of the window for each group's trend. What the store cannot hold (status,
all-time first and last seen, merges) comes from the registry (app/meta/errorgroups.py), which
sync.py keeps up to date."""

from __future__ import annotations

from dataclasses import dataclass, replace

from ..meta import errorgroups as registry
from ..query import parse
from ..query.quoting import term
from ..search.figures import facet_note, facet_rows
from ..search.window import Window, group as paren, histogram_width
from ..storage import LogStore, SearchRequest
from ..storage.base import EXACT
from .sync import FIELD, MAX_GROUPS, sync_if_stale

STATUSES = registry.STATUSES
STATUS_FILTERS = (*STATUSES, "all")
TREND_BUCKETS = 12
LIST_LIMIT = 100
SERVICES_FOR = 50  # groups on a page whose services are looked up (one query each)
DETAIL_FACETS = ("service.name", "service.version", "error.type", "log.level", "host.name")
BASE_QUERY = f"{FIELD}:*"


@dataclass(frozen=True)
class Listing:
    status: str = "unresolved"
    sort: str = "count"  # count | last_seen | first_seen
    limit: int = LIST_LIMIT


def group_query(fingerprints: list[str]) -> str:
    """The search-page query for a group's errors."""
    if len(fingerprints) == 1:
        return term(FIELD, fingerprints[0])
    return "(" + " OR ".join(term(FIELD, f) for f in fingerprints) + ")"


def _facet_counts(store: LogStore, scope, request: SearchRequest) -> tuple[dict[str, int], str]:
    result = store.search(scope(request))
    return {str(r["value"]): r["count"] for r in facet_rows(result, FIELD)}, facet_note(result).get(FIELD, "")


def list_groups(
    store: LogStore, meta, scope, window: Window, listing: Listing = Listing(), fingerprinter=None, announce=None
) -> dict:
    """The groups with errors in the window (narrowed by the window's q), each with its exact
    count, trend, status and all-time first/last seen; merged fingerprints count for their group."""
    if listing.status not in STATUS_FILTERS:
        raise ValueError(f"status: one of {', '.join(STATUS_FILTERS)}")
    sync_if_stale(store, meta, fingerprinter, announce=announce)
    request = window.request(
        BASE_QUERY, size=0, facets=(FIELD,), facet_size=MAX_GROUPS, facet_bound=EXACT, total_bound=EXACT, budget_ms=5_000
    )
    counts, note = _facet_counts(store, scope, request)
    step = max(1, -(-window.span_ms // TREND_BUCKETS))
    trends: dict[str, list[int]] = {}
    for i in range(TREND_BUCKETS):
        start = window.start_ms + i * step
        if start >= window.end_ms:
            break
        sliced, _ = _facet_counts(
            store, scope, replace(request, start_ms=start, end_ms=min(window.end_ms, start + step), total_bound=0)
        )
        for value, count in sliced.items():
            trends.setdefault(value, [0] * TREND_BUCKETS)[i] = count
    groups = registry.by_fingerprints(meta, list(counts))
    rows: dict[int, dict] = {}
    unregistered = 0
    for value, count in counts.items():
        row = groups.get(value)
        if row is None:
            unregistered += count
            continue
        entry = rows.get(row.id)
        if entry is None:
            entry = rows[row.id] = {**row.as_dict(), "count": 0, "trend": [0] * TREND_BUCKETS, "fingerprints": []}
        entry["count"] += count
        entry["fingerprints"].append(value)
        for i, n in enumerate(trends.get(value, ())):
            entry["trend"][i] += n
    shown = [r for r in rows.values() if listing.status == "all" or r["status"] == listing.status]
    key = {
        "count": lambda r: (-r["count"], r["id"]),
        "last_seen": lambda r: (r["last_seen"] or "", r["id"]),
        "first_seen": lambda r: (r["first_seen"] or "", r["id"]),
    }.get(listing.sort)
    if key is None:
        raise ValueError("sort: one of count, last_seen, first_seen")
    shown.sort(key=key, reverse=listing.sort != "count")
    by_status = {s: sum(1 for r in rows.values() if r["status"] == s) for s in registry.STATUSES}
    shown = shown[: listing.limit]
    for entry in shown:
        entry["trend_direction"] = trend_direction(entry["trend"])
        query = group_query(entry["fingerprints"])
        entry["query"] = window.text(query)
        entry["link"] = window.link(query)
    for entry in shown[:SERVICES_FOR]:
        found = store.search(
            scope(
                replace(
                    request,
                    query=parse(window.text(group_query(entry["fingerprints"]))),
                    facets=("service.name",),
                    facet_size=5,
                    total_bound=0,
                )
            )
        )
        entry["services"] = [r["value"] for r in facet_rows(found, "service.name")]
    return {
        "groups": shown,
        "total_groups": len(rows),
        "by_status": by_status,
        "status": listing.status,
        "sort": listing.sort,
        "events": sum(counts.values()),
        "unregistered": unregistered,
        "counts_note": note,
        "trend_step_ms": step,
        "query": window.text(BASE_QUERY),
        "link": window.link(BASE_QUERY),
    }


def trend_direction(trend: list[int]) -> str:
    """'rising', 'falling' or 'steady': the newer half of the window against the older."""
    half = len(trend) // 2
    old, new = sum(trend[:half]), sum(trend[half:])
    if new > old * 1.5 and new - old >= 3:
        return "rising"
    if old > new * 1.5 and old - new >= 3:
        return "falling"
    return "steady"


def detail(store: LogStore, meta, scope, window: Window, group_id: int) -> dict:
    """One group: the registry's row, its fingerprints, its errors in the window (exact count),
    a histogram, services, releases (service.version) and other facets, the newest error as
    the sample. LookupError: no such group. A merged group answers with the group it is in."""
    row = registry.group(meta, group_id)
    if row is None:
        raise LookupError("no such error group")
    if row.merged_into is not None:
        root = registry.by_fingerprints(meta, [row.fingerprint]).get(row.fingerprint)
        if root is not None and root.id != row.id:
            row = root
    fingerprints = registry.members(meta, row.id)
    query = group_query(fingerprints)
    request = window.request(
        query,
        size=1,
        facets=DETAIL_FACETS,
        facet_size=10,
        facet_bound=EXACT,
        histogram_ms=histogram_width(window),
        total_bound=EXACT,
    )
    result = store.search(scope(request))
    merged = sorted(
        (g.as_dict() for g in registry.by_fingerprints(meta, fingerprints[1:], roots=False).values()), key=lambda g: g["id"]
    )
    return {
        "group": row.as_dict(),
        "asked": group_id,
        "fingerprints": fingerprints,
        "merged": merged,
        "total": result.total,
        "total_exact": result.total_exact,
        "sample": result.hits[0] if result.hits else None,
        "facets": {n: facet_rows(result, n) for n in DETAIL_FACETS},
        "facet_notes": facet_note(result),
        "services": facet_rows(result, "service.name"),
        "releases": facet_rows(result, "service.version"),
        "histogram": result.histogram,
        "width_ms": request.histogram_ms,
        "histogram_timed_out": result.histogram_timed_out,
        "query": window.text(query),
        "link": window.link(query),
        "base": paren(query),
    }


def row(meta, group_id: int) -> dict:
    """The registry's row. LookupError: no such group."""
    found = registry.group(meta, group_id)
    if found is None:
        raise LookupError("no such error group")
    return found.as_dict()


def set_status(meta, group_id: int, status: str, by: str) -> dict:
    """LookupError: no such group; ValueError: a bad status or a merged group."""
    return registry.set_status(meta, group_id, status, by).as_dict()


def merge(meta, into_id: int, other_ids: list[int], by: str) -> dict:
    """LookupError / ValueError as registry.merge."""
    if not other_ids:
        raise ValueError("merge: name at least one other group")
    if len(other_ids) > 100:
        raise ValueError("merge: at most 100 groups at once")
    return registry.merge(meta, into_id, other_ids, by).as_dict()


def unmerge(meta, group_id: int) -> dict:
    return registry.unmerge(meta, group_id).as_dict()
