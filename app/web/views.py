"""The search page, one event, its surroundings, reveals and saved searches. Thin: parse the
request, call the search service, render. The URL holds the whole state of the search page."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from flask import current_app, redirect, render_template, request, url_for
from flask_login import current_user

from ..access import roles
from ..auth import page_access
from ..errors import ApiError
from ..events.convert import format_ts
from ..events.schema import get_path
from ..meta import accounts
from ..query import QueryError
from ..query.timeexpr import parse_time
from ..search import masking, service
from ..search.figures import facet_note
from ..search.found_in import identifier_names, where_found
from ..search.params import search_params
from ..storage import CursorError, SearchRequest, SearchResult
from . import presenting, reading, web

RANGES = [
    ("now-15m", "15 minutes"),
    ("now-1h", "1 hour"),
    ("now-24h", "24 hours"),
    ("now-7d", "7 days"),
    ("now-30d", "30 days"),
    ("", "all time"),
]
PRESETS = {value or "all": value for value, _ in RANGES}  # the time picker's buttons (preset=…)
STATE = ("q", "from", "to", "cols", "order", "stream")
PAGE_BUDGET_MS = 2000  # facets and histogram: past this, the page says they ran out of time


def _services():
    return current_app.extensions["platlogs"]


def _earliest() -> int | None:
    return service.earliest_ms(_services().store)


def iso(raw: str | None) -> str | None:
    """An absolute time of the URL (ISO-8601 or epoch ms) as ISO-8601 UTC; None for a relative
    time (now-2h) or one that is no time (the search reports it)."""
    if not raw or raw.strip().startswith("now"):
        return None
    try:
        return format_ts(parse_time(raw, 0))
    except (QueryError, ValueError, OverflowError, OSError):
        return None


def _canonical_changes() -> dict:
    """What the URL should say instead: a time preset pressed (the query typed in the box kept),
    chosen columns as one `cols`, epoch milliseconds as ISO times. Empty when it is canonical."""
    changes: dict = {}
    if request.args.getlist("col"):  # the columns form: one canonical URL (cols=a,b)
        changes["cols"] = ",".join(request.args.getlist("col"))
    if "preset" in request.args:
        changes.update({"from": PRESETS.get(request.args["preset"], "now-24h"), "to": None, "cursor": None})
    for name in ("from", "to"):
        raw = request.args.get(name, "")
        if name not in changes and raw.isascii() and raw.isdigit() and iso(raw):
            changes[name] = iso(raw)
    return changes


def state(**changes) -> dict:
    """The current search's URL parameters with `changes` applied (None removes one)."""
    args = {k: request.args.get(k) for k in STATE if request.args.get(k)}
    if "from" not in request.args:
        args["from"] = "now-24h"
    for key, value in changes.items():
        key = key.rstrip("_")
        if value is None:
            args.pop(key, None)
        else:
            args[key] = value
    return args


@web.get("/")
@page_access("search")
def index():
    changes = _canonical_changes()
    if changes:
        return redirect(url_for("web.index", **state(**changes)))
    args = state()
    args.update(facets=",".join(presenting.PAGE_FACETS), histogram="auto", size="50", cursor=request.args.get("cursor", ""))
    error = None
    try:
        params = search_params(args, earliest=_earliest)
        reading.scoped(params.request)  # the reader's restrictions, shown like any error of the query
    except QueryError as exc:  # shown inline at its position; the page still answers
        error = exc
        params = search_params({"from": "now-24h", "size": "0"})
    store = reading.stream(request.args.get("stream"))
    # totals and facets are exact; facets or a histogram that run out of time are shown as such
    page_request = replace(reading.scoped(params.request), budget_ms=PAGE_BUDGET_MS)
    result = SearchResult([], 0)
    if error is None:
        try:
            result = store.search(page_request)
        except QueryError as exc:  # found while compiling (e.g. a query too large for the store): shown the same way
            error = exc
        except CursorError as exc:
            error = QueryError(str(exc), field="cursor")
    found_in = []
    if error is None:
        reading.record_search("search", params.q, params.request, len(result.hits), result.total)
        if result.total and not request.args.get("cursor"):
            found_in = where_found(store, page_request, reading.scoped)
    req = params.request
    facets = reading.shown_facets(
        {name: [{"value": v.value, "count": v.count} for v in f.values] for name, f in result.facets.items()}
    )
    saved = accounts.saved_searches(_services(), current_user)
    html = render_template(
        "search.html",
        result=result,
        hits=reading.shown_all(result.hits),
        facets=facets,
        facet_notes=facet_note(result),
        page="web.index",
        q=args.get("q", ""),
        args=args,
        error=error,
        ranges=RANGES,
        columns=presenting.columns(request.args.get("cols")),
        choosable=presenting.CHOOSABLE_COLUMNS,
        bars=presenting.bars(result.histogram, req.histogram_ms or 1),
        width_ms=req.histogram_ms,
        state=state,
        with_clause=presenting.with_clause,
        without_clause=presenting.without_clause,
        cell=presenting.cell,
        saved=saved,
        paging=bool(request.args.get("cursor")),
        role_names=list(roles()),
        iso=iso,
        format_ts=format_ts,
        preset_label=dict(RANGES).get(args.get("from", "")) if not args.get("to") else None,
        found_in=found_in,
        identifier_fields=identifier_names(),
        budget_s=PAGE_BUDGET_MS / 1000,
    )
    return html, 400 if error is not None else 200  # the page shows the error; the status says it too


@web.get("/events/<event_id>")
@page_access("search")
def event_detail(event_id: str):
    event = reading.visible(reading.stream(request.args.get("stream")).get(event_id))
    if event is None:
        raise ApiError(404, "no such event")
    reading.record_view(event_id)
    shown = reading.shown(event)
    revealed: dict[str, Any] = {}
    keys = [(k, get_path(event, k)) for k in service.STORY_KEYS if get_path(event, k) is not None]
    return render_template(
        "event.html",
        event=shown,
        rows=presenting.flatten(shown),
        masked=set(shown.get("_masked", [])),
        revealed=revealed,
        keys=[
            (k, v if not masking.is_personal(k) or reading.sees_personal() else masking.mask_value(k, v)) for k, v in keys
        ],
    )


@web.post("/events/<event_id>/reveal")
@page_access("reveal_personal")
def reveal_page(event_id: str):
    """The event page with one personal value shown, for a stated reason (recorded)."""
    field, reason = request.form.get("field", ""), request.form.get("reason", "").strip()
    if not 5 <= len(reason) <= 500:
        raise ApiError(400, "Say why you need to see this value (5 to 500 characters).")
    event = reading.visible(reading.stream(request.args.get("stream")).get(event_id))
    if event is None:
        raise ApiError(404, "no such event")
    if not masking.revealable(event, field):
        raise ApiError(400, f"{field!r} is not a personal field, nor holds personal data")
    reading.record_reveal(event_id, field, reason)
    shown = reading.shown(event)
    keys = [(k, get_path(event, k)) for k in service.STORY_KEYS if get_path(event, k) is not None]
    return render_template(
        "event.html",
        event=shown,
        rows=presenting.flatten(shown),
        masked=set(shown.get("_masked", [])),
        revealed={field: get_path(event, field)},
        keys=keys,
    )


@web.get("/events/<event_id>/context")
@page_access("search")
def event_context(event_id: str):
    by = request.args.get("by") or None
    found = service.context(_services().store, event_id, by, 25, 25, scope=reading.scoped)
    if found is None or reading.visible(found["event"]) is None:
        raise ApiError(404, "no such event")
    reading.record_search(
        "context", f"{by or 'time'} around {event_id}", SearchRequest(), len(found["before"]) + len(found["after"]) + 1
    )
    rows = [*reading.shown_all(found["before"]), reading.shown(found["event"]), *reading.shown_all(found["after"])]
    return render_template(
        "context.html",
        rows=rows,
        center=event_id,
        by=by,
        value=found["value"]
        if not (by and masking.is_personal(by)) or reading.sees_personal()
        else masking.mask_value(by, found["value"]),
        columns=presenting.DEFAULT_COLUMNS,
        cell=presenting.cell,
    )


@web.get("/trail")
@page_access("reading_trail")
def trail():
    """The reading trail: who searched, viewed, revealed and exported what (its own stream)."""
    since: dict[str, Any] = {"from": request.args.get("from", "now-7d")}  # (`from` is a keyword)
    return redirect(url_for("web.index", stream="trail", **since))


@web.post("/saved-searches")
@page_access("saved_searches")
def save_search_page():
    form = request.form
    try:
        search_params({"q": form.get("q", ""), "from": form.get("from") or "", "to": form.get("to") or ""})
        accounts.save_search(
            _services(),
            current_user,
            form.get("name", "").strip(),
            form.get("q", ""),
            form.get("from") or None,
            form.get("to") or None,
            form.get("shared_role") or None,
        )
    except (QueryError, ValueError) as exc:
        raise ApiError(400, getattr(exc, "message", str(exc))) from None
    window: dict[str, Any] = {"from": form.get("from", ""), "to": form.get("to", "")}
    return redirect(url_for("web.index", q=form.get("q", ""), **window))
