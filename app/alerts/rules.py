"""Alert rules as data: load them from alerts/*.yaml and validate one rule (a file's or the UI's).

    load_rules(directory) -> list[Rule]       every rule of every *.yaml / *.yml file, ids unique
    validate_rule(data)   -> Rule             one rule as a dict (a YAML mapping, a submitted form)

Both raise RuleError, which names the field at fault and, for a query that does not compile, carries
the query compiler's message and 0-based position. The format is documented in alerts/README.md.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import fields as dataclass_fields
from pathlib import Path

import yaml

from ..query import QueryError, parse
from ..query.fields import NAMESPACE, resolve
from .model import KINDS, SEVERITIES, Rule

ID_PATTERN = re.compile(r"[a-z0-9][a-z0-9_.-]{0,79}\Z")
SPIKE_MODES = ("relative", "zscore")
SOURCES = ("file", "ui")
MIN_WINDOW_S, MAX_WINDOW_S = 10, 7 * 86_400
MAX_SPIKE_WINDOW_S = 86_400  # the baseline shifts by whole weeks: a window is part of one
MAX_BASELINE_PERIODS = 12
GROUPABLE_TYPES = ("keyword", "ip", "long", "boolean")  # fields every store can count values of
_DURATION = re.compile(r"\s*(\d+)\s*([smhdw]?)\s*\Z")
_UNIT_S = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}
# YAML/form key -> Rule field; `window: 5m` and `window_s: 300` mean the same.
_ALIASES = {"window": "window_s", "pending": "pending_s", "renotify": "renotify_s"}
_FIELDS = tuple(f.name for f in dataclass_fields(Rule))
_KIND_ONLY = {
    "failure_query": ("ratio",),
    "baseline_periods": ("spike", "absence"),
    "spike_mode": ("spike",),
    "expected_groups": ("absence",),
    "min_count": ("ratio", "spike", "absence"),
}


class RuleError(ValueError):
    """A rule that cannot be used. `field` is the rule key at fault; for a query, `position` and
    `expected` come from the query compiler (0-based offset into that query string)."""

    def __init__(
        self,
        message: str,
        field: str | None = None,
        position: int | None = None,
        expected: str | None = None,
        rule_id: str | None = None,
        file: str | None = None,
    ):
        super().__init__(message)
        self.message = message
        self.field = field
        self.position = position
        self.expected = expected
        self.rule_id = rule_id
        self.file = file

    def __str__(self) -> str:
        where = ", ".join(x for x in (self.file, f"rule {self.rule_id}" if self.rule_id else None, self.field) if x)
        at = f" (at position {self.position})" if self.position is not None else ""
        return f"{where}: {self.message}{at}" if where else f"{self.message}{at}"

    def as_dict(self) -> dict:
        out: dict = {"message": self.message}
        for key in ("field", "position", "expected", "rule_id", "file"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        return out


# -- one rule ------------------------------------------------------------------------------


def parse_duration(value, field: str) -> int:
    """Seconds from 300, "300", "90s", "5m", "1h", "2d" or "1w"."""
    if isinstance(value, bool):
        raise RuleError(f"expected a duration such as 300, 5m, 1h or 2d, not {value!r}", field)
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    match = _DURATION.match(value) if isinstance(value, str) else None
    if not match:
        raise RuleError(f"expected a duration such as 300, 5m, 1h or 2d, not {value!r}", field)
    return int(match[1]) * _UNIT_S[match[2]]


def _query(text, field: str, required: bool) -> str:
    if text is None:
        text = ""
    if not isinstance(text, str):
        raise RuleError(f"expected a query string, not {type(text).__name__}", field)
    if required and not text.strip():
        raise RuleError("a query is required (which events count as failures?)", field)
    try:
        parse(text)
    except QueryError as exc:
        raise RuleError(exc.message, field, exc.position, exc.expected) from None
    return text


def _number(value, field: str) -> float:
    if isinstance(value, str) and value.strip().endswith("%"):
        try:
            return float(value.strip()[:-1]) / 100
        except ValueError:
            pass
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise RuleError(f"expected a number, not {value!r}", field)
    if value != value or value in (float("inf"), float("-inf")):
        raise RuleError("expected a finite number", field)
    return float(value)


def _integer(value, field: str, low: int, high: int | None = None) -> int:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise RuleError(f"expected a whole number, not {value!r}", field)
    if value < low or (high is not None and value > high):
        span = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise RuleError(f"must be {span} (got {value})", field)
    return value


def _text(value, field: str, required: bool = False) -> str:
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise RuleError(f"expected text, not {type(value).__name__}", field)
    if required and not value.strip():
        raise RuleError("is required", field)
    return value.strip()


def _strings(value, field: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, (str, int)) and not isinstance(v, bool) for v in value):
        raise RuleError("expected a list of values", field)
    out = tuple(str(v) for v in value)
    if len(set(out)) != len(out):
        raise RuleError("lists a value twice", field)
    return out


def _group_by(value) -> str | None:
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise RuleError("expected a field name", "group_by")
    try:
        info = resolve(value.strip())
    except QueryError as exc:
        raise RuleError(exc.message, "group_by") from None
    if info.type not in GROUPABLE_TYPES or info.name.startswith("labels.") or info.type == NAMESPACE:
        raise RuleError(
            f"{info.name} cannot group alerts: choose a keyword, IP or number field "
            "(e.g. actor.id, source.ip, service.name, integration.provider)",
            "group_by",
        )
    return info.name


def validate_rule(data: dict, source: str | None = None) -> Rule:
    """The Rule that `data` describes (keys as in alerts/README.md), or RuleError naming the field.
    `source` ("file" or "ui") overrides any `source` key in the data."""
    if not isinstance(data, dict):
        raise RuleError("a rule is a mapping of keys to values (id, name, kind, query, window, threshold, …)")
    rule_id = data.get("id") if isinstance(data.get("id"), str) else None
    try:
        return _validate(data, source)
    except RuleError as exc:
        exc.rule_id = exc.rule_id or rule_id
        raise


def _validate(data: dict, source: str | None) -> Rule:
    values: dict = {}
    for key, value in data.items():
        name = _ALIASES.get(key, key)
        if name not in _FIELDS:
            hint = difflib.get_close_matches(str(key), list(_FIELDS) + list(_ALIASES), n=1, cutoff=0.6)
            raise RuleError(f"unknown key {key!r}" + (f"; did you mean {hint[0]!r}?" if hint else ""), str(key))
        if name in values:
            raise RuleError(f"given twice (as {name} and as {key})", str(key))
        values[name] = value
    rule_id = values.get("id")
    if not isinstance(rule_id, str) or not ID_PATTERN.match(rule_id):
        raise RuleError(
            "an id is required: lower-case letters, digits, '.', '_' or '-' (at most 80), "
            f"starting with a letter or digit; got {rule_id!r}",
            "id",
        )
    kind = values.get("kind")
    if kind in ERROR_GROUP_KINDS:
        values, kind = _error_group_kind(values, kind), "threshold"
    if kind not in KINDS:
        raise RuleError(f"kind must be one of {', '.join(KINDS + tuple(ERROR_GROUP_KINDS))}; got {kind!r}", "kind")
    for name, kinds in _KIND_ONLY.items():
        if name in values and values[name] not in (None, "", [], ()) and kind not in kinds:
            raise RuleError(f"only applies to {' and '.join(kinds)} rules, not to a {kind} rule", name)
    for required in ("window_s", "threshold"):
        if required not in values:
            raise RuleError(
                "is required" + (" (e.g. window: 5m)" if required == "window_s" else ""),
                "window" if required == "window_s" else required,
            )

    out: dict = {"id": rule_id, "kind": kind}
    out["name"] = _text(values.get("name"), "name", required=True)
    out["query"] = _query(values.get("query"), "query", required=False)
    window = parse_duration(values["window_s"], "window")
    top = MAX_SPIKE_WINDOW_S if kind == "spike" else MAX_WINDOW_S
    if not MIN_WINDOW_S <= window <= top:
        raise RuleError(
            f"must be between {MIN_WINDOW_S} s and {top // 86_400} day(s) for a {kind} rule (got {window} s)", "window"
        )
    out["window_s"] = window
    threshold = _number(values["threshold"], "threshold")
    if kind == "ratio" and not 0 <= threshold < 1:
        raise RuleError(
            'a ratio\'s threshold is a share between 0 and 1 (0.2 or "20%": more than a fifth '
            f"of the matching events fail); got {threshold}",
            "threshold",
        )
    if kind == "absence" and threshold < 1:
        raise RuleError(
            f"an absence fires on fewer than `threshold` events, so it must be at least 1; got {threshold}", "threshold"
        )
    if threshold < 0:
        raise RuleError(f"must not be negative (got {threshold})", "threshold")
    out["threshold"] = threshold
    out["group_by"] = _group_by(values.get("group_by"))
    if kind == "ratio":
        out["failure_query"] = _query(values.get("failure_query"), "failure_query", required=True)
    out["min_count"] = _integer(values.get("min_count", 0), "min_count", 0)
    if kind == "spike":
        out["baseline_periods"] = _integer(values.get("baseline_periods", 4), "baseline_periods", 1, MAX_BASELINE_PERIODS)
        mode = values.get("spike_mode", "relative")
        if mode not in SPIKE_MODES:
            raise RuleError(f"must be one of {', '.join(SPIKE_MODES)}; got {mode!r}", "spike_mode")
        out["spike_mode"] = mode
    if kind == "absence":
        groups = _strings(values.get("expected_groups"), "expected_groups")
        if groups and not out["group_by"]:
            raise RuleError("expected_groups needs group_by (the field whose values are expected)", "expected_groups")
        out["expected_groups"] = groups
        out["baseline_periods"] = _integer(values.get("baseline_periods", 4), "baseline_periods", 1, MAX_BASELINE_PERIODS)
        if groups and out["min_count"]:
            raise RuleError(
                "listed expected_groups are always expected; min_count (expected when the same window of "
                "earlier weeks averaged that many events) applies without a list",
                "min_count",
            )
    out["pending_s"] = parse_duration(values.get("pending_s", 0), "pending")
    out["renotify_s"] = parse_duration(values.get("renotify_s", 3600), "renotify")
    for name in ("pending_s", "renotify_s"):
        if out[name] < 0:
            raise RuleError("must not be negative", name[:-2])
    severity = values.get("severity", "warning")
    if severity not in SEVERITIES:
        raise RuleError(f"must be one of {', '.join(SEVERITIES)}; got {severity!r}", "severity")
    out["severity"] = severity
    out["notify"] = _strings(values.get("notify"), "notify")
    out["description"] = _text(values.get("description"), "description")
    enabled = values.get("enabled", True)
    if not isinstance(enabled, bool):
        raise RuleError(f"expected true or false, not {enabled!r}", "enabled")
    out["enabled"] = enabled
    origin = source if source is not None else values.get("source", "file")
    if origin not in SOURCES:
        raise RuleError(f"must be one of {', '.join(SOURCES)}; got {origin!r}", "source")
    out["source"] = origin
    return Rule(**out)


# -- the error-group kinds ---------------------------------------------------------------------

# Shorthands for a threshold rule over the events the error-group sync stores when a group is new
# or has regressed (app/errorgroups/sync.py markers): one alert per group (target.id, the group's id),
# firing while its event is in the window. `query` narrows them (service.name, labels.error_type).
ERROR_GROUP_KINDS = {"new_error_group": "error_group_new", "regression": "error_group_regression"}
ERROR_GROUP_FIELD = "target.id"
_ERROR_GROUP_FIXED = (
    "threshold",
    "group_by",
    "failure_query",
    "baseline_periods",
    "spike_mode",
    "expected_groups",
    "min_count",
)


def _error_group_kind(values: dict, kind: str) -> dict:
    for name in _ERROR_GROUP_FIXED:
        if name in values:
            raise RuleError(f"a {kind} rule fires once per error group: it takes no {name}", name)
    narrowing = _query(values.get("query"), "query", required=False)  # positions in what was written
    base = f"event.action:{ERROR_GROUP_KINDS[kind]}"
    return {
        **values,
        "kind": "threshold",
        "threshold": 0,
        "group_by": ERROR_GROUP_FIELD,
        "window_s": values.get("window_s", "15m"),
        "query": f"{base} AND ({narrowing})" if narrowing else base,
    }


# -- files -----------------------------------------------------------------------------------


def rule_files(directory) -> list[Path]:
    directory = Path(directory)
    if not directory.is_dir():
        raise RuleError(f"{directory} is not a directory of rule files")
    return sorted(p for p in directory.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())


def load_file(path) -> list[Rule]:
    """The rules of one YAML file: a single rule (a mapping), a list of rules, or {rules: [...]}."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        raise RuleError(f"not valid YAML{where}: {getattr(exc, 'problem', None) or exc}", file=str(path)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise RuleError(f"cannot read: {exc}", file=str(path)) from None
    if data is None:
        return []
    if isinstance(data, dict) and set(data) == {"rules"}:
        data = data["rules"]
    items = data if isinstance(data, list) else [data]
    rules = []
    for item in items:
        try:
            rules.append(validate_rule(item, source="file"))
        except RuleError as exc:
            exc.file = str(path)
            raise
    return rules


def load_rules(directory, errors: list | None = None) -> list[Rule]:
    """Every rule in the directory's *.yaml / *.yml files, in file-name order.

    A bad file or rule raises RuleError (naming the file, the rule and the field) — unless `errors`
    is a list: then each bad file's error is appended to it and that file is skipped, so one broken
    file does not stop the other rules (the scheduler's choice). Ids must be unique across files."""
    rules: list[Rule] = []
    seen: dict[str, str] = {}
    for path in rule_files(directory):
        try:
            found = load_file(path)
            for rule in found:
                if rule.id in seen:
                    raise RuleError(
                        f"id {rule.id!r} is already used in {seen[rule.id]}", "id", rule_id=rule.id, file=str(path)
                    )
            if len({r.id for r in found}) != len(found):
                dup = next(r.id for r in found if sum(x.id == r.id for x in found) > 1)
                raise RuleError(f"id {dup!r} is used twice in this file", "id", rule_id=dup, file=str(path))
        except RuleError as exc:
            if errors is None:
                raise
            errors.append(exc)
            continue
        for rule in found:
            seen[rule.id] = path.name
        rules.extend(found)
    return rules


def default_rules_dir() -> Path:
    """PLATLOGS_RULES_DIR, else the shipped rules (app/shipped/alerts: config.directory_setting)."""
    from ..config import directory_setting

    return directory_setting("RULES_DIR")
