"""The six control views: Event Timeline, Error History, User Actions, Admin Operations, API
Activity, Integration Status (the Errors page lists the error groups first: error_groups.py).
Each is a search with a fitting layout, linked to the search page.

Thin: parse the arguments, call app/search/control*.py (every read scoped by app/web/reading.py),
mask what is shown, record one reading-trail line per page view, render. A bad query, time or
parameter is shown inline on the page (answered 400), never a 500."""

from __future__ import annotations

from flask import current_app, render_template, request

from ..auth import page_access
from ..query import QueryError, parse
from ..query.quoting import term
from ..search import control, control_admin, control_health, masking
from ..search.figures import SAMPLE_DEFAULT, SAMPLE_MAX, duration_text, ms_text, share_text
from ..search.window import bounded_int, default_window, parse_window
from ..storage import CursorError, SearchRequest
from . import presenting, reading, web

RANGES = [
    ("now-15m", "15 minutes"),
    ("now-1h", "1 hour"),
    ("now-24h", "24 hours"),
    ("now-7d", "7 days"),
    ("now-30d", "30 days"),
]


def _store():
    return current_app.extensions["platlogs"].store


def _window():
    """The page's window; on a bad q/from/to the default window and the error to show."""
    try:
        window = parse_window(request.args)
        reading.scoped(SearchRequest(query=parse(window.q)))  # positions in what the reader typed
        return window, None
    except QueryError as exc:
        return default_window(), exc


def _compute(figures):
    """(figures(), None), or (None, the error to show inline): a query the store refuses as
    written, a bad parameter or a cursor from elsewhere answers 400 on the page, never a 500."""
    try:
        return figures(), None
    except QueryError as exc:
        return None, exc
    except CursorError as exc:
        return None, QueryError(str(exc), field="cursor")


def here(**changes) -> dict:
    """This page's URL arguments with `changes` applied (None removes one)."""
    args = {k: v for k, v in request.args.items() if v}
    for key, value in changes.items():
        if value is None:
            args.pop(key, None)
        else:
            args[key] = value
    return args


def _render(template: str, window, error, figures, **context):
    context.setdefault("here", here)
    bars = []
    if figures and figures.get("histogram"):
        bars = presenting.bars(figures["histogram"], figures["width_ms"] or 1)
    return render_template(
        template,
        window=window,
        error=error,
        figures=figures,
        ranges=RANGES,
        args=request.args,
        bars=bars,
        cell=presenting.cell,
        with_clause=presenting.with_clause,
        ms_text=ms_text,
        share_text=share_text,
        endpoint=request.endpoint,
        q=request.args.get("q", ""),
        **context,
    ), 400 if error is not None else 200


def _sample() -> int:
    """How many of the newest events a latency figure is computed over (`sample`, ≤ 20,000)."""
    return bounded_int(request.args, "sample", SAMPLE_DEFAULT, 100, SAMPLE_MAX)


def _record(kind: str, window, query: str, rows: int, total: int | None, **extra) -> None:
    """The page's one line in the reading trail."""
    reading.record_search(kind, query, SearchRequest(start_ms=window.start_ms, end_ms=window.end_ms), rows, total, **extra)


@web.get("/timeline")
@page_access("view_timeline")
def timeline():
    window, error = _window()
    by, value = request.args.get("by") or "player", (request.args.get("value") or "").strip()
    figures = None
    if error is None and value:
        figures, error = _compute(
            lambda: control.timeline(
                _store(),
                reading.scoped,
                window,
                by,
                value,
                cursor=request.args.get("cursor") or None,
                gap_ms=bounded_int(request.args, "gap_minutes", 5, 1, 60 * 24 * 30) * 60_000,
                size=bounded_int(request.args, "size", 500, 1, 1000),
            )
        )
    if figures is not None:
        _record("timeline", window, figures["query"], len(figures["entries"]), figures["total"], by=by, value=value)
        for entry in figures["entries"]:
            entry["event"] = reading.shown(entry["event"])
    return _render("control/timeline.html", window, error, figures, by=by, value=value, keys=control.TIMELINE_KEYS)


@web.get("/errors")
@page_access("view_errors")
def errors():
    window, error = _window()
    figures, groups = None, None
    if error is None:  # the error groups first (issue 14.6), then the history as before
        groups, error = _compute(lambda: error_groups.listing(window, request.args))
    if error is None:
        figures, error = _compute(lambda: control.error_history(_store(), reading.scoped, window))
    if figures is not None:
        _record(
            "errors",
            window,
            figures["query"],
            len(figures["hits"]),
            figures["total"],
            groups=len(groups["groups"]) if groups else 0,
        )
        figures["hits"] = reading.shown_all(figures["hits"])
        figures["facets"] = reading.shown_facets(figures["facets"])
    return _render(
        "control/errors.html",
        window,
        error,
        figures,
        groups=groups,
        status=request.args.get("status") or "unresolved",
        sort=request.args.get("sort") or "count",
        status_filters=error_groups.service.STATUS_FILTERS,
        duration_text=duration_text,
    )


@web.get("/players")
@page_access("view_user_actions")
def user_actions():
    window, error = _window()
    asked = (request.args.get("player") or "").strip()
    figures, player, by_email, not_found = None, None, None, False
    if error is None and asked:
        if "@" in asked:  # an exact e-mail: the player id of the newest event carrying it
            by_email = asked if reading.sees_personal() else masking.mask_value("actor.email", asked)
            player, error = _compute(lambda: control.player_by_email(_store(), reading.scoped, window, asked))
        else:
            player = asked
        if player:
            figures, error = _compute(lambda: control.player_activity(_store(), reading.scoped, window, player))
        if figures is not None:
            note = f" (found by e-mail {by_email})" if by_email else ""
            _record("user_actions", window, figures["query"] + note, len(figures["hits"]), figures["total"], player=player)
            figures["hits"] = reading.shown_all(figures["hits"])
            figures["facets"] = reading.shown_facets(figures["facets"])
        elif error is None:
            not_found = True
            _record("user_actions", window, term("actor.email", by_email), 0, 0)
    # links and forms carry the player id, never the e-mail typed (it may not be shown)
    return _render(
        "control/players.html",
        window,
        error,
        figures,
        player=player,
        by_email=by_email,
        not_found=not_found,
        asked=player or ("" if by_email else asked),
        here=lambda **changes: here(**{"player": player or None, **changes}),
    )


@web.get("/admin-operations")
@page_access("view_admin_ops")
def admin_ops():
    window, error = _window()
    figures = None
    if error is None:
        figures, error = _compute(
            lambda: control_admin.admin_operations(
                _store(),
                reading.scoped,
                window,
                sees_personal=reading.sees_personal(),
                cursor=request.args.get("cursor") or None,
            )
        )
    if figures is not None:
        _record("admin_operations", window, figures["query"], len(figures["operations"]), figures["total"])
        for operation in figures["operations"]:
            operation["event"] = reading.shown(operation["event"])
        figures["facets"] = reading.shown_facets(figures["facets"])
    return _render("control/admin_ops.html", window, error, figures, paging=bool(request.args.get("cursor")))


@web.get("/api-activity")
@page_access("view_api")
def api_activity():
    window, error = _window()
    figures = None
    if error is None:
        figures, error = _compute(
            lambda: control_health.api_activity(_store(), reading.scoped, window, sample_size=_sample())
        )
    if figures is not None:
        _record("api_activity", window, figures["query"], figures["sampled"], figures["total"])
    return _render("control/api.html", window, error, figures)


@web.get("/integrations")
@page_access("view_integrations")
def integrations():
    window, error = _window()
    figures = None
    if error is None:
        figures, error = _compute(
            lambda: control_health.integration_status(_store(), reading.scoped, window, sample_size=_sample())
        )
    if figures is not None:
        _record("integrations", window, figures["query"], figures["sampled"], figures["total"])
        figures["newest_failures"] = reading.shown_all(figures["newest_failures"])
    return _render("control/integrations.html", window, error, figures)


from . import error_groups  # noqa: E402  (its pages and API; the list is on the Errors page above)
