"""Dashboards (dashboards/*.yaml) in the back office and as JSON. Thin: parse the range, call
app/dashboards/panels.py (every read scoped by app/web/reading.py), record one reading-trail line,
render. The page and the API answer from the same function (`figures`), so a script reading
/api/v1/dashboards/<id>/data gets the numbers the page shows."""

from __future__ import annotations

from functools import partial

from flask import Blueprint, abort, current_app, jsonify, render_template, request, url_for

from .. import audit
from ..auth import api_access, page_access
from ..dashboards import definitions
from ..dashboards.panels import dashboard_data, window_for
from ..dashboards.stored import StoredDashboards
from ..errors import ApiError
from ..query import QueryError
from ..storage import SearchRequest
from . import reading, web

api = Blueprint("dashboards_api", __name__, url_prefix="/api/v1")
RANGES = [
    ("now-15m", "15 minutes"),
    ("now-1h", "1 hour"),
    ("now-6h", "6 hours"),
    ("now-24h", "24 hours"),
    ("now-7d", "7 days"),
    ("now-30d", "30 days"),
]
AUDIT_TYPE = "permission_change"  # admin actions' event type (app/audit.py), as alert rule edits record theirs
REFRESH_LABELS = {"off": "off", "30s": "30 s", "1m": "1 min", "5m": "5 min"}


def _shipped():
    return definitions.shipped(current_app.config.get("PLATLOGS_DASHBOARDS_DIR"))


def shipped_ids() -> list[str]:
    """The ids the shipped files take (a file that does not load too): never a stored one's."""
    try:
        return [
            p.stem
            for p in definitions.dashboard_files(
                current_app.config.get("PLATLOGS_DASHBOARDS_DIR") or definitions.default_dashboards_dir()
            )
        ]
    except definitions.DashboardError:
        return []


def stored_service() -> StoredDashboards:
    """The stored dashboards' service, recording its changes as admin actions (app/audit.py)."""
    return StoredDashboards(
        current_app.extensions["platlogs"].meta, shipped_ids, record=partial(audit.record, event_type=AUDIT_TYPE)
    )


def _dashboards():
    """Shipped and stored dashboards (shipped first), and the errors of those that cannot show."""
    found, errors = _shipped()
    mine, broken = stored_service().all()
    return [*found, *mine], [*errors, *broken]


def _find(dashboard_id: str, page: bool = False) -> definitions.Dashboard:
    found = next((d for d in _shipped()[0] if d.id == dashboard_id), None) or stored_service().dashboard(dashboard_id)
    if found is None:
        message = f"no dashboard with id {dashboard_id[:80]!r}"
        if page:
            abort(404, message)
        raise ApiError(404, message)
    return found


def _urls(node):
    """Every `…link` of the figures (search-page arguments) as a URL of the search page."""
    if isinstance(node, dict):
        return {
            k: (url_for("web.index", **v) if k.endswith("link") and isinstance(v, dict) else _urls(v))
            for k, v in node.items()
        }
    if isinstance(node, list):
        return [_urls(v) for v in node]
    return node


def figures(dashboard: definitions.Dashboard, args) -> dict:
    """Every panel's figures over the asked range (QueryError: a bad from/to), recorded in the
    reading trail before they leave."""
    window = window_for(dashboard, args)
    data = dashboard_data(reading.stream(None), reading.scoped, window, dashboard, sees_personal=reading.sees_personal())
    reading.record_search(
        "dashboard",
        f"dashboard {dashboard.id}",
        SearchRequest(start_ms=window.start_ms, end_ms=window.end_ms),
        len(data["panels"]),
        dashboard=dashboard.id,
    )
    return _urls(data)


def summary(dashboard: definitions.Dashboard) -> dict:
    return {
        "id": dashboard.id,
        "title": dashboard.title,
        "description": dashboard.description,
        "range": dashboard.range,
        "refresh": dashboard.refresh,
        "stored": dashboard.owner is not None,
        "owner": dashboard.owner,
        "url": url_for("web.dashboard", dashboard_id=dashboard.id),
        "data_url": url_for("dashboards_api.dashboard_panels", dashboard_id=dashboard.id),
        "panels": [{"id": p.id, "title": p.title, "kind": p.kind, "query": p.query} for p in dashboard.panels],
    }


# -- pages ---------------------------------------------------------------------------------------


@web.get("/dashboards")
@page_access("view_dashboards")
def dashboards():
    found, errors = _dashboards()
    return render_template(
        "dashboards/list.html",
        dashboards=[d for d in found if d.owner is None],
        stored=[d for d in found if d.owner is not None],
        errors=errors,
    )


@web.get("/dashboards/<dashboard_id>")
@page_access("view_dashboards")
def dashboard(dashboard_id: str):
    board = _find(dashboard_id, page=True)
    refresh = request.args.get("refresh") or board.refresh
    if refresh not in definitions.REFRESH:
        refresh = "off"
    error, data = None, None
    try:
        data = figures(board, request.args)
    except QueryError as exc:
        error = exc
    return render_template(
        "dashboards/show.html",
        board=board,
        data=data,
        error=error,
        ranges=RANGES,
        refresh=refresh,
        refresh_labels=REFRESH_LABELS,
        args=request.args,
        here=lambda **changes: {k: v for k, v in {**request.args.to_dict(), **changes}.items() if v},
    ), 400 if error is not None else 200


# -- API -------------------------------------------------------------------------------------------


@api.get("/dashboards")
@api_access("read", "view_dashboards")
def dashboard_list():
    found, errors = _dashboards()
    return jsonify({"dashboards": [summary(d) for d in found], "errors": [e.as_dict() for e in errors]})


@api.get("/dashboards/<dashboard_id>/data")
@api_access("read", "view_dashboards")
def dashboard_panels(dashboard_id: str):
    """Every panel's figures: `from` / `to` as on the search page (the dashboard's range by default)."""
    board = _find(dashboard_id)
    try:
        return jsonify(figures(board, request.args))
    except QueryError as exc:
        raise ApiError(400, exc.message, field=exc.field) from None
