"""Maintenance windows and notification destinations (the alert pages' channels): add, end
early or cancel a window; create, replace and delete a destination, whose secret is never shown
again. Every change goes through app/alerts/actions.py, which records it as an admin action
besides the alert history."""

from __future__ import annotations

from flask import flash, redirect, request, url_for

from ..alerts import notify
from ..alerts.actions import shown_target
from ..alerts.changes import Conflict, moment
from ..alerts.common import now_ms
from ..auth import page_access
from ..query import QueryError
from ..query.timeexpr import parse_time
from . import web
from .alerts_common import _actions, _alerts, _catalog, _page, _when

# -- maintenance windows --------------------------------------------------------------------------------


def _maintenance_page(status: int = 200, error: str | None = None, draft: dict | None = None):
    now = now_ms()
    at = moment(now)
    windows = sorted(_alerts().maintenance_windows(), key=lambda w: w.starts_at, reverse=True)
    rows = [
        {"w": w, "state": "in force" if w.starts_at <= at < w.ends_at else "upcoming" if at < w.starts_at else "ended"}
        for w in windows
    ]
    catalog = _catalog()
    draft = draft or {
        "rule_id": request.args.get("rule_id", ""),
        "group_pattern": request.args.get("group", ""),
        "start": "now",
        "end": "now+2h",
        "reason": "",
    }
    return _page("alerts/maintenance.html", status, rows=rows, error=error, draft=draft, rule_ids=sorted(catalog.by_id))


@web.get("/alerts/maintenance")
@page_access("act_on_alerts")
def maintenance():
    return _maintenance_page()


@web.post("/alerts/maintenance")
@page_access("act_on_alerts")
def create_maintenance():
    form = {name: request.form.get(name, "").strip() for name in ("rule_id", "group_pattern", "start", "end", "reason")}
    now = now_ms()
    try:
        start = parse_time(form["start"] or "now", now, "start")
        end = parse_time(form["end"], now, "end") if form["end"] else None
    except QueryError as exc:
        return _maintenance_page(400, exc.message, form)
    if end is None:
        return _maintenance_page(400, "end: when does the maintenance end? (e.g. 2026-11-27T06:00 or now+2h)", form)
    if end <= now:
        return _maintenance_page(400, "end: must be in the future", form)
    try:
        window = _actions().add_maintenance(
            rule_id=form["rule_id"] or None,
            group_pattern=form["group_pattern"] or None,
            start=start,
            end=end,
            reason=form["reason"],
            at_ms=now,
        )
    except ValueError as exc:
        return _maintenance_page(400, str(exc), form)
    flash(
        f"Maintenance window #{window.id} added: notifications held back {_when(window.starts_at)} – "
        f"{_when(window.ends_at)}."
    )
    return redirect(url_for("web.maintenance"))


@web.post("/alerts/maintenance/<int:window_id>/end")
@page_access("act_on_alerts")
def end_maintenance(window_id: int):
    try:
        outcome = _actions().end_maintenance(window_id)
    except LookupError as exc:
        return _maintenance_page(404, str(exc))
    except Conflict as exc:
        return _maintenance_page(409, str(exc))
    flash(f"Maintenance window #{window_id} {'ended now' if outcome == 'ended' else 'cancelled'}.")
    return redirect(url_for("web.maintenance"))


# -- destinations ----------------------------------------------------------------------------------------


def _destinations_page(status: int = 200, error: str | None = None, draft: dict | None = None, secret: dict | None = None):
    catalog = _catalog()
    used: dict[str, list[str]] = {}
    for entry in catalog.entries:
        for name in entry.rule.notify if entry.rule and entry.id else ():
            used.setdefault(name, []).append(str(entry.id))
    known = notify.destinations(_alerts())
    rows = [{"d": d, "target": shown_target(d.kind, d.target), "used_by": used.get(d.name, [])} for d in known]
    missing = sorted(set(used) - {d.name for d in known})
    return _page(
        "alerts/destinations.html",
        status,
        rows=rows,
        error=error,
        draft=draft or {"kind": "webhook"},
        secret=secret,
        kinds=notify.KINDS,
        missing={n: used[n] for n in missing},
    )


@web.get("/alerts/destinations")
@page_access("manage_destinations")
def destinations():
    return _destinations_page()


@web.post("/alerts/destinations")
@page_access("manage_destinations")
def create_destination():
    form = {name: request.form.get(name, "").strip() for name in ("name", "kind", "target")}
    secret = request.form.get("secret", "")
    replace = request.form.get("replace") == "1"
    draft = {**form, "replace": replace}
    try:
        row, generated, replaced = _actions().save_destination(
            form["name"], form["kind"], form["target"], secret=secret or None, replace=replace
        )
    except Conflict as exc:
        return _destinations_page(409, str(exc), draft)
    except ValueError as exc:
        return _destinations_page(400, str(exc), draft)
    if generated:
        return _destinations_page(secret={"name": row.name, "secret": generated})
    flash(f"Destination {row.name} {'replaced' if replaced else 'created'}.")
    return redirect(url_for("web.destinations"))


@web.post("/alerts/destinations/<name>/delete")
@page_access("manage_destinations")
def delete_destination(name: str):
    try:
        _actions().delete_destination(name)
    except LookupError as exc:
        return _destinations_page(404, str(exc))
    flash(f"Destination {name} deleted.")
    return redirect(url_for("web.destinations"))
