"""The figures of the six control views: Event Timeline, Error History, User Actions, Admin
Operations, API Activity and Integration Status. No Flask here.

Each view is a search with a layout of its own: a base query (what the page is about) narrowed
by the reader's `q`, over a time window (`from`/`to`, the last 24 hours by default). The query
text is what the page's "open as a search" link carries, so the search page finds the same
events. Every store read goes through `scope` (the views pass `reading.scoped`).

The store counts (bounded totals), facets (exact over the newest `facet_bound` matches) and
histograms; it has no percentile or sum aggregation. Latencies are computed here over a bounded
sample of the newest matching events (at most SAMPLE_MAX), and the pages say so.

Layout: this module holds the views that follow events (the timeline of one key, errors, one
player's actions); control_admin.py the back office's operations and their changes (with the
masking of personal values); control_health.py the health views read from a sample (API activity,
integration status)."""

from __future__ import annotations

from dataclasses import replace

from ..events.failures import FAILURE_LEVEL_QUERY, FAILURE_QUERY
from ..events.schema import get_path
from ..query import QueryError, parse
from ..query.ast import And
from ..query.quoting import term
from ..storage import LogStore, SearchRequest
from . import service
from .figures import TOTAL_BOUND, duration_text, event_ms, facet_note, facet_rows, histogram_total, one
from .window import Scope, Window, group, histogram_width

LIST_SIZE = 50  # rows in a page's newest-first list

ERRORS_QUERY = f"{FAILURE_LEVEL_QUERY} OR event.component:error"
PLAYER_TYPES = ("login", "payment", "game_session", "profile_change")
# Prefixes of the four types: the same events (no other documented type starts so), and on the
# embedded store a check of each of the player's few events rather than a join with every login,
# payment and game session of the window (25 times faster on a 5-million-event store).
PLAYER_QUERY = "event.type:(login* OR payment* OR game_session* OR profile_change*)"
EMAIL_TYPES = "event.type:(login OR profile_change)"  # where the demo and most platforms carry actor.email
TIMELINE_KEYS = (*service.STORY_KEYS, "player")


# -- 1. Event Timeline ---------------------------------------------------------------------


def key_text(by: str, value: str) -> str:
    """The search-page query for the events sharing one key (`player`: acting or acted upon)."""
    if by == "player":
        return f"{term('actor.id', value)} OR {term('target.id', value)}"
    return term(by, value)


def timeline(
    store: LogStore,
    scope: Scope,
    window: Window,
    by: str,
    value: str,
    *,
    gap_ms: int = 300_000,
    size: int = 500,
    cursor: str | None = None,
) -> dict:
    """Everything that happened to one key, oldest first, across components."""
    if by not in TIMELINE_KEYS:
        raise QueryError(f"by: one of {', '.join(TIMELINE_KEYS)}", field="by")
    value = value.strip()
    if not value:
        raise QueryError("value: which player, session, round, transaction… to follow", field="value")
    narrow = parse(window.q) if window.q else None

    def narrowed(request: SearchRequest) -> SearchRequest:
        if narrow is not None:
            request = replace(request, query=And((request.query, narrow)))
        return scope(request)

    request = SearchRequest(start_ms=window.start_ms, end_ms=window.end_ms, size=size, cursor=cursor, now_ms=window.now_ms)
    found = service.timeline(store, by, value, request, gap_ms, scope=narrowed)
    base = key_text(by, value)
    found["query"] = window.text(base)
    found["link"] = window.link(base)
    found["gap_ms_threshold"] = gap_ms
    found["long_gaps"] = sum(1 for e in found["entries"] if e["gap"])
    found["components"] = sorted(found["components"].items(), key=lambda kv: (-kv[1], kv[0]))
    for entry in found["entries"]:
        entry["gap_text"] = duration_text(entry["gap_ms"]) if entry["gap_ms"] is not None else ""
    if found["entries"]:
        first, last = found["entries"][0]["event"], found["entries"][-1]["event"]
        found["span_text"] = duration_text(event_ms(last) - event_ms(first))
    else:
        found["span_text"] = ""
    return found


# -- 2. Error History ----------------------------------------------------------------------


def error_history(store: LogStore, scope: Scope, window: Window, *, types: int = 10) -> dict:
    """Errors over time, the newest errors, facets, and the top error types with their count,
    first and last time seen in the window."""
    request = window.request(
        ERRORS_QUERY,
        size=LIST_SIZE,
        facets=("service.name", "error.type", "error.code"),
        facet_size=types,
        histogram_ms=histogram_width(window),
        total_bound=0,
    )
    result = store.search(scope(request))
    total, exact = histogram_total(store, scope, request, result)
    top = []
    for row in facet_rows(result, "error.type"):
        narrowed = replace(request, query=And((request.query, parse(term("error.type", row["value"])))))
        last = next((e for e in result.hits if get_path(e, "error.type") == row["value"]), None) or one(
            store, narrowed, scope
        )
        first = one(store, narrowed, scope, newest=False)
        top.append(
            {
                "type": row["value"],
                "count": row["count"],
                "first": first["@timestamp"] if first else None,
                "last": last["@timestamp"] if last else None,
                "message": error_message(last) if last else "",
                "link": window.link(f"{group(ERRORS_QUERY)} AND {term('error.type', row['value'])}"),
            }
        )
    return {
        "result": result,
        "hits": result.hits,
        "total": total,
        "total_exact": exact,
        "facets": {n: facet_rows(result, n) for n in request.facets},
        "facet_notes": facet_note(result),
        "types": top,
        "types_note": facet_note(result).get("error.type", ""),
        "histogram": result.histogram,
        "width_ms": request.histogram_ms,
        "histogram_timed_out": result.histogram_timed_out,
        "query": window.text(ERRORS_QUERY),
        "link": window.link(ERRORS_QUERY),
    }


def error_message(event: dict) -> str:
    return get_path(event, "error.message") or get_path(event, "message") or ""


# -- 3. User Actions -----------------------------------------------------------------------


def player_by_email(store: LogStore, scope: Scope, window: Window, email: str) -> str | None:
    """The player id of the newest event in the window whose actor.email is exactly `email`:
    among logins and profile changes first (quick), then among all events of the window."""
    wanted = term("actor.email", email.strip())
    for query in (f"{EMAIL_TYPES} AND {wanted}", wanted):
        request = SearchRequest(query=parse(query), start_ms=window.start_ms, end_ms=window.end_ms, now_ms=window.now_ms)
        found = one(store, request, scope)
        player = get_path(found, "actor.id") if found else None
        if isinstance(player, str) and player:
            return player
    return None


def player_activity(store: LogStore, scope: Scope, window: Window, player: str, *, size: int = 100) -> dict:
    """One player's logins, payments, game sessions and profile changes, newest first."""
    base = f"{group(key_text('player', player))} AND {PLAYER_QUERY}"
    request = window.request(
        base, size=size, facets=("event.type", "event.action", "event.outcome"), facet_size=20, total_bound=TOTAL_BOUND
    )
    result = store.search(scope(request))
    failed = store.search(
        scope(replace(request, query=And((request.query, parse(FAILURE_QUERY))), size=0, facets=("event.type",)))
    )
    failures_by_type = {row["value"]: row["count"] for row in facet_rows(failed, "event.type")}
    by_type = {row["value"]: row["count"] for row in facet_rows(result, "event.type")}
    kinds = [
        {
            "type": t,
            "count": by_type.get(t, 0),
            "failures": failures_by_type.get(t, 0),
            "link": window.link(f"{group(key_text('player', player))} AND event.type:{t}"),
        }
        for t in PLAYER_TYPES
    ]
    return {
        "player": player,
        "result": result,
        "hits": result.hits,
        "total": result.total,
        "total_exact": result.total_exact,
        "failures": failed.total,
        "failures_exact": failed.total_exact,
        "kinds": kinds,
        "facets": {n: facet_rows(result, n) for n in request.facets},
        "facet_notes": facet_note(result),
        "failure_link": window.link(f"{base} AND {group(FAILURE_QUERY)}"),
        "query": window.text(base),
        "link": window.link(base),
    }
