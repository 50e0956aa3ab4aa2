"""Alert pages: active alerts, their history, the rules (files' and the back office's), the rule
form with "test before saving", maintenance windows and notification destinations.

Thin: parse the form, call app/alerts (rules, evaluate, lifecycle, notify), render. What the
alerting modules do not offer yet is adapted here, in small helpers marked "adapter":
- the file each rule comes from (rules.load_rules does not say): `_catalog` loads file by file;
- ending a maintenance window early (lifecycle has add/delete only): `_end_maintenance`;
- the preview of a rule over the last hours: `_preview` calls evaluate() at past moments and
  writes nothing (no instance, no history, no delivery, no reading-trail line).

Who may do what (app/roles.yaml): view_alerts reads every page; act_on_alerts acknowledges,
mutes and keeps maintenance windows; edit_alert_rules creates, tests, edits and deletes the
rules made here; manage_destinations keeps the destinations. Changes to rules, destinations,
mutes and maintenance windows are recorded as admin actions (audit.record) besides the alert
history that lifecycle keeps."""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from pathlib import Path

from flask import current_app, flash, make_response, redirect, render_template, request, url_for
from flask_login import current_user

from .. import audit
from ..alerts import notify
from ..alerts.evaluate import duration as duration_words
from ..alerts.evaluate import evaluate, evidence_query
from ..alerts.lifecycle import (OPEN, AlertHistory, Alerts, MaintenanceWindow, UIRule, iso, now_ms, to_dt,
                                to_ms)
from ..alerts.model import KINDS, SEVERITIES, Evaluation, Finding, Rule
from ..alerts.rules import SPIKE_MODES, RuleError, default_rules_dir, load_file, rule_files, validate_rule
from ..auth import page_access
from ..errors import ApiError
from ..query import QueryError
from ..query.timeexpr import parse_time
from ..search import masking
from . import reading, web

# The event schema has no type for configuration changes; permission_change (users, roles, keys)
# is the closest, and what the Admin operations view shows with its before/after values.
AUDIT_TYPE = "permission_change"
MUTE_CHOICES = (("1h", "1 hour", 3600), ("4h", "4 hours", 4 * 3600), ("24h", "24 hours", 86_400))
PREVIEW_DEFAULT_HOURS = 6
PREVIEW_MAX_HOURS = 7 * 24
PREVIEW_MAX_MOMENTS = 100
PREVIEW_MIN_STEP_S = 300
PREVIEW_BUDGET_S = 20.0            # a preview stops evaluating after this long (the page says so)
HISTORY_LIMIT = 300
KIND_HELP = {
    "threshold": "more than <threshold> matching events in the window (per group with group_by)",
    "ratio": "the share of matching events that also match the failure query is above <threshold> "
             "(0.2 or 20%), once there are at least <min_count> matching events",
    "spike": "the window's count jumps against the same window of earlier weeks: relative (2 = three "
             "times the baseline mean) or z-score",
    "absence": "fewer than <threshold> events in the window: for the listed expected groups, or for "
               "groups that averaged at least <min_count> in the same window of earlier weeks",
}
# form field -> the kinds it applies to (others ignore it; the form says so)
KIND_FIELDS = {"failure_query": ("ratio",), "min_count": ("ratio", "spike", "absence"),
               "baseline_periods": ("spike", "absence"), "spike_mode": ("spike",), "expected_groups": ("absence",)}
# RuleError.field -> the form field it is shown next to
FIELD_OF_ERROR = {"window_s": "window", "pending_s": "pending", "renotify_s": "renotify"}


def _services():
    return current_app.extensions["platlogs"]


def _alerts() -> Alerts:
    return Alerts(_services().meta)


def _user() -> str:
    return current_user.username


def _when(moment: datetime | int | None, seconds: bool = False) -> str:
    moment = to_dt(moment)
    if moment is None:
        return "—"
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC" if seconds else "%Y-%m-%d %H:%M UTC")


def _page(template: str, status: int = 200, **context):
    response = make_response(render_template(template, when=_when, **context), status)
    response.headers["Cache-Control"] = "no-store"
    return response


# -- the rules: files and the back office's ------------------------------------------------------

@dataclass
class RuleEntry:
    id: str
    rule: Rule | None            # None: a stored UI rule the validator now refuses
    source: str                  # "file" or "ui"
    file: str | None = None      # the file's name, for a file rule
    row: UIRule | None = None
    error: str | None = None     # why a stored UI rule cannot run
    shadowed: bool = False       # a UI rule whose id a rule file also uses: the file's rule runs


@dataclass
class Catalog:
    entries: list[RuleEntry] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)    # rule files that could not be read

    @cached_property
    def by_id(self) -> dict[str, RuleEntry]:
        """Rule id -> the entry that runs (a file's rule wins a clash, as in the scheduler)."""
        out: dict[str, RuleEntry] = {}
        for entry in self.entries:
            if entry.id not in out or (out[entry.id].source == "ui" and entry.source == "file"):
                out[entry.id] = entry
        return out

    def file_ids(self) -> set[str]:
        return {e.id for e in self.entries if e.source == "file"}

    def ui_ids(self) -> set[str]:
        return {e.id for e in self.entries if e.source == "ui"}

    def ui(self, rule_id: str) -> RuleEntry | None:
        return next((e for e in self.entries if e.source == "ui" and e.id == rule_id), None)

    def file(self, rule_id: str) -> RuleEntry | None:
        return next((e for e in self.entries if e.source == "file" and e.id == rule_id), None)


def rules_dir() -> Path:
    """The rule files' directory: the project's alerts/ (the scheduler's default), or the app's
    ALERT_RULES_DIR setting."""
    return Path(current_app.config.get("ALERT_RULES_DIR") or default_rules_dir())


def _catalog() -> Catalog:
    """Adapter: every rule with where it comes from. rules.load_rules gives the rules without their
    file, so the files are read one by one (a bad file is reported and skipped, as the scheduler does)."""
    catalog = Catalog()
    seen: dict[str, str] = {}
    directory = rules_dir()
    try:
        paths = rule_files(directory) if directory.is_dir() else []
    except RuleError as exc:
        catalog.errors.append(str(exc))
        paths = []
    for path in paths:
        try:
            found = load_file(path)
        except RuleError as exc:
            catalog.errors.append(str(exc))
            continue
        for rule in found:
            if rule.id in seen:
                catalog.errors.append(f"{path.name}: rule {rule.id}: id already used in {seen[rule.id]} (skipped)")
                continue
            seen[rule.id] = path.name
            catalog.entries.append(RuleEntry(rule.id, rule, "file", file=path.name))
    for row in _alerts().ui_rule_rows():
        try:
            rule = validate_rule(row.data, source="ui")
            catalog.entries.append(RuleEntry(row.rule_id, rule, "ui", row=row, shadowed=row.rule_id in seen))
        except (RuleError, ValueError, TypeError) as exc:
            catalog.entries.append(RuleEntry(row.rule_id, None, "ui", row=row, error=str(exc),
                                             shadowed=row.rule_id in seen))
    return catalog


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


def _group_recorded(rule_id: str, group: str | None) -> str | None:
    """A group's value as written into an audit event, which every role that searches can read:
    masked when the rule's field is personal (or the rule is unknown), whoever acts."""
    if group is None:
        return None
    entry = _catalog().by_id.get(rule_id)
    rule = entry.rule if entry else None
    if rule is None:
        return masking.mask_value("", group)
    if rule.group_by and masking.is_personal(rule.group_by):
        return masking.mask_value(rule.group_by, group)
    return group


def _what(rule_id: str, group: str | None, shown: str | None) -> str:
    return f"rule {rule_id}" + ("" if group is None else f", group {shown}")


def _evidence_link(rule: Rule | None, group: str | None, query: str, start_ms: int | None,
                   end_ms: int | None) -> dict | None:
    """URL arguments of the search page showing a finding's events over its window. A reader who
    may not see the group's value gets the rule's query for every group (the value would
    otherwise be in the link), or no link when the rule is no longer defined."""
    if group is not None and _group_shown(rule, group) != group:
        if rule is None:
            return None
        query = evidence_query(rule, None, failures=rule.kind == "ratio")
    args = {"q": query or ""}
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
    mute: object | None           # the mute in force covering it (the latest)
    failed: list                  # permanently failed deliveries
    maintenance: list             # windows in force covering it


def _alert_views(instances, catalog: Catalog) -> list[AlertView]:
    alerts = _alerts()
    at = to_dt(now_ms())
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
        out.append(AlertView(
            inst=inst, rule=rule, rule_name=rule.name if rule else "",
            group=_group_shown(rule, inst.group),
            value=_number(inst.value, rule.kind if rule else None),
            threshold=_number(inst.threshold, rule.kind if rule else None),
            link=_evidence_link(rule, inst.group, inst.search_query, inst.window_start_ms, inst.window_end_ms)
            if inst.search_query or inst.window_start_ms else None,
            mute=max(covering, key=lambda m: m.until) if covering else None,
            failed=failed.get(inst.id, []),
            maintenance=[w for w in windows if w.covers(inst.rule_id, inst.group_key, at)]))
    return out


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
    return _page("alerts/active.html", status, views=views, mute_rows=mute_rows, windows=windows, error=error,
                 catalog_errors=catalog.errors, mute_choices=MUTE_CHOICES, rule_id=rule_id)


def _instance_or_error(instance_id: int):
    inst = _alerts().instance(instance_id)
    if inst is None:
        return None, _active_page(404, f"No alert #{instance_id}.")
    if inst.state not in OPEN:
        return None, _active_page(409, f"Alert #{instance_id} is {inst.state}: nothing to change.")
    return inst, None


@web.post("/alerts/<int:instance_id>/acknowledge")
@page_access("act_on_alerts")
def acknowledge_alert(instance_id: int):
    inst, failure = _instance_or_error(instance_id)
    if failure is not None:
        return failure
    owner = request.form.get("owner", "").strip() or _user()
    comment = request.form.get("comment", "").strip()
    if _services().meta.user_by_name(owner) is None:
        return _active_page(400, f"owner: no user named {owner!r}.")
    try:
        _alerts().acknowledge(instance_id, owner, comment, by=_user())
    except LookupError:
        return _active_page(404, f"No alert #{instance_id}.")
    except ValueError as exc:
        return _active_page(400, str(exc))
    flash(f"Alert #{instance_id} acknowledged: {owner} owns it.")
    return redirect(url_for("web.alerts"))


@web.post("/alerts/<int:instance_id>/unacknowledge")
@page_access("act_on_alerts")
def unacknowledge_alert(instance_id: int):
    inst, failure = _instance_or_error(instance_id)
    if failure is not None:
        return failure
    try:
        _alerts().unacknowledge(instance_id, by=_user(), comment=request.form.get("comment", "").strip())
    except LookupError:
        return _active_page(404, f"No alert #{instance_id}.")
    except ValueError as exc:
        return _active_page(409, str(exc))
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


@web.post("/alerts/<int:instance_id>/mute")
@page_access("act_on_alerts")
def mute_alert(instance_id: int):
    inst, failure = _instance_or_error(instance_id)
    if failure is not None:
        return failure
    now = now_ms()
    whole_rule = request.form.get("scope") == "rule"
    comment = request.form.get("comment", "").strip()
    try:
        until = _until_from_form(now)
        group = None if whole_rule else inst.group
        mute = _alerts().mute(inst.rule_id, group, until, by=_user(), comment=comment, at_ms=now)
    except ValueError as exc:
        return _active_page(400, str(exc))
    recorded = _what(inst.rule_id, group, _group_recorded(inst.rule_id, group))
    audit.record("alert_muted", f"{_user()} muted {recorded} until {iso(mute.until)}" + (f": {comment}" if comment else ""),
                 event_type=AUDIT_TYPE, target={"type": "alert_rule", "id": inst.rule_id},
                 changes=[{"field": "muted_until", "old": None, "new": iso(mute.until)}],
                 labels={"alert_id": inst.id, "comment": comment or None})
    entry = _catalog().by_id.get(inst.rule_id)
    flash(f"Muted {_what(inst.rule_id, group, _group_shown(entry.rule if entry else None, group))} "
          f"until {_when(mute.until)}.")
    return redirect(url_for("web.alerts"))


@web.post("/alerts/<int:instance_id>/unmute")
@page_access("act_on_alerts")
def unmute_alert(instance_id: int):
    inst, failure = _instance_or_error(instance_id)
    if failure is not None:
        return failure
    whole_rule = request.form.get("scope") == "rule" or inst.group is None
    return _lift(inst.rule_id, None if whole_rule else inst.group, request.form.get("comment", "").strip())


@web.post("/alerts/mutes/<int:mute_id>/lift")
@page_access("act_on_alerts")
def lift_mute(mute_id: int):
    """Lift a mute in force (by its id, so a masked group value never travels in the page): a
    rule-wide mute lifts every mute of the rule, a group's mute that group's mutes."""
    mute = next((m for m in _alerts().mutes() if m.id == mute_id), None)
    if mute is None:
        return _active_page(404, f"No mute #{mute_id} in force.")
    return _lift(mute.rule_id, mute.group_key, request.form.get("comment", "").strip())


def _lift(rule_id: str, group: str | None, comment: str):
    try:
        count = _alerts().unmute(rule_id, group, by=_user(), comment=comment)
    except ValueError as exc:
        return _active_page(400, str(exc))
    entry = _catalog().by_id.get(rule_id)
    shown = _what(rule_id, group, _group_shown(entry.rule if entry else None, group))
    if not count:
        return _active_page(409, f"No mute in force for {shown}.")
    recorded = _what(rule_id, group, _group_recorded(rule_id, group))
    audit.record("alert_unmuted", f"{_user()} lifted {count} mute(s) of {recorded}" + (f": {comment}" if comment else ""),
                 event_type=AUDIT_TYPE, target={"type": "alert_rule", "id": rule_id},
                 changes=[{"field": "muted", "old": True, "new": False}])
    flash(f"Unmuted {shown}.")
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
            return h.group_key or None      # a maintenance window's pattern, as its author typed it
        entry = rules.get(h.rule_id) if h.rule_id else None
        return _group_shown(entry.rule if entry else None, h.group_key or None)

    rows = [{"h": h, "group": group_of(h)} for h in entries]
    resolved = [] if instance_id is not None else alerts.instances(rule_id=rule_id, state="resolved", limit=100)
    resolved_views = _alert_views(resolved, catalog)
    return _page("alerts/history.html", rows=rows, resolved=resolved_views, rule_id=rule_id or "",
                 instance=instance, instance_id=instance_id, rule_ids=sorted(rules), limit=HISTORY_LIMIT,
                 rule_names={k: (e.rule.name if e.rule else "") for k, e in rules.items()})


# -- the rules -----------------------------------------------------------------------------------------

@web.get("/alerts/rules")
@page_access("view_alerts")
def alert_rules():
    catalog = _catalog()
    open_counts: dict[str, int] = {}
    for inst in _alerts().active():
        open_counts[inst.rule_id] = open_counts.get(inst.rule_id, 0) + 1
    states = _alerts().rule_states()
    entries = sorted(catalog.entries, key=lambda e: (e.source != "file", e.id))
    return _page("alerts/rules.html", entries=entries, open_counts=open_counts, states=states,
                 errors=catalog.errors, duration=duration_words, number=_number, rules_dir=rules_dir())


def _form_defaults() -> dict:
    return {"id": "", "name": "", "kind": "threshold", "query": "", "window": "5m", "threshold": "",
            "group_by": "", "failure_query": "", "min_count": "", "baseline_periods": "", "spike_mode": "relative",
            "expected_groups": "", "pending": "0", "renotify": "1h", "severity": "warning", "notify": "",
            "description": "", "enabled": True, "preview_hours": str(PREVIEW_DEFAULT_HOURS)}


def _seconds_text(seconds: int) -> str:
    for unit, size in (("w", 604_800), ("d", 86_400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _plain(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _form_from_definition(data: dict) -> dict:
    """Form values of a stored definition (a UI rule's JSON)."""
    form = _form_defaults()
    aliases = {"window_s": "window", "pending_s": "pending", "renotify_s": "renotify"}
    for key, value in data.items():
        name = aliases.get(key, key)
        if name in ("window", "pending", "renotify") and isinstance(value, (int, float)) and not isinstance(value, bool):
            form[name] = _seconds_text(int(value))
        elif name in ("notify", "expected_groups") and isinstance(value, (list, tuple)):
            form[name] = ", ".join(str(v) for v in value) if name == "notify" else "\n".join(str(v) for v in value)
        elif name == "enabled":
            form[name] = bool(value)
        elif name in form:
            form[name] = _plain(value)
    return form


def _form_from_rule(rule: Rule) -> dict:
    """Form values of a rule (a file's rule copied as a new UI rule)."""
    form = _form_defaults()
    form.update(id=rule.id, name=rule.name, kind=rule.kind, query=rule.query, window=_seconds_text(rule.window_s),
                threshold=_plain(rule.threshold), group_by=rule.group_by or "", severity=rule.severity,
                failure_query=rule.failure_query or "", pending=_seconds_text(rule.pending_s) if rule.pending_s else "0",
                renotify=_seconds_text(rule.renotify_s) if rule.renotify_s else "0", notify=", ".join(rule.notify),
                description=rule.description, enabled=rule.enabled, spike_mode=rule.spike_mode,
                expected_groups="\n".join(rule.expected_groups))
    if rule.kind in KIND_FIELDS["min_count"]:
        form["min_count"] = str(rule.min_count) if rule.min_count else ""
    if rule.kind in KIND_FIELDS["baseline_periods"]:
        form["baseline_periods"] = str(rule.baseline_periods)
    return form


def _form_from_request() -> dict:
    form = _form_defaults()
    for name in form:
        if name == "enabled":
            form[name] = request.form.get("enabled") == "1"
        else:
            form[name] = request.form.get(name, "")
    form["kind"] = form["kind"].strip()
    return form


def _as_number(text: str):
    """A form's number as the validator wants it: int, float, "20%" — or the text itself (refused
    there, naming the field)."""
    text = text.strip()
    if text.endswith("%"):
        return text
    for convert in (int, float):
        try:
            return convert(text)
        except ValueError:
            pass
    return text


def _split(text: str) -> list[str]:
    return [part.strip() for line in text.splitlines() for part in line.split(",") if part.strip()]


def _definition(form: dict) -> dict:
    """The rule definition (keys as in alerts/README.md) a form describes: the fields of other
    kinds are left out, empty fields take the defaults."""
    kind = form["kind"]
    data: dict = {"id": form["id"].strip(), "name": form["name"].strip(), "kind": kind, "query": form["query"].strip()}
    if form["window"].strip():
        data["window"] = _as_number(form["window"]) if form["window"].strip().isdigit() else form["window"].strip()
    if form["threshold"].strip():
        data["threshold"] = _as_number(form["threshold"])
    if form["group_by"].strip():
        data["group_by"] = form["group_by"].strip()
    for name, kinds in KIND_FIELDS.items():
        value = form.get(name, "")
        if kind not in kinds or not str(value).strip():
            continue
        if name in ("min_count", "baseline_periods"):
            data[name] = _as_number(value)
        elif name == "expected_groups":
            data[name] = _split(value)
        else:
            data[name] = value.strip()
    for name in ("pending", "renotify"):
        if form[name].strip():
            data[name] = int(form[name]) if form[name].strip().isdigit() else form[name].strip()
    data["severity"] = form["severity"].strip() or "warning"
    notify_to = _split(form["notify"])
    if notify_to:
        data["notify"] = notify_to
    if form["description"].strip():
        data["description"] = form["description"].strip()
    data["enabled"] = bool(form["enabled"])
    return data


@dataclass
class FieldError:
    message: str
    position: int | None = None
    expected: str | None = None
    line: str | None = None       # for a query: the line holding the position, and the column in it
    column: int | None = None


def _field_error(exc: RuleError, form: dict) -> tuple[str, FieldError]:
    name = FIELD_OF_ERROR.get(exc.field or "", exc.field or "")
    error = FieldError(exc.message, exc.position, exc.expected)
    if exc.position is not None and name in ("query", "failure_query"):
        text = form.get(name, "").strip()   # the definition strips the query: positions count from there
        before = text[:exc.position]
        start = before.rfind("\n") + 1
        end = text.find("\n", exc.position)
        error.line = text[start:end if end >= 0 else len(text)]
        error.column = exc.position - start
    return name or "form", error


def _check(form: dict, *, creating: bool, rule_id: str | None, catalog: Catalog) -> tuple[Rule | None, dict]:
    """The validated Rule, or the errors by form field."""
    data = _definition(form)
    try:
        rule = validate_rule(data, source="ui")
    except RuleError as exc:
        name, error = _field_error(exc, form)
        return None, {name: error}
    errors: dict[str, FieldError] = {}
    if creating:
        if rule.id in catalog.file_ids():
            errors["id"] = FieldError(f"id {rule.id!r} is a rule file's; choose another id")
        elif rule.id in catalog.ui_ids():
            errors["id"] = FieldError(f"id {rule.id!r} is already used by a rule made here; choose another id")
    elif rule.id != rule_id:
        errors["id"] = FieldError("the id of a rule cannot change (copy it as a new rule instead)")
    known = set(_destination_names())
    unknown = [name for name in rule.notify if name not in known]
    if unknown:
        errors["notify"] = FieldError(f"no destination named {', '.join(unknown)}"
                                      + (f"; configured: {', '.join(sorted(known))}" if known else
                                         "; none is configured yet"))
    return (None if errors else rule), errors


def _form_page(form: dict, *, creating: bool, rule_id: str | None = None, errors: dict | None = None,
               preview=None, status: int = 200, copied_from: str | None = None):
    return _page("alerts/rule_form.html", status, form=form, creating=creating, rule_id=rule_id, errors=errors or {},
                 preview=preview, kinds=KINDS, kind_help=KIND_HELP, severities=SEVERITIES, spike_modes=SPIKE_MODES,
                 kind_fields=KIND_FIELDS, destinations=_destination_names(), copied_from=copied_from, duration=duration_words,
                 max_hours=PREVIEW_MAX_HOURS, max_moments=PREVIEW_MAX_MOMENTS)


@web.route("/alerts/rules/new", methods=["GET", "POST"])
@page_access("edit_alert_rules")
def new_alert_rule():
    catalog = _catalog()
    if request.method == "GET":
        source = request.args.get("copy", "").strip()
        if source:
            entry = catalog.file(source) or catalog.ui(source)
            if entry is None or entry.rule is None:
                raise ApiError(404, f"no rule {source!r} to copy")
            form = _form_from_rule(entry.rule)
            form["id"] = _free_id(f"{entry.rule.id}-copy", catalog)
            return _form_page(form, creating=True, copied_from=source)
        return _form_page(_form_defaults(), creating=True)
    form = _form_from_request()
    rule, errors = _check(form, creating=True, rule_id=None, catalog=catalog)
    if "preview" in request.form:
        return _form_page(form, creating=True, errors=errors, status=200 if rule else 400,
                          preview=_preview(rule, form) if rule else None)
    if rule is None:
        return _form_page(form, creating=True, errors=errors, status=400)
    definition = _definition(form)
    _alerts().save_ui_rule(definition, by=_user(), validate=lambda d: validate_rule(d, source="ui"))
    audit.record("alert_rule_created", f"{_user()} created alert rule {rule.id} ({rule.name})",
                 event_type=AUDIT_TYPE, target={"type": "alert_rule", "id": rule.id, "name": rule.name},
                 changes=[{"field": k, "old": None, "new": v} for k, v in sorted(definition.items())])
    flash(f"Rule {rule.id} created. The scheduler runs it from its next tick.")
    return redirect(url_for("web.alert_rules"))


def _free_id(base: str, catalog: Catalog) -> str:
    taken = catalog.file_ids() | catalog.ui_ids()
    base = base[:74]
    candidate, n = base, 2
    while candidate in taken:
        candidate, n = f"{base}-{n}", n + 1
    return candidate


@web.route("/alerts/rules/<rule_id>/edit", methods=["GET", "POST"])
@page_access("edit_alert_rules")
def edit_alert_rule(rule_id: str):
    catalog = _catalog()
    entry = catalog.ui(rule_id)
    if entry is None:
        if catalog.file(rule_id) is not None:
            return _page("alerts/file_rule.html", 409, entry=catalog.file(rule_id), rules_dir=rules_dir())
        raise ApiError(404, f"no rule {rule_id!r} made in the back office")
    if request.method == "GET":
        return _form_page(_form_from_definition(entry.row.data), creating=False, rule_id=rule_id,
                          errors={"form": FieldError(f"stored rule no longer valid: {entry.error}")} if entry.error else None)
    form = _form_from_request()
    form["id"] = rule_id
    rule, errors = _check(form, creating=False, rule_id=rule_id, catalog=catalog)
    if "preview" in request.form:
        return _form_page(form, creating=False, rule_id=rule_id, errors=errors, status=200 if rule else 400,
                          preview=_preview(rule, form) if rule else None)
    if rule is None:
        return _form_page(form, creating=False, rule_id=rule_id, errors=errors, status=400)
    old, definition = entry.row.data, _definition(form)
    changes = [{"field": k, "old": old.get(k), "new": definition.get(k)}
               for k in sorted(set(old) | set(definition)) if old.get(k) != definition.get(k)]
    if not changes:
        flash(f"Rule {rule_id}: nothing to change.")
        return redirect(url_for("web.alert_rules"))
    _alerts().save_ui_rule(definition, by=_user(), validate=lambda d: validate_rule(d, source="ui"))
    audit.record("alert_rule_changed", f"{_user()} changed alert rule {rule_id}: "
                 + ", ".join(c["field"] for c in changes), event_type=AUDIT_TYPE,
                 target={"type": "alert_rule", "id": rule_id, "name": rule.name}, changes=changes)
    flash(f"Rule {rule_id} saved ({', '.join(c['field'] for c in changes)} changed).")
    return redirect(url_for("web.alert_rules"))


@web.post("/alerts/rules/<rule_id>/delete")
@page_access("edit_alert_rules")
def delete_alert_rule(rule_id: str):
    catalog = _catalog()
    entry = catalog.ui(rule_id)
    if entry is None:
        if catalog.file(rule_id) is not None:
            return _page("alerts/file_rule.html", 409, entry=catalog.file(rule_id), rules_dir=rules_dir())
        raise ApiError(404, f"no rule {rule_id!r} made in the back office")
    old = entry.row.data
    if not _alerts().delete_ui_rule(rule_id, by=_user()):
        raise ApiError(404, f"no rule {rule_id!r} made in the back office")
    audit.record("alert_rule_deleted", f"{_user()} deleted alert rule {rule_id}", event_type=AUDIT_TYPE,
                 target={"type": "alert_rule", "id": rule_id, "name": str(old.get("name", ""))},
                 changes=[{"field": k, "old": v, "new": None} for k, v in sorted(old.items())])
    still_open = len(_alerts().active(rule_id))
    flash(f"Rule {rule_id} deleted." + (f" Its {still_open} open alert(s) stay listed until resolved by hand "
                                        "or by a rule of the same id." if still_open else ""))
    return redirect(url_for("web.alert_rules"))


# -- test before saving ------------------------------------------------------------------------------

@dataclass
class PreviewMoment:
    at_ms: int
    findings: list[dict]          # alert findings, presented
    error: str | None = None
    unknown: int = 0


@dataclass
class Preview:
    rule: Rule
    hours: int
    step_s: int
    planned: int
    moments: list[PreviewMoment]  # newest first; only the moments with an alert or an error
    evaluated: int
    alerting: int
    groups: list[str]
    stopped: bool                 # the time budget ran out before every moment was evaluated
    seconds: float


def _preview_hours(form: dict) -> int:
    raw = str(form.get("preview_hours", "")).strip()
    try:
        hours = int(raw) if raw else PREVIEW_DEFAULT_HOURS
    except ValueError:
        hours = PREVIEW_DEFAULT_HOURS
    hours = max(1, min(hours, PREVIEW_MAX_HOURS))
    form["preview_hours"] = str(hours)
    return hours


def preview_moments(now: int, hours: int, window_s: int) -> tuple[list[int], int]:
    """The moments a preview evaluates, newest first, and the step between them (seconds): every
    rule window (at least 5 minutes), widened to whole minutes so that at most PREVIEW_MAX_MOMENTS fit
    in the hours."""
    span_s = hours * 3600
    step_s = max(window_s, PREVIEW_MIN_STEP_S, math.ceil(span_s / PREVIEW_MAX_MOMENTS))
    step_s = -(-step_s // 60) * 60     # whole minutes, like the moments
    last = now // 60_000 * 60_000    # whole minutes: the same form tested twice gives the same moments
    count = min(PREVIEW_MAX_MOMENTS, span_s // step_s)
    return [last - i * step_s * 1000 for i in range(max(count, 1))], step_s


def _preview(rule: Rule, form: dict) -> Preview:
    """Adapter: evaluate the rule at moments across the last hours against the event store, and
    say what it would have fired. Writes nothing: evaluate() only reads the store."""
    hours = _preview_hours(form)
    moments, step_s = preview_moments(now_ms(), hours, rule.window_s)
    store = _services().store
    started = time.monotonic()
    shown: list[PreviewMoment] = []
    evaluated, alerting, stopped = 0, 0, False
    since: dict[str | None, int] = {}    # group -> first moment of its current run of alerts
    results = []
    for moment in moments:
        if time.monotonic() - started > PREVIEW_BUDGET_S:
            stopped = True
            break
        try:
            evaluation = evaluate(rule, store, moment)
        except Exception as exc:    # a broken rule or store says so on the page, like the scheduler's log
            current_app.logger.exception("preview of rule %s at %s", rule.id, moment)
            evaluation = Evaluation(rule=rule, now_ms=moment, error=f"{type(exc).__name__}: {exc}")
        results.append((moment, evaluation))
        evaluated += 1
    groups: dict[str, None] = {}
    for moment, evaluation in sorted(results, key=lambda r: r[0]):     # oldest first: pending_s holds over time
        alerts = [f for f in evaluation.findings if f.state == "alert"]
        unknown = sum(f.state == "unknown" for f in evaluation.findings)
        alerting_groups = {f.group for f in alerts}
        for group in list(since):
            if group not in alerting_groups and not evaluation.error:
                del since[group]
        presented = []
        for finding in alerts:
            first = since.setdefault(finding.group, moment)
            fires = moment - first >= rule.pending_s * 1000
            presented.append(_present_finding(rule, finding, fires, moment - first))
            groups.setdefault(_group_shown(rule, finding.group) or "(all events)", None)
        if alerts:
            alerting += 1
        if alerts or evaluation.error:
            shown.append(PreviewMoment(moment, presented, evaluation.error, unknown))
    shown.reverse()
    return Preview(rule=rule, hours=hours, step_s=step_s, planned=len(moments), moments=shown, evaluated=evaluated,
                   alerting=alerting, groups=list(groups), stopped=stopped,
                   seconds=round(time.monotonic() - started, 1))


def _present_finding(rule: Rule, finding: Finding, fires: bool, held_ms: int) -> dict:
    return {"group": _group_shown(rule, finding.group), "value": _number(finding.value, rule.kind),
            "threshold": _number(finding.threshold, rule.kind), "detail": finding.detail, "fires": fires,
            "held": duration_words(held_ms // 1000) if held_ms else "",
            "samples": len(finding.sample_ids),
            "link": _evidence_link(rule, finding.group, finding.search_query, finding.window_start_ms,
                                   finding.window_end_ms)}


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


def _end_maintenance(alerts: Alerts, window_id: int, *, by: str, at_ms: int) -> str:
    """Adapter (lifecycle offers add and delete only): a window in force ends now (kept, with its
    new end, and recorded in the alert history); one not started yet is deleted (lifecycle
    records that); an ended one stays as it was. Returns "ended", "cancelled", "ended already"
    or "missing"."""
    at = to_dt(at_ms)
    with alerts.Session() as s:
        window = s.get(MaintenanceWindow, window_id, with_for_update=True)
        if window is None:
            return "missing"
        if window.ends_at <= at:
            return "ended already"
        if window.starts_at <= at:
            old_end, window.ends_at = window.ends_at, at
            s.add(AlertHistory(instance_id=None, rule_id=window.rule_id, group_key=window.group_pattern, at=at,
                               actor=by, action="maintenance_ended",
                               comment=f"#{window.id} ended early (was until {iso(old_end)}): {window.reason}"[:2048]))
            s.commit()
            return "ended"
    alerts.delete_maintenance(window_id, by=by, at_ms=at_ms)
    return "cancelled"


@web.post("/alerts/maintenance/<int:window_id>/end")
@page_access("act_on_alerts")
def end_maintenance(window_id: int):
    now = now_ms()
    before = next((w for w in _alerts().maintenance_windows() if w.id == window_id), None)
    outcome = _end_maintenance(_alerts(), window_id, by=_user(), at_ms=now)
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
