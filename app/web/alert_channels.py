"""Maintenance windows and notification destinations (the alert pages' channels): add, end
early or cancel a window; create, replace and delete a destination, whose secret is never shown
again. Every change is recorded as an admin action besides the alert history."""
from __future__ import annotations

from flask import flash, redirect, request, url_for

from .. import audit
from ..alerts import notify
from ..alerts.lifecycle import iso, now_ms, to_dt
from ..auth import page_access
from ..query import QueryError
from ..query.timeexpr import parse_time
from . import web
from .alerts_common import AUDIT_TYPE, _alerts, _catalog, _page, _user, _when


# -- maintenance windows --------------------------------------------------------------------------------

def _maintenance_page(status: int = 200, error: str | None = None, draft: dict | None = None):
    now = now_ms()
    at = to_dt(now)
    windows = sorted(_alerts().maintenance_windows(), key=lambda w: w.starts_at, reverse=True)
    rows = [{"w": w, "state": "in force" if w.starts_at <= at < w.ends_at else
             "upcoming" if at < w.starts_at else "ended"} for w in windows]
    catalog = _catalog()
    draft = draft or {"rule_id": request.args.get("rule_id", ""), "group_pattern": request.args.get("group", ""),
                      "start": "now", "end": "now+2h", "reason": ""}
    return _page("alerts/maintenance.html", status, rows=rows, error=error, draft=draft,
                 rule_ids=sorted(catalog.by_id))


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
    rule_id = form["rule_id"] or None
    if rule_id is not None and rule_id not in _catalog().by_id:
        return _maintenance_page(400, f"rule: no rule {rule_id!r}", form)
    try:
        window = _alerts().add_maintenance(rule_id=rule_id, group_pattern=form["group_pattern"] or None, start=start,
                                           end=end, reason=form["reason"], by=_user(), at_ms=now)
    except ValueError as exc:
        return _maintenance_page(400, str(exc), form)
    audit.record("maintenance_window_added",
                 f"{_user()} added maintenance window #{window.id} ({rule_id or 'every rule'}, groups "
                 f"{window.group_pattern or '*'}) {iso(window.starts_at)} - {iso(window.ends_at)}: {window.reason}",
                 event_type=AUDIT_TYPE, target={"type": "maintenance_window", "id": str(window.id)},
                 changes=[{"field": "rule_id", "old": None, "new": rule_id},
                          {"field": "group_pattern", "old": None, "new": window.group_pattern},
                          {"field": "starts_at", "old": None, "new": iso(window.starts_at)},
                          {"field": "ends_at", "old": None, "new": iso(window.ends_at)},
                          {"field": "reason", "old": None, "new": window.reason}])
    flash(f"Maintenance window #{window.id} added: notifications held back {_when(window.starts_at)} – "
          f"{_when(window.ends_at)}.")
    return redirect(url_for("web.maintenance"))


@web.post("/alerts/maintenance/<int:window_id>/end")
@page_access("act_on_alerts")
def end_maintenance(window_id: int):
    now = now_ms()
    before = next((w for w in _alerts().maintenance_windows() if w.id == window_id), None)
    outcome = _alerts().end_maintenance(window_id, by=_user(), at_ms=now)
    if outcome == "missing":
        return _maintenance_page(404, f"No maintenance window #{window_id}.")
    if outcome == "ended already":
        return _maintenance_page(409, f"Maintenance window #{window_id} has already ended.")
    audit.record("maintenance_window_ended" if outcome == "ended" else "maintenance_window_cancelled",
                 f"{_user()} {'ended' if outcome == 'ended' else 'cancelled'} maintenance window #{window_id}",
                 event_type=AUDIT_TYPE, target={"type": "maintenance_window", "id": str(window_id)},
                 changes=[{"field": "ends_at", "old": iso(before.ends_at) if before else None,
                           "new": iso(now) if outcome == "ended" else None}])
    flash(f"Maintenance window #{window_id} {'ended now' if outcome == 'ended' else 'cancelled'}.")
    return redirect(url_for("web.maintenance"))


# -- destinations ----------------------------------------------------------------------------------------

def _shown_target(kind: str, target: str) -> str:
    """A Slack incoming-webhook URL is itself a secret: only its host is shown."""
    if kind == "slack":
        from urllib.parse import urlsplit
        parts = urlsplit(target)
        return f"{parts.scheme}://{parts.netloc}/…"
    return target


def _destinations_page(status: int = 200, error: str | None = None, draft: dict | None = None,
                       secret: dict | None = None):
    catalog = _catalog()
    used: dict[str, list[str]] = {}
    for entry in catalog.entries:
        for name in (entry.rule.notify if entry.rule else ()):
            used.setdefault(name, []).append(entry.id)
    rows = [{"d": d, "target": _shown_target(d.kind, d.target), "used_by": used.get(d.name, [])}
            for d in notify.destinations(_alerts())]
    missing = sorted(set(used) - {r["d"].name for r in rows})
    return _page("alerts/destinations.html", status, rows=rows, error=error, draft=draft or {"kind": "webhook"},
                 secret=secret, kinds=notify.KINDS, missing={n: used[n] for n in missing})


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
    alerts = _alerts()
    existing = notify.destination(alerts, form["name"]) if form["name"] else None
    if existing is not None and not replace:
        return _destinations_page(409, f"name: a destination named {form['name']!r} exists; tick “replace it” to "
                                       "change it, or choose another name", draft)
    old = ({"kind": existing.kind, "target": _shown_target(existing.kind, existing.target)} if existing else {})
    try:
        row, generated = notify.save_destination(alerts, form["name"], form["kind"], form["target"],
                                                 secret=secret or None, by=_user())
    except ValueError as exc:
        return _destinations_page(400, str(exc), draft)
    changes = [{"field": "kind", "old": old.get("kind"), "new": row.kind},
               {"field": "target", "old": old.get("target"), "new": _shown_target(row.kind, row.target)}]
    if row.secret:
        changes.append({"field": "secret"})   # that it was set, never the value
    audit.record("alert_destination_" + ("updated" if existing else "created"),
                 f"{_user()} {'replaced' if existing else 'created'} alert destination {row.name} ({row.kind})",
                 event_type=AUDIT_TYPE, target={"type": "alert_destination", "id": row.name, "name": row.name},
                 changes=changes)
    if generated:
        return _destinations_page(secret={"name": row.name, "secret": generated})
    flash(f"Destination {row.name} {'replaced' if existing else 'created'}.")
    return redirect(url_for("web.destinations"))


@web.post("/alerts/destinations/<name>/delete")
@page_access("manage_destinations")
def delete_destination(name: str):
    alerts = _alerts()
    row = notify.destination(alerts, name)
    if row is None or not notify.delete_destination(alerts, name, by=_user()):
        return _destinations_page(404, f"No destination named {name!r}.")
    audit.record("alert_destination_deleted", f"{_user()} deleted alert destination {name} ({row.kind})",
                 event_type=AUDIT_TYPE, target={"type": "alert_destination", "id": name, "name": name},
                 changes=[{"field": "kind", "old": row.kind, "new": None},
                          {"field": "target", "old": _shown_target(row.kind, row.target), "new": None}])
    flash(f"Destination {name} deleted.")
    return redirect(url_for("web.destinations"))
