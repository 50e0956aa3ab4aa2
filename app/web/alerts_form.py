"""The alert rule form (alert_rules.py): its fields and defaults, a stored definition or a rule
as form values, the submitted form as a definition, and a RuleError as the error shown next to
its field (a query's at its position)."""

from __future__ import annotations

from dataclasses import dataclass

from flask import request

from ..alerts import preview
from ..alerts.model import Rule
from ..alerts.rules import RuleError

PREVIEW_DEFAULT_HOURS = preview.DEFAULT_HOURS
KIND_FIELDS = {
    "failure_query": ("ratio",),
    "min_count": ("ratio", "spike", "absence"),
    "baseline_periods": ("spike", "absence"),
    "spike_mode": ("spike",),
    "expected_groups": ("absence",),
}
# RuleError.field -> the form field it is shown next to
FIELD_OF_ERROR = {"window_s": "window", "pending_s": "pending", "renotify_s": "renotify"}


def _form_defaults() -> dict:
    return {
        "id": "",
        "name": "",
        "kind": "threshold",
        "query": "",
        "window": "5m",
        "threshold": "",
        "group_by": "",
        "failure_query": "",
        "min_count": "",
        "baseline_periods": "",
        "spike_mode": "relative",
        "expected_groups": "",
        "pending": "0",
        "renotify": "1h",
        "severity": "warning",
        "notify": "",
        "description": "",
        "enabled": True,
        "preview_hours": str(PREVIEW_DEFAULT_HOURS),
    }


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
    form.update(
        id=rule.id,
        name=rule.name,
        kind=rule.kind,
        query=rule.query,
        window=_seconds_text(rule.window_s),
        threshold=_plain(rule.threshold),
        group_by=rule.group_by or "",
        severity=rule.severity,
        failure_query=rule.failure_query or "",
        pending=_seconds_text(rule.pending_s) if rule.pending_s else "0",
        renotify=_seconds_text(rule.renotify_s) if rule.renotify_s else "0",
        notify=", ".join(rule.notify),
        description=rule.description,
        enabled=rule.enabled,
        spike_mode=rule.spike_mode,
        expected_groups="\n".join(rule.expected_groups),
    )
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
    line: str | None = None  # for a query: the line holding the position, and the column in it
    column: int | None = None


def _field_error(exc: RuleError, form: dict) -> tuple[str, FieldError]:
    name = FIELD_OF_ERROR.get(exc.field or "", exc.field or "")
    error = FieldError(exc.message, exc.position, exc.expected)
    if exc.position is not None and name in ("query", "failure_query"):
        text = form.get(name, "").strip()  # the definition strips the query: positions count from there
        before = text[: exc.position]
        start = before.rfind("\n") + 1
        end = text.find("\n", exc.position)
        error.line = text[start : end if end >= 0 else len(text)]
        error.column = exc.position - start
    return name or "form", error
