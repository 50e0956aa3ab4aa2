"""Dashboards people make in the back office: the form (a YAML textarea, the errors shown by
file — the dashboard's id —, panel, field and position; "Preview" draws it without saving),
delete, and the JSON API (POST / PUT / DELETE /api/v1/dashboards…). Thin: every rule is in
app/dashboards/stored.py; `build_dashboards` (app/roles.yaml) is not the read key's, so a read
key is refused with 403 and only people change dashboards. Forms carry the CSRF token."""

from __future__ import annotations

from flask import abort, flash, jsonify, redirect, render_template, request, url_for
from flask_login import current_user

from ..auth import api_access, page_access
from ..dashboards.definitions import DashboardError
from ..dashboards.stored import NotAllowed
from ..dashboards.yamltext import MAX_TEXT
from ..errors import ApiError
from ..query import QueryError
from . import web
from .dashboards import _dashboards, _find, api, figures, stored_service, summary

STARTER = """title: My dashboard
description: What it is for.
range: now-24h
refresh: "off"
panels:
  - id: failures
    title: Failed events
    kind: number
    query: "event.outcome:failure"
"""


def _form(
    dashboard_id: str,
    text: str,
    *,
    editing: bool,
    error: DashboardError | None = None,
    preview: dict | None = None,
    preview_error=None,
    status: int = 200,
):
    return render_template(
        "dashboards/edit.html",
        dashboard_id=dashboard_id,
        text=text,
        editing=editing,
        error=error,
        preview=preview,
        preview_error=preview_error,
        max_text=MAX_TEXT,
    ), status


def _source(dashboard_id: str) -> str | None:
    """The YAML text of a dashboard, to copy: a shipped file's or a stored one's."""
    board = next((d for d in _dashboards()[0] if d.id == dashboard_id), None)
    if board is None:
        return None
    if board.owner is not None:
        row = stored_service().get(dashboard_id)
        return row.yaml_text if row else None
    try:
        with open(board.file, encoding="utf-8") as f:
            return f.read()
    except OSError:
        return None


def _submitted(dashboard_id: str, editing: bool):
    """The form's text checked (and, asked for, previewed): None when it is to be saved, else the
    page to answer with."""
    text = request.form.get("yaml", "")
    try:
        board = stored_service().check(dashboard_id, text)
    except DashboardError as exc:
        return _form(dashboard_id, text, editing=editing, error=exc, status=400)
    if request.form.get("action") == "preview":
        data, problem = None, None
        try:
            data = figures(board, request.args)
        except QueryError as exc:
            problem = exc
        return _form(dashboard_id, text, editing=editing, preview=data, preview_error=problem)
    return None


def _refused(exc: NotAllowed):
    if exc.status == 404:
        abort(404, exc.message)
    raise ApiError(exc.status, exc.message)


@web.route("/dashboards/new", methods=["GET", "POST"])
@page_access("build_dashboards")
def dashboard_new():
    if request.method == "GET":
        copy = request.args.get("copy", "")
        text = _source(copy) if copy else None
        if copy and text is None:
            abort(404, f"no dashboard with id {copy[:80]!r} to copy")
        return _form(f"{copy}-copy"[:80] if copy else "", text or STARTER, editing=False)
    dashboard_id = request.form.get("id", "").strip()
    answer = _submitted(dashboard_id, editing=False)
    if answer is not None:
        return answer
    try:
        stored_service().create(current_user, dashboard_id, request.form.get("yaml", ""))
    except NotAllowed as exc:
        if exc.status == 409:
            return _form(
                dashboard_id,
                request.form.get("yaml", ""),
                editing=False,
                error=DashboardError(exc.message, "id", file=dashboard_id),
                status=409,
            )
        _refused(exc)
    flash(f"Dashboard {dashboard_id} saved.")
    return redirect(url_for("web.dashboard", dashboard_id=dashboard_id))


@web.route("/dashboards/<dashboard_id>/edit", methods=["GET", "POST"])
@page_access("build_dashboards")
def dashboard_edit(dashboard_id: str):
    s = stored_service()
    row = s.get(dashboard_id)
    if row is None:
        _find(dashboard_id, page=True)  # a shipped one: 404 if it is not one either
        raise ApiError(403, f"{dashboard_id!r} is a shipped dashboard: read-only (copy it to change it)")
    if row.owner_id != current_user.id:
        raise ApiError(403, f"dashboard {dashboard_id!r} is {row.owner_name}'s: only its owner changes it")
    if request.method == "GET":
        return _form(dashboard_id, row.yaml_text, editing=True)
    answer = _submitted(dashboard_id, editing=True)
    if answer is not None:
        return answer
    try:
        s.update(current_user, dashboard_id, request.form.get("yaml", ""))
    except NotAllowed as exc:
        _refused(exc)
    flash(f"Dashboard {dashboard_id} saved.")
    return redirect(url_for("web.dashboard", dashboard_id=dashboard_id))


@web.post("/dashboards/<dashboard_id>/delete")
@page_access("build_dashboards")
def dashboard_delete(dashboard_id: str):
    try:
        stored_service().delete(current_user, dashboard_id)
    except NotAllowed as exc:
        _refused(exc)
    flash(f"Dashboard {dashboard_id} deleted.")
    return redirect(url_for("web.dashboards"))


# -- API -------------------------------------------------------------------------------------------


def _body(*keys: str) -> dict:
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or any(not isinstance(body.get(k), str) for k in keys):
        raise ApiError(400, "send a JSON object with " + " and ".join(f'"{k}" (text)' for k in keys))
    return body


def _invalid(exc: DashboardError):
    details = {k: v for k, v in exc.as_dict().items() if k != "message"}
    raise ApiError(400, str(exc), problem=exc.message, **details) from None


def _call(fn, *args):
    try:
        return fn(*args)
    except DashboardError as exc:
        _invalid(exc)
    except NotAllowed as exc:
        raise ApiError(exc.status, exc.message) from None


@api.post("/dashboards")
@api_access("read", "build_dashboards")
def dashboard_create_json():
    body = _body("id", "yaml")
    board = _call(stored_service().create, current_user, body["id"], body["yaml"])
    return jsonify(summary(board)), 201


@api.put("/dashboards/<dashboard_id>")
@api_access("read", "build_dashboards")
def dashboard_update_json(dashboard_id: str):
    body = _body("yaml")
    return jsonify(summary(_call(stored_service().update, current_user, dashboard_id, body["yaml"])))


@api.delete("/dashboards/<dashboard_id>")
@api_access("read", "build_dashboards")
def dashboard_delete_json(dashboard_id: str):
    _call(stored_service().delete, current_user, dashboard_id)
    return "", 204


@api.get("/dashboards/<dashboard_id>/yaml")
@api_access("read", "view_dashboards")
def dashboard_yaml_json(dashboard_id: str):
    """A dashboard's YAML text (a stored one's, or a shipped file's), e.g. to copy it."""
    text = _source(_find(dashboard_id).id)
    if text is None:
        raise ApiError(404, f"no YAML text for {dashboard_id[:80]!r}")
    return jsonify({"id": dashboard_id, "yaml": text})
