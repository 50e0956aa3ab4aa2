"""The health control views, read from a sample (app/search/control.py has the others): API Activity
(request rate, status classes, latency percentiles, the slowest routes) and Integration Status (per
provider: failures, latency, a status word). The store has no percentile aggregation: latencies and
per-provider figures are computed here over the newest `sample_size` matching events (at most
SAMPLE_MAX), and the pages say so. No Flask here."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from ..events.convert import format_ts
from ..events.failures import INTEGRATION_FAILURE_QUERY, INTEGRATION_FAILURE_STATUSES, is_integration_failure
from ..events.schema import get_path
from ..query.quoting import term
from ..storage import LogStore
from .control import LIST_SIZE
from .figures import (
    COUNT_ALL,
    FACET_BOUND,
    SAMPLE_DEFAULT,
    TOTAL_BOUND,
    duration_text,
    event_ms,
    facet_rows,
    histogram_total,
    latency,
    number,
    one,
    sample,
)
from .window import Scope, Window, group, histogram_width

API_QUERY = "event.component:api"
INTEGRATION_QUERY = "event.component:integration"
INTEGRATION_FAILURE = INTEGRATION_FAILURE_QUERY
STATUS_CLASSES = (("2xx", 200, 299), ("3xx", 300, 399), ("4xx", 400, 499), ("5xx", 500, 599))
DEGRADED_SHARE, FAILING_SHARE = 0.05, 0.20
SILENT_MS = 15 * 60_000


# -- 5. API Activity -----------------------------------------------------------------------


@dataclass(slots=True)
class _Route:
    """One route's figures in the sample: its requests, their durations, the 5xx among them."""

    durations: list[float] = field(default_factory=list)
    count: int = 0
    errors: int = 0


def api_activity(
    store: LogStore, scope: Scope, window: Window, *, sample_size: int = SAMPLE_DEFAULT, routes: int = 15
) -> dict:
    """Request rate over time and its count (histogram), status classes (a facet of status codes
    over the newest FACET_BOUND requests), latency percentiles and the slowest routes (over the
    newest `sample_size` requests)."""
    request = window.request(
        API_QUERY,
        size=0,
        histogram_ms=histogram_width(window),
        total_bound=0,
        facets=("http.response.status_code",),
        facet_size=100,
        facet_bound=FACET_BOUND,
    )
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
    classes = [
        {
            "name": name,
            "count": by_class[name],
            "share": by_class[name] / counted if counted else None,
            "link": window.link(f"{API_QUERY} AND http.response.status_code:[{low} TO {high}]"),
        }
        for name, low, high in STATUS_CLASSES
    ]
    events = sample(store, request, scope, sample_size) if total else []
    durations: list[float] = []
    per_route: dict[str, _Route] = {}
    for event in events:  # plain dict lookups: this loop runs up to SAMPLE_MAX times per page view
        http = event.get("http") or {}
        ms = number(http.get("duration"))
        path = (event.get("url") or {}).get("path")
        status = number((http.get("response") or {}).get("status_code"))
        if ms is not None:
            durations.append(ms)
        if isinstance(path, str):
            route = per_route.get(path)
            if route is None:
                route = per_route[path] = _Route()
            route.count += 1
            if ms is not None:
                route.durations.append(ms)
            if status is not None and status >= 500:
                route.errors += 1
    slowest = []
    for path, figures in per_route.items():
        stats = latency(figures.durations)
        slowest.append(
            {
                "path": path,
                "count": figures.count,
                "errors": figures.errors,
                "p50": stats["p50"],
                "p95": stats["p95"],
                "max": stats["max"],
                "link": window.link(f"{API_QUERY} AND {term('url.path', path)}"),
            }
        )
    slowest.sort(key=lambda r: (-(r["p95"] if r["p95"] is not None else -1), r["path"]))
    return {
        "result": result,
        "total": total,
        "total_exact": exact,
        "per_minute": total / (window.span_ms / 60_000) if window.span_ms else 0.0,
        "classes": classes,
        "classes_counted": counted,
        "classes_approximate": codes.approximate,
        "classes_timed_out": codes.timed_out,
        "error_rate": classes[3]["share"],
        "client_error_rate": classes[2]["share"],
        "latency": latency(durations),
        "sampled": len(events),
        "sample_size": sample_size,
        "sample_since": events[-1]["@timestamp"] if events else None,
        "routes": slowest[:routes],
        "route_count": len(per_route),
        "histogram": result.histogram,
        "width_ms": request.histogram_ms,
        "histogram_timed_out": result.histogram_timed_out,
        "query": window.text(API_QUERY),
        "link": window.link(API_QUERY),
    }


# -- 6. Integration Status -----------------------------------------------------------------


def integration_status(
    store: LogStore, scope: Scope, window: Window, *, sample_size: int = SAMPLE_DEFAULT, providers: int = 100
) -> dict:
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
    if not complete:  # providers active before the sample's span only
        before = store.search(
            scope(
                replace(request, end_ms=since_ms, histogram_ms=None, facets=("integration.provider",), facet_size=providers)
            )
        )
        earlier = {v["value"]: v["count"] for v in facet_rows(before, "integration.provider") if v["value"] not in seen}
    quiet_since = window.end_ms - SILENT_MS
    rows = []
    for name, figures in seen.items():
        stats = latency(figures["durations"])
        share = figures["failures"] / figures["events"]
        last, last_failure = figures["last"], figures["last_failure"]
        rows.append(
            provider_row(
                window,
                name,
                figures["events"],
                figures["failures"],
                share,
                last,
                last_failure,
                status_word(figures["events"], share, event_ms(last), quiet_since),
                stats,
            )
        )
    for name, n in earlier.items():
        last = one(store, window.request(term("integration.provider", name)), scope)
        last_ms = event_ms(last) if last else None
        rows.append(
            provider_row(
                window, name, None, None, None, last, None, status_word(n, 0.0, last_ms, quiet_since), latency([]), earlier=n
            )
        )
    order = {"failing": 0, "silent": 1, "degraded": 2, "ok": 3}
    rows.sort(key=lambda r: (order[r["status"]], -(r["share"] or 0), r["provider"]))
    return {
        "result": result,
        "providers": rows,
        "total": total,
        "total_exact": exact,
        "sampled": len(events),
        "sample_size": sample_size,
        "complete": complete,
        "since": format_ts(since_ms),
        "failures": len(failures),
        "newest_failures": failures[:LIST_SIZE],
        "silent_minutes": SILENT_MS // 60_000,
        "failure_statuses": INTEGRATION_FAILURE_STATUSES,
        "query": window.text(INTEGRATION_QUERY),
        "link": window.link(INTEGRATION_QUERY),
        "failure_query_link": window.link(f"{INTEGRATION_QUERY} AND {group(INTEGRATION_FAILURE)}"),
    }


def provider_row(
    window: Window,
    name: str,
    events,
    failures,
    share,
    last,
    last_failure,
    word: str,
    stats: dict,
    earlier: int | None = None,
) -> dict:
    base = f"{INTEGRATION_QUERY} AND {term('integration.provider', name)}"
    last_ms = event_ms(last) if last else None
    return {
        "provider": name,
        "events": events,
        "failures": failures,
        "share": share,
        "status": word,
        "earlier": earlier,
        "last": last["@timestamp"] if last else None,
        "last_ago": duration_text(window.end_ms - last_ms) if last_ms is not None else "",
        "last_failure": last_failure["@timestamp"] if last_failure else None,
        "last_failure_message": failure_message(last_failure) if last_failure else "",
        "p95": stats["p95"],
        "latency_count": stats["count"],
        "story": story_key(last_failure) or story_key(last),
        "link": window.link(base),
        "failure_link": window.link(f"{base} AND {group(INTEGRATION_FAILURE)}"),
    }


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
    return get_path(event, "error.message") or get_path(event, "message") or get_path(event, "integration.status") or ""


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
