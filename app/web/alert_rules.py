"""The alert rule pages: the list (files' and the back office's rules), the rule form with its
validation (errors shown next to their field, a query's at its position), create / edit /
delete of the rules made here (through app/alerts/actions.py, which records each as an admin
action), and "test before saving"."""

from __future__ import annotations

from flask import flash, redirect, request, url_for

from ..alerts import preview
from ..alerts.changes import Conflict
from ..alerts.common import now_ms
from ..alerts.evaluate import duration as duration_words
from ..alerts.model import KINDS, SEVERITIES, Rule
from ..alerts.preview import preview_rule
from ..alerts.rules import SPIKE_MODES, RuleError, validate_rule
from ..auth import page_access
from ..errors import ApiError
from . import web
from .alerts_common import (
    Catalog,
    _actions,
    _alerts,
    _catalog,
    _destination_names,
    _number,
    _page,
    _services,
    present_preview,
    rules_dir,
)
from .alerts_form import (
    KIND_FIELDS,
    FieldError,
    _definition,
    _field_error,
    _form_defaults,
    _form_from_definition,
    _form_from_request,
    _form_from_rule,
)

PREVIEW_DEFAULT_HOURS = preview.DEFAULT_HOURS
PREVIEW_MAX_HOURS = preview.MAX_HOURS
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
# -- the rules -----------------------------------------------------------------------------------------


@web.get("/alerts/rules")
@page_access("view_alerts")
def alert_rules():
    catalog = _catalog()
    open_counts: dict[str, int] = {}
    for inst in _alerts().active():
        open_counts[inst.rule_id] = open_counts.get(inst.rule_id, 0) + 1
    states = _alerts().rule_states()
    entries = sorted(catalog.in_force(), key=lambda e: (e.source != "file", e.id))
    return _page(
        "alerts/rules.html",
        entries=entries,
        not_run=catalog.not_run(),
        open_counts=open_counts,
        states=states,
        duration=duration_words,
        number=_number,
        rules_dir=rules_dir(),
    )


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
        sources = {e.source for e in catalog.entries if e.id == rule.id}
        if "file" in sources:
            errors["id"] = FieldError(f"id {rule.id!r} is a rule file's; choose another id")
        elif sources:
            errors["id"] = FieldError(f"id {rule.id!r} is already used by a rule made here; choose another id")
    elif rule.id != rule_id:
        errors["id"] = FieldError("the id of a rule cannot change (copy it as a new rule instead)")
    known = set(_destination_names())
    unknown = [name for name in rule.notify if name not in known]
    if unknown:
        errors["notify"] = FieldError(
            f"no destination named {', '.join(unknown)}"
            + (f"; configured: {', '.join(sorted(known))}" if known else "; none is configured yet")
        )
    return (None if errors else rule), errors


def _form_page(
    form: dict,
    *,
    creating: bool,
    rule_id: str | None = None,
    errors: dict | None = None,
    preview=None,
    status: int = 200,
    copied_from: str | None = None,
):
    return _page(
        "alerts/rule_form.html",
        status,
        form=form,
        creating=creating,
        rule_id=rule_id,
        errors=errors or {},
        preview=preview,
        kinds=KINDS,
        kind_help=KIND_HELP,
        severities=SEVERITIES,
        spike_modes=SPIKE_MODES,
        kind_fields=KIND_FIELDS,
        destinations=_destination_names(),
        copied_from=copied_from,
        duration=duration_words,
        max_hours=PREVIEW_MAX_HOURS,
    )


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
        return _form_page(
            form, creating=True, errors=errors, status=200 if rule else 400, preview=_preview(rule, form) if rule else None
        )
    if rule is None:
        return _form_page(form, creating=True, errors=errors, status=400)
    try:
        _actions().save_ui_rule(_definition(form), creating=True)
    except Conflict as exc:  # made by someone else since the form was checked
        return _form_page(form, creating=True, errors={"id": FieldError(str(exc))}, status=409)
    flash(f"Rule {rule.id} created. The scheduler runs it from its next tick.")
    return redirect(url_for("web.alert_rules"))


def _free_id(base: str, catalog: Catalog) -> str:
    taken = catalog.ids()
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
    if entry is None or entry.row is None:
        if catalog.file(rule_id) is not None:
            return _page("alerts/file_rule.html", 409, entry=catalog.file(rule_id), rules_dir=rules_dir())
        raise ApiError(404, f"no rule {rule_id!r} made in the back office")
    if request.method == "GET":
        stored_error = {"form": FieldError(f"stored rule no longer valid: {entry.error}")} if entry.error else None
        return _form_page(_form_from_definition(entry.row.data), creating=False, rule_id=rule_id, errors=stored_error)
    form = _form_from_request()
    form["id"] = rule_id
    rule, errors = _check(form, creating=False, rule_id=rule_id, catalog=catalog)
    if "preview" in request.form:
        return _form_page(
            form,
            creating=False,
            rule_id=rule_id,
            errors=errors,
            status=200 if rule else 400,
            preview=_preview(rule, form) if rule else None,
        )
    if rule is None:
        return _form_page(form, creating=False, rule_id=rule_id, errors=errors, status=400)
    try:
        _rule, changes = _actions().save_ui_rule(_definition(form), creating=False)
    except LookupError as exc:  # deleted by someone else since the form was read
        raise ApiError(404, str(exc)) from None
    if not changes:
        flash(f"Rule {rule_id}: nothing to change.")
        return redirect(url_for("web.alert_rules"))
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
    try:
        _actions().delete_ui_rule(rule_id)
    except LookupError as exc:
        raise ApiError(404, str(exc)) from None
    still_open = len(_alerts().active(rule_id))
    flash(
        f"Rule {rule_id} deleted."
        + (
            f" Its {still_open} open alert(s) stay listed until resolved by hand or by a rule of the same id."
            if still_open
            else ""
        )
    )
    return redirect(url_for("web.alert_rules"))


# -- test before saving ------------------------------------------------------------------------------


def _preview_hours(form: dict) -> int:
    raw = str(form.get("preview_hours", "")).strip()
    try:
        hours = int(raw) if raw else PREVIEW_DEFAULT_HOURS
    except ValueError:
        hours = PREVIEW_DEFAULT_HOURS
    hours = max(1, min(hours, PREVIEW_MAX_HOURS))
    form["preview_hours"] = str(hours)
    return hours


def _preview(rule: Rule, form: dict) -> dict:
    """The rule tested over the last hours (app/alerts/preview.py: every position the scheduler
    would evaluate; writes nothing), presented for this reader."""
    return present_preview(preview_rule(rule, _services().store, now_ms(), _preview_hours(form)))
