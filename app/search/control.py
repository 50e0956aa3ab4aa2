"""The figures of the six control views: Event Timeline, Error History, User Actions, Admin
Operations, API Activity and Integration Status. No Flask here.

Each view is a search with a layout of its own: a base query (what the page is about) narrowed
by the reader's `q`, over a time window (`from`/`to`, the last 24 hours by default). The query
text is what the page's "open as a search" link carries, so the search page finds the same
events. Every store read goes through `scope` (the views pass `reading.scoped`).

The store counts (bounded totals), facets (exact over the newest `facet_bound` matches) and
histograms; it has no percentile or sum aggregation. Latencies are computed here over a bounded
sample of the newest matching events (at most SAMPLE_MAX), and the pages say so."""
from __future__ import annotations

import re
from dataclasses import replace

from ..events.convert import format_ts
from ..events.failures import (
    FAILURE_LEVEL_QUERY,
    FAILURE_QUERY,
    INTEGRATION_FAILURE_QUERY,
    INTEGRATION_FAILURE_STATUSES,
    is_integration_failure,
)
from ..events.schema import get_path
from ..query import QueryError, parse
from ..query.ast import And
from ..query.quoting import term
from ..storage import LogStore, SearchRequest
from . import service
from .figures import (
    COUNT_ALL,
    FACET_BOUND,
    SAMPLE_DEFAULT,
    TOTAL_BOUND,
    duration_text,
    event_ms,
    facet_note,
    facet_rows,
    histogram_total,
    latency,
    number,
    one,
    sample,
)
from .masking import mask_value
from .window import Scope, Window, group, histogram_width

LIST_SIZE = 50               # rows in a page's newest-first list

ERRORS_QUERY = f"{FAILURE_LEVEL_QUERY} OR event.component:error"
ADMIN_QUERY = "event.component:admin_action AND NOT event.type:access"
API_QUERY = "event.component:api"
INTEGRATION_QUERY = "event.component:integration"
PLAYER_TYPES = ("login", "payment", "game_session", "profile_change")
# Prefixes of the four types: the same events (no other documented type starts so), and on the
# embedded store a check of each of the player's few events rather than a join with every login,
# payment and game session of the window (25 times faster on a 5-million-event store).
PLAYER_QUERY = "event.type:(login* OR payment* OR game_session* OR profile_change*)"
EMAIL_TYPES = "event.type:(login OR profile_change)"   # where the demo and most platforms carry actor.email
INTEGRATION_FAILURE = INTEGRATION_FAILURE_QUERY
STATUS_CLASSES = (("2xx", 200, 299), ("3xx", 300, 399), ("4xx", 400, 499), ("5xx", 500, 599))
TIMELINE_KEYS = (*service.STORY_KEYS, "player")
DEGRADED_SHARE, FAILING_SHARE = 0.05, 0.20
SILENT_MS = 15 * 60_000
# change values of these fields are personal data whatever the event's schema says
PERSONAL_CHANGE_PARTS = ("email", "e-mail", "phone", "address", "iban", "birth", "password", "mobile")
PERSONAL_CHANGE_WORDS = {"name", "ip", "card", "pan", "surname", "dob", "ssn"}


# -- 1. Event Timeline ---------------------------------------------------------------------

def key_text(by: str, value: str) -> str:
    """The search-page query for the events sharing one key (`player`: acting or acted upon)."""
    if by == "player":
        return f"{term('actor.id', value)} OR {term('target.id', value)}"
    return term(by, value)


def timeline(store: LogStore, scope: Scope, window: Window, by: str, value: str, *, gap_ms: int = 300_000,
             size: int = 500, cursor: str | None = None) -> dict:
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

    request = SearchRequest(start_ms=window.start_ms, end_ms=window.end_ms, size=size, cursor=cursor,
                            now_ms=window.now_ms)
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
    request = window.request(ERRORS_QUERY, size=LIST_SIZE, facets=("service.name", "error.type", "error.code"),
                             facet_size=types, histogram_ms=histogram_width(window), total_bound=0)
    result = store.search(scope(request))
    total, exact = histogram_total(store, scope, request, result)
    top = []
    for row in facet_rows(result, "error.type"):
        narrowed = replace(request, query=And((request.query, parse(term("error.type", row["value"])))))
        last = next((e for e in result.hits if get_path(e, "error.type") == row["value"]), None) \
            or one(store, narrowed, scope)
        first = one(store, narrowed, scope, newest=False)
        top.append({"type": row["value"], "count": row["count"],
                    "first": first["@timestamp"] if first else None, "last": last["@timestamp"] if last else None,
                    "message": error_message(last) if last else "",
                    "link": window.link(f"{group(ERRORS_QUERY)} AND {term('error.type', row['value'])}")})
    return {"result": result, "hits": result.hits, "total": total, "total_exact": exact,
            "facets": {n: facet_rows(result, n) for n in request.facets}, "facet_notes": facet_note(result),
            "types": top, "types_note": facet_note(result).get("error.type", ""),
            "histogram": result.histogram, "width_ms": request.histogram_ms,
            "histogram_timed_out": result.histogram_timed_out,
            "query": window.text(ERRORS_QUERY), "link": window.link(ERRORS_QUERY)}


def error_message(event: dict) -> str:
    return get_path(event, "error.message") or get_path(event, "message") or ""


# -- 3. User Actions -----------------------------------------------------------------------

def player_by_email(store: LogStore, scope: Scope, window: Window, email: str) -> str | None:
    """The player id of the newest event in the window whose actor.email is exactly `email`:
    among logins and profile changes first (quick), then among all events of the window."""
    wanted = term("actor.email", email.strip())
    for query in (f"{EMAIL_TYPES} AND {wanted}", wanted):
        request = SearchRequest(query=parse(query), start_ms=window.start_ms, end_ms=window.end_ms,
                                now_ms=window.now_ms)
        found = one(store, request, scope)
        player = get_path(found, "actor.id") if found else None
        if isinstance(player, str) and player:
            return player
    return None


def player_activity(store: LogStore, scope: Scope, window: Window, player: str, *, size: int = 100) -> dict:
    """One player's logins, payments, game sessions and profile changes, newest first."""
    base = f"{group(key_text('player', player))} AND {PLAYER_QUERY}"
    request = window.request(base, size=size, facets=("event.type", "event.action", "event.outcome"),
                             facet_size=20, total_bound=TOTAL_BOUND)
    result = store.search(scope(request))
    failed = store.search(scope(replace(request, query=And((request.query, parse(FAILURE_QUERY))), size=0,
                                        facets=("event.type",))))
    failures_by_type = {row["value"]: row["count"] for row in facet_rows(failed, "event.type")}
    by_type = {row["value"]: row["count"] for row in facet_rows(result, "event.type")}
    kinds = [{"type": t, "count": by_type.get(t, 0), "failures": failures_by_type.get(t, 0),
              "link": window.link(f"{group(key_text('player', player))} AND event.type:{t}")} for t in PLAYER_TYPES]
    return {"player": player, "result": result, "hits": result.hits, "total": result.total,
            "total_exact": result.total_exact, "failures": failed.total, "failures_exact": failed.total_exact,
            "kinds": kinds, "facets": {n: facet_rows(result, n) for n in request.facets},
            "facet_notes": facet_note(result), "failure_link": window.link(f"{base} AND {group(FAILURE_QUERY)}"),
            "query": window.text(base), "link": window.link(base)}


# -- 4. Admin Operations -------------------------------------------------------------------

def admin_operations(store: LogStore, scope: Scope, window: Window, *, sees_personal: bool,
                     size: int = LIST_SIZE, cursor: str | None = None) -> dict:
    """Employees' operations in the back office (never the reading trail), newest first, each
    with its changes as before/after rows."""
    request = window.request(ADMIN_QUERY, size=size, cursor=cursor, facets=("actor.id", "event.action"),
                             facet_size=15, total_bound=TOTAL_BOUND)
    result = store.search(scope(request))
    operations = [{"event": e, "changes": change_rows(e, sees_personal)} for e in result.hits]
    return {"result": result, "operations": operations, "total": result.total, "total_exact": result.total_exact,
            "facets": {n: facet_rows(result, n) for n in request.facets}, "facet_notes": facet_note(result),
            "next_cursor": result.next_cursor, "query": window.text(ADMIN_QUERY), "link": window.link(ADMIN_QUERY)}


def change_text(value) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ", ".join(change_text(v) for v in value) or "(none)"
    if isinstance(value, dict):
        return ", ".join(f"{k}={change_text(v)}" for k, v in value.items())
    return str(value)


def personal_change(field: str) -> bool:
    """A change of personal data: e-mail, phone, address… anywhere in the name; name, ip,
    card… as words of it (deposit_limit is not, first_name and new_email are)."""
    name = field.lower()
    words = set(re.split(r"[^a-z0-9]+", name))
    return any(word in name for word in PERSONAL_CHANGE_PARTS) or bool(words & PERSONAL_CHANGE_WORDS)


def change_rows(event: dict, sees_personal: bool) -> list[dict]:
    """`changes` as rows {field, before, after, masked}: {field, old, new} (the schema's names)
    or {field, from, to}. Values of personal fields (e-mail, phone, name…) are masked for
    readers who may not see personal data."""
    raw = event.get("changes")
    if isinstance(raw, dict):
        raw = [raw]
    rows = []
    for item in raw if isinstance(raw, list) else []:
        if not isinstance(item, dict):
            continue
        field = str(item.get("field", ""))
        before = item.get("old", item.get("from"))
        after = item.get("new", item.get("to"))
        masked = not sees_personal and personal_change(field)
        if masked:
            kind = "actor.email" if "mail" in field.lower() else "actor.name"
            before = None if before is None else mask_value(kind, change_text(before))
            after = None if after is None else mask_value(kind, change_text(after))
        rows.append({"field": field, "before": change_text(before), "after": change_text(after),
                     "has_before": "old" in item or "from" in item, "has_after": "new" in item or "to" in item,
                     "masked": masked})
    return rows


# -- 5. API Activity -----------------------------------------------------------------------

def api_activity(store: LogStore, scope: Scope, window: Window, *, sample_size: int = SAMPLE_DEFAULT,
                 routes: int = 15) -> dict:
    """Request rate over time and its count (histogram), status classes (a facet of status codes
    over the newest FACET_BOUND requests), latency percentiles and the slowest routes (over the
    newest `sample_size` requests)."""
    request = window.request(API_QUERY, size=0, histogram_ms=histogram_width(window), total_bound=0,
                             facets=("http.response.status_code",), facet_size=100, facet_bound=FACET_BOUND)
    result = store.search(scope(request))
    total, exact = histogram_total(store, scope, request, result)
    codes = result.facets["http.response.status_code"]
    counted = min(total, FACET_BOUND) if codes.approximate else total
    by_class = {name: 0 for name, _, _ in STATUS_CLASSES}
    for value in codes.values:
        code = number(value.value)
        for name, low, high in STATUS_CLASSES:
            if code is not None and low <= code <= high:
                by_class[name] += value.count
    classes = [{"name": name, "count": by_class[name], "share": by_class[name] / counted if counted else None,
                "link": window.link(f"{API_QUERY} AND http.response.status_code:[{low} TO {high}]")}
               for name, low, high in STATUS_CLASSES]
    events = sample(store, request, scope, sample_size) if total else []
    durations, per_route = [], {}
    for event in events:   # plain dict lookups: this loop runs up to SAMPLE_MAX times per page view
        http = event.get("http") or {}
        ms = number(http.get("duration"))
        path = (event.get("url") or {}).get("path")
        status = number((http.get("response") or {}).get("status_code"))
        if ms is not None:
            durations.append(ms)
        if isinstance(path, str):
            route = per_route.get(path)
            if route is None:
                route = per_route[path] = {"durations": [], "count": 0, "errors": 0}
            route["count"] += 1
            if ms is not None:
                route["durations"].append(ms)
            if status is not None and status >= 500:
                route["errors"] += 1
    slowest = []
    for path, figures in per_route.items():
        stats = latency(figures["durations"])
        slowest.append({"path": path, "count": figures["count"], "errors": figures["errors"],
                        "p50": stats["p50"], "p95": stats["p95"], "max": stats["max"],
                        "link": window.link(f"{API_QUERY} AND {term('url.path', path)}")})
    slowest.sort(key=lambda r: (-(r["p95"] if r["p95"] is not None else -1), r["path"]))
    return {"result": result, "total": total, "total_exact": exact,
            "per_minute": total / (window.span_ms / 60_000) if window.span_ms else 0.0,
            "classes": classes, "classes_counted": counted, "classes_approximate": codes.approximate,
            "classes_timed_out": codes.timed_out,
            "error_rate": classes[3]["share"], "client_error_rate": classes[2]["share"],
            "latency": latency(durations), "sampled": len(events), "sample_size": sample_size,
            "sample_since": events[-1]["@timestamp"] if events else None,
            "routes": slowest[:routes], "route_count": len(per_route),
            "histogram": result.histogram, "width_ms": request.histogram_ms,
            "histogram_timed_out": result.histogram_timed_out,
            "query": window.text(API_QUERY), "link": window.link(API_QUERY)}


# -- 6. Integration Status -----------------------------------------------------------------

def integration_status(store: LogStore, scope: Scope, window: Window, *, sample_size: int = SAMPLE_DEFAULT,
                       providers: int = 100) -> dict:
    """Per provider, over the newest `sample_size` provider events of the window (all of them
    when the window holds fewer): events, failures, failure share, last event, last failure and
    its message, p95 latency and a status word. Providers with events earlier in the window but
    none among those (found by a facet over the rest of the window) are listed as silent."""
    # the page's own query is one indexed value, counted from the index alone: count it all
    request = window.request(INTEGRATION_QUERY, size=0, total_bound=TOTAL_BOUND if window.q else COUNT_ALL)
    result = store.search(scope(request))
    total, exact = result.total, result.total_exact
    events = sample(store, request, scope, sample_size) if total else []
    complete = len(events) < sample_size or (exact and len(events) >= total)
    since_ms = window.start_ms if complete or not events else event_ms(events[-1])
    seen: dict[str, dict] = {}
    failures = []
    for event in events:
        integration = event.get("integration") or {}
        name = integration.get("provider")
        if not isinstance(name, str) or not name:
            continue
        row = seen.get(name)
        if row is None:
            row = seen[name] = {"events": 0, "failures": 0, "last": event, "last_failure": None, "durations": []}
        row["events"] += 1
        if is_integration_failure(event):
            row["failures"] += 1
            row["last_failure"] = row["last_failure"] or event
            failures.append(event)
        ms = number(integration.get("duration"))
        if ms is not None:
            row["durations"].append(ms)
    earlier: dict[str, int] = {}
    if not complete:   # providers active before the sample's span only
        before = store.search(scope(replace(request, end_ms=since_ms, histogram_ms=None, facets=("integration.provider",),
                                            facet_size=providers)))
        earlier = {v["value"]: v["count"] for v in facet_rows(before, "integration.provider") if v["value"] not in seen}
    quiet_since = window.end_ms - SILENT_MS
    rows = []
    for name, figures in seen.items():
        stats = latency(figures["durations"])
        share = figures["failures"] / figures["events"]
        last, last_failure = figures["last"], figures["last_failure"]
        rows.append(provider_row(window, name, figures["events"], figures["failures"], share, last, last_failure,
                                 status_word(figures["events"], share, event_ms(last), quiet_since), stats))
    for name, n in earlier.items():
        last = one(store, window.request(term("integration.provider", name)), scope)
        last_ms = event_ms(last) if last else None
        rows.append(provider_row(window, name, None, None, None, last, None,
                                 status_word(n, 0.0, last_ms, quiet_since), latency([]), earlier=n))
    order = {"failing": 0, "silent": 1, "degraded": 2, "ok": 3}
    rows.sort(key=lambda r: (order[r["status"]], -(r["share"] or 0), r["provider"]))
    return {"result": result, "providers": rows, "total": total, "total_exact": exact,
            "sampled": len(events), "sample_size": sample_size, "complete": complete,
            "since": format_ts(since_ms), "failures": len(failures), "newest_failures": failures[:LIST_SIZE],
            "silent_minutes": SILENT_MS // 60_000, "failure_statuses": INTEGRATION_FAILURE_STATUSES,
            "query": window.text(INTEGRATION_QUERY), "link": window.link(INTEGRATION_QUERY),
            "failure_query_link": window.link(f"{INTEGRATION_QUERY} AND {group(INTEGRATION_FAILURE)}")}


def provider_row(window: Window, name: str, events, failures, share, last, last_failure, word: str, stats: dict,
                 earlier: int | None = None) -> dict:
    base = f"{INTEGRATION_QUERY} AND {term('integration.provider', name)}"
    last_ms = event_ms(last) if last else None
    return {"provider": name, "events": events, "failures": failures, "share": share, "status": word,
            "earlier": earlier,
            "last": last["@timestamp"] if last else None,
            "last_ago": duration_text(window.end_ms - last_ms) if last_ms is not None else "",
            "last_failure": last_failure["@timestamp"] if last_failure else None,
            "last_failure_message": failure_message(last_failure) if last_failure else "",
            "p95": stats["p95"], "latency_count": stats["count"],
            "story": story_key(last_failure) or story_key(last),
            "link": window.link(base), "failure_link": window.link(f"{base} AND {group(INTEGRATION_FAILURE)}")}


STORY_ORDER = ("correlation.id", "payment.transaction_id", "game.round_id", "session.id", "trace.id")


def story_key(event: dict | None) -> tuple[str, str] | None:
    """(key, value) to follow an event's story on the timeline: its correlation id, else its
    transaction, round, session or trace."""
    if event is None:
        return None
    for key in STORY_ORDER:
        value = get_path(event, key)
        if isinstance(value, (str, int)) and value != "":
            return key, str(value)
    return None


def failure_message(event: dict) -> str:
    return (get_path(event, "error.message") or get_path(event, "message")
            or get_path(event, "integration.status") or "")


def status_word(events: int, share: float, last_ms: int | None, quiet_since_ms: int) -> str:
    """silent: nothing in the window's last 15 minutes though it had events before; failing:
    over 20 % of its events failed; degraded: over 5 %; ok otherwise."""
    if events and last_ms is not None and last_ms < quiet_since_ms:
        return "silent"
    if share > FAILING_SHARE:
        return "failing"
    if share > DEGRADED_SHARE:
        return "degraded"
    return "ok"
