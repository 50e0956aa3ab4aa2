"""What the alert pages share: the services, the catalog of rules (app/alerts/catalog.py: files'
and the back office's, with where each comes from), and presenting an alert to a reader (numbers, group values masked
by role, the link to its evidence). The pages: alerts.py (active alerts and their history),
alert_rules.py (the rules, the form, "test before saving"), alert_channels.py (maintenance
windows and notification destinations)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from flask import current_app, g, make_response, render_template
from flask_login import current_user

from .. import audit
from ..alerts import notify
from ..alerts.actions import Actor, AlertActions
from ..alerts.catalog import Catalog, load_catalog
from ..alerts.changes import moment
from ..alerts.common import to_ms
from ..alerts.evaluate import duration as duration_words, evidence_query
from ..alerts.lifecycle import Alerts
from ..alerts.model import Rule
from ..alerts.rules import default_rules_dir
from ..meta.alert_tables import iso, to_dt
from ..search import masking
from . import reading


def _services():
    return current_app.extensions["platlogs"]


def _actions() -> AlertActions:
    """The service people's actions go through (app/alerts/actions.py: the change and its
    admin-action event), acting as whoever makes this request, from its address: an API key is
    named `key:<its name>` in the alert history and the event's message (the event's actor is
    api-key-<id>)."""
    key = getattr(g, "api_key", None)
    name = f"key:{key.name}" if key is not None else None
    return AlertActions(_services(), Actor.of(audit.actor(), audit.request_source(), name), rules_dir())


def _alerts() -> Alerts:
    return Alerts(_services().meta)


def _user() -> str:
    return current_user.username


def _when(value: datetime | int | None, seconds: bool = False) -> str:
    at = to_dt(value)
    if at is None:
        return "—"
    from ..events.convert import format_ts

    return format_ts(at, "second" if seconds else "minute")


def _page(template: str, status: int = 200, **context):
    response = make_response(render_template(template, when=_when, **context), status)
    response.headers["Cache-Control"] = "no-store"
    return response


# -- the rules: files and the back office's ------------------------------------------------------


def rules_dir() -> Path:
    """The rule files' directory: the project's alerts/ (the scheduler's default), or the app's
    ALERT_RULES_DIR setting."""
    return Path(current_app.config.get("ALERT_RULES_DIR") or default_rules_dir())


def _catalog() -> Catalog:
    """Every rule with where it comes from, and why one does not run (app/alerts/catalog.py: the
    merge the scheduler and the CLI use too)."""
    return load_catalog(_services().meta, rules_dir())


def _destination_names() -> list[str]:
    return [d.name for d in notify.destinations(_alerts())]


# -- presenting an alert -------------------------------------------------------------------------


def _number(value: float | None, kind: str | None = None) -> str:
    if value is None:
        return "—"
    if kind == "ratio":
        return f"{value:.1%}"
    if float(value).is_integer():
        return f"{value:,.0f}"
    return f"{value:,.2f}"


def _group_shown(rule: Rule | None, group: str | None) -> str | None:
    """The group's value as this reader may see it: a personal field's value masked for roles
    without see_personal; the value of a rule no longer defined (its field unknown) too."""
    if group is None or reading.sees_personal():
        return group
    if rule is None:
        return masking.mask_value("", group)
    if rule.group_by and masking.is_personal(rule.group_by):
        return masking.mask_value(rule.group_by, group)
    return group


def _what(rule_id: str, group: str | None, shown: str | None) -> str:
    return f"rule {rule_id}" + ("" if group is None else f", group {shown}")


def _evidence_link(
    rule: Rule | None, group: str | None, query: str, start_ms: int | None, end_ms: int | None
) -> dict | None:
    """URL arguments of the search page showing a finding's events over its window. A reader who
    may not see the group's value gets the rule's query for every group (the value would
    otherwise be in the link), or no link when the rule is no longer defined."""
    if group is not None and _group_shown(rule, group) != group:
        if rule is None:
            return None
        query = evidence_query(rule, None, failures=rule.kind == "ratio")
    args: dict[str, str | None] = {"q": query or ""}
    if start_ms:
        args["from"] = iso(start_ms)
    if end_ms:
        args["to"] = iso(end_ms)
    return args


@dataclass
class AlertView:
    inst: object
    rule: Rule | None
    rule_name: str
    group: str | None
    value: str
    threshold: str
    link: dict | None
    mute: object | None  # the mute in force covering it (the latest)
    failed: list  # permanently failed deliveries
    maintenance: list  # windows in force covering it


def _alert_views(instances, catalog: Catalog) -> list[AlertView]:
    alerts = _alerts()
    at = moment()
    mutes = alerts.mutes()
    windows = alerts.maintenance_windows(active_at_ms=to_ms(at))
    failed: dict[int, list] = {}
    for delivery in alerts.deliveries(status="failed"):
        failed.setdefault(delivery.instance_id, []).append(delivery)
    rules = catalog.by_id
    out = []
    for inst in instances:
        entry = rules.get(inst.rule_id)
        rule = entry.rule if entry else None
        covering = [m for m in mutes if m.covers(inst.rule_id, inst.group_key, at)]
        out.append(
            AlertView(
                inst=inst,
                rule=rule,
                rule_name=rule.name if rule else "",
                group=_group_shown(rule, inst.group),
                value=_number(inst.value, rule.kind if rule else None),
                threshold=_number(inst.threshold, rule.kind if rule else None),
                link=_evidence_link(rule, inst.group, inst.search_query, inst.window_start_ms, inst.window_end_ms)
                if inst.search_query or inst.window_start_ms
                else None,
                mute=max(covering, key=lambda m: m.until) if covering else None,
                failed=failed.get(inst.id, []),
                maintenance=[w for w in windows if w.covers(inst.rule_id, inst.group_key, at)],
            )
        )
    return out


# -- a rule's test before saving, presented (the form and the JSON API alike) -------------------------


def present_preview(preview) -> dict:
    """A preview.RulePreview as a reader may see it: group values masked by role (and the evidence
    link then without the value), numbers as the pages write them, times in ISO-8601."""
    rule = preview.rule
    windows = [
        {
            "group": _group_shown(rule, w.group),
            "first": iso(w.first_ms),
            "last": iso(w.last_ms),
            "first_ms": w.first_ms,
            "last_ms": w.last_ms,
            "positions": w.positions,
            "peak": w.peak,
            "peak_shown": _number(w.peak, rule.kind),
            "peak_at": iso(w.peak_ms),
            "threshold": w.threshold,
            "threshold_shown": _number(w.threshold, rule.kind),
            "fires": w.fires,
            "fires_at": iso(w.fires_at_ms),
            "held_s": w.held_ms // 1000,
            "held": duration_words(w.held_ms // 1000) if w.held_ms else "",
            "detail": w.detail,
            "sample_ids": list(w.sample_ids),
            "search": _evidence_link(rule, w.group, w.search_query, w.window_start_ms, w.window_end_ms),
        }
        for w in preview.windows
    ]
    groups = [_group_shown(rule, g) or "(all events)" for g in preview.groups]
    return {
        "rule": rule.id,
        "hours": preview.hours,
        "from": iso(preview.start_ms),
        "to": iso(preview.end_ms),
        "step_s": preview.step_s,
        "window_s": rule.window_s,
        "pending_s": rule.pending_s,
        "positions": preview.planned,
        "evaluated": preview.evaluated,
        "alerting_positions": preview.alerting,
        "firing_windows": sum(w["fires"] for w in windows),
        "groups": groups,
        "windows": windows,
        "warnings": list(preview.warnings),
        "errors": [{"at": iso(m), "error": e} for m, e in preview.errors],
        "method": preview.method,
        "stopped": preview.stopped,
        "seconds": preview.seconds,
    }
