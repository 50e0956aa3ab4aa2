"""Alert pages: active alerts (acknowledge, mute, unmute) and their history. The rule pages are
in alert_rules.py, maintenance windows and destinations in alert_channels.py, what they share in
alerts_common.py.

Thin: parse the form, call app/alerts (rules, evaluate, lifecycle, notify, preview), render.
The rules come from app/alerts/catalog.py (alerts_common._catalog), as the scheduler's do.

Who may do what (app/roles.yaml): view_alerts reads every page; act_on_alerts acknowledges,
mutes and keeps maintenance windows; edit_alert_rules creates, tests, edits and deletes the
rules made here; manage_destinations keeps the destinations. Changes to rules, destinations,
mutes and maintenance windows go through app/alerts/actions.py, which records each as an admin
action besides the alert history."""

from __future__ import annotations

from flask import flash, redirect, request, url_for

from ..alerts.changes import Conflict
from ..alerts.common import now_ms
from ..auth import page_access
from ..meta.alert_tables import AlertHistory
from ..query import QueryError
from ..query.timeexpr import parse_time
from . import web
from .alerts_common import _actions, _alert_views, _alerts, _catalog, _group_shown, _page, _user, _what, _when

MUTE_CHOICES = (("1h", "1 hour", 3600), ("4h", "4 hours", 4 * 3600), ("24h", "24 hours", 86_400))
HISTORY_LIMIT = 300


# -- active alerts ---------------------------------------------------------------------------------


@web.get("/alerts")
@page_access("view_alerts")
def alerts():
    return _active_page(rule_id=request.args.get("rule_id", "").strip() or None)


def _active_page(status: int = 200, error: str | None = None, rule_id: str | None = None):
    catalog = _catalog()
    views = _alert_views(_alerts().active(rule_id), catalog)
    mutes = _alerts().mutes()
    rules = catalog.by_id
    mute_rows = []
    for mute in mutes:
        rule = rules[mute.rule_id].rule if mute.rule_id in rules else None
        mute_rows.append({"mute": mute, "rule": rule, "group": _group_shown(rule, mute.group_key)})
    windows = _alerts().maintenance_windows(active_at_ms=now_ms())
    return _page(
        "alerts/active.html",
        status,
        views=views,
        mute_rows=mute_rows,
        windows=windows,
        error=error,
        catalog_errors=catalog.errors(),
        mute_choices=MUTE_CHOICES,
        rule_id=rule_id,
    )


def _failure(exc: Exception):
    """The active page with the service's refusal: 404 nothing with that id, 409 not in a state the
    action applies to, 400 bad input."""
    status = 404 if isinstance(exc, LookupError) else 409 if isinstance(exc, Conflict) else 400
    return _active_page(status, str(exc))


@web.post("/alerts/<int:instance_id>/acknowledge")
@page_access("act_on_alerts")
def acknowledge_alert(instance_id: int):
    owner = request.form.get("owner", "").strip() or _user()
    try:
        _actions().acknowledge(instance_id, owner, request.form.get("comment", "").strip())
    except (LookupError, ValueError) as exc:
        return _failure(exc)
    flash(f"Alert #{instance_id} acknowledged: {owner} owns it.")
    return redirect(url_for("web.alerts"))


@web.post("/alerts/<int:instance_id>/unacknowledge")
@page_access("act_on_alerts")
def unacknowledge_alert(instance_id: int):
    try:
        _actions().unacknowledge(instance_id, request.form.get("comment", "").strip())
    except (LookupError, ValueError) as exc:
        return _failure(exc)
    flash(f"Alert #{instance_id}: acknowledgement withdrawn.")
    return redirect(url_for("web.alerts"))


def _until_from_form(now: int) -> int:
    """The end of a mute: 1h / 4h / 24h, or a custom time (ISO-8601, epoch ms, now+90m)."""
    choice = request.form.get("duration", "")
    for value, _label, seconds in MUTE_CHOICES:
        if choice == value:
            return now + seconds * 1000
    if choice != "custom":
        raise ValueError("duration: choose 1 hour, 4 hours, 24 hours or a custom end")
    raw = request.form.get("until", "").strip()
    if not raw:
        raise ValueError("until: give the end of the mute (e.g. 2026-11-27T08:00 UTC or now+90m)")
    try:
        until = parse_time(raw, now, "until")
    except QueryError as exc:
        raise ValueError(exc.message) from None
    if until <= now:
        raise ValueError("until: must be in the future")
    return until


def _shown(rule_id: str, group: str | None) -> str:
    """What a rule's group is called in a message to this reader (masked by role)."""
    entry = _catalog().by_id.get(rule_id)
    return _what(rule_id, group, _group_shown(entry.rule if entry else None, group))


@web.post("/alerts/<int:instance_id>/mute")
@page_access("act_on_alerts")
def mute_alert(instance_id: int):
    now = now_ms()
    whole_rule = request.form.get("scope") == "rule"
    try:
        until = _until_from_form(now)
        mute = _actions().mute_alert(
            instance_id, until, whole_rule=whole_rule, comment=request.form.get("comment", "").strip(), at_ms=now
        )
    except (LookupError, ValueError) as exc:
        return _failure(exc)
    flash(f"Muted {_shown(mute.rule_id, mute.group_key)} until {_when(mute.until)}.")
    return redirect(url_for("web.alerts"))


@web.post("/alerts/<int:instance_id>/unmute")
@page_access("act_on_alerts")
def unmute_alert(instance_id: int):
    try:
        lifted = _actions().unmute_alert(
            instance_id, whole_rule=request.form.get("scope") == "rule", comment=request.form.get("comment", "").strip()
        )
    except (LookupError, ValueError) as exc:
        return _failure(exc)
    flash(f"Unmuted {_shown(lifted.rule_id, lifted.group)}.")
    return redirect(url_for("web.alerts"))


@web.post("/alerts/mutes/<int:mute_id>/lift")
@page_access("act_on_alerts")
def lift_mute(mute_id: int):
    """Lift a mute in force (by its id, so a masked group value never travels in the page): a
    rule-wide mute lifts every mute of the rule, a group's mute that group's mutes."""
    try:
        lifted = _actions().lift_mute(mute_id, request.form.get("comment", "").strip())
    except (LookupError, ValueError) as exc:
        return _failure(exc)
    flash(f"Unmuted {_shown(lifted.rule_id, lifted.group)}.")
    return redirect(url_for("web.alerts"))


# -- history -----------------------------------------------------------------------------------------


@web.get("/alerts/history")
@page_access("view_alerts")
def alert_history():
    rule_id = request.args.get("rule_id", "").strip() or None
    raw_instance = request.args.get("alert", "").strip()
    instance_id = int(raw_instance) if raw_instance.isdigit() else None
    alerts = _alerts()
    catalog = _catalog()
    rules = catalog.by_id
    instance = alerts.instance(instance_id) if instance_id is not None else None
    entries = alerts.history(instance_id=instance_id, rule_id=rule_id, limit=HISTORY_LIMIT)

    def group_of(h: AlertHistory) -> str | None:
        if h.action.startswith("maintenance_"):
            return h.group_key or None  # a maintenance window's pattern, as its author typed it
        entry = rules.get(h.rule_id) if h.rule_id else None
        return _group_shown(entry.rule if entry else None, h.group_key or None)

    rows = [{"h": h, "group": group_of(h)} for h in entries]
    resolved = [] if instance_id is not None else alerts.instances(rule_id=rule_id, state="resolved", limit=100)
    resolved_views = _alert_views(resolved, catalog)
    return _page(
        "alerts/history.html",
        rows=rows,
        resolved=resolved_views,
        rule_id=rule_id or "",
        instance=instance,
        instance_id=instance_id,
        rule_ids=sorted(rules),
        limit=HISTORY_LIMIT,
        rule_names={k: (e.rule.name if e.rule else "") for k, e in rules.items()},
    )


from . import alert_channels, alert_rules, alerts_api  # noqa: E402,F401  (the other alert pages add their routes)
