"""Dashboards as data: load dashboards/*.yaml and validate each one (format: dashboards/README.md).

    load_dashboards(directory) -> list[Dashboard]    every *.yaml / *.yml file, one dashboard each
    load_file(path)            -> Dashboard          id = the file name's stem
    validate_dashboard(data, dashboard_id)           one dashboard as a dict

All raise DashboardError naming the file, the panel and the field at fault (and, for a query that
does not compile, the query compiler's message and 0-based position), like alert rules do."""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from pathlib import Path

from ..query import QueryError, parse
from ..query.fields import resolve
from ..query.timeexpr import parse_time

ID_PATTERN = re.compile(r"[a-z0-9][a-z0-9_-]{0,79}\Z")
KINDS = ("number", "timeseries", "stacked", "top", "percentiles", "status", "events")
REFRESH = ("off", "30s", "1m", "5m")
WIDTHS = ("third", "half", "full")
GROUPABLE_TYPES = ("keyword", "ip", "long", "boolean")  # fields every store can count values of
NUMBER_TYPES = ("long", "double")
MAX_PANELS = 24
MAX_SERIES = 8
MAX_LIMIT = {"stacked": 7, "top": 50, "percentiles": 50, "status": 60, "events": 50}
DEFAULT_LIMIT = {"stacked": 5, "top": 10, "percentiles": 10, "status": 30, "events": 10}
COMMON_KEYS = ("id", "title", "kind", "query", "description", "width")
KIND_KEYS = {
    "number": ("ratio_of", "unit"),
    "timeseries": ("series", "unit"),
    "stacked": ("by", "limit", "unit"),
    "top": ("by", "limit"),
    "percentiles": ("field", "by", "limit", "percentiles", "unit"),
    "status": ("by", "status_field", "failure_query", "limit", "recent"),
    "events": ("columns", "limit"),
}
DASHBOARD_KEYS = ("title", "description", "range", "refresh", "panels")


class DashboardError(ValueError):
    """A dashboard that cannot be used; `field` is the key at fault, `panel` the panel's id (or
    its 1-based position), `position` a 0-based offset into a query that does not compile."""

    def __init__(
        self,
        message: str,
        field: str | None = None,
        panel: str | None = None,
        position: int | None = None,
        file: str | None = None,
    ):
        super().__init__(message)
        self.message, self.field, self.panel, self.position, self.file = message, field, panel, position, file

    def __str__(self) -> str:
        where = ", ".join(x for x in (self.file, f"panel {self.panel}" if self.panel else None, self.field) if x)
        at = f" (at position {self.position})" if self.position is not None else ""
        return f"{where}: {self.message}{at}" if where else f"{self.message}{at}"

    def as_dict(self) -> dict:
        return {
            k: getattr(self, k) for k in ("message", "file", "panel", "field", "position") if getattr(self, k) is not None
        }


@dataclass(frozen=True)
class Series:
    label: str
    query: str


@dataclass(frozen=True)
class Panel:
    id: str
    title: str
    kind: str
    query: str = ""
    description: str = ""
    width: str = "half"
    ratio_of: str | None = None  # number: the share of `query` among these events
    unit: str = ""
    series: tuple[Series, ...] = ()  # timeseries: one line per query
    by: str | None = None  # stacked, top, status, percentiles: the field grouped by
    limit: int = 10
    field: str | None = None  # percentiles: the number field
    percentiles: tuple[float, ...] = (50, 95, 99)
    status_field: str | None = None  # status: the field whose newest value is shown
    failure_query: str | None = None  # status: which events are failures (default: failures.FAILURE_QUERY)
    recent_ms: int | None = None  # status: judge each value over the newest part of the range only
    columns: tuple[str, ...] = ("@timestamp", "message")


@dataclass(frozen=True)
class Dashboard:
    id: str
    title: str
    panels: tuple[Panel, ...]
    description: str = ""
    range: str = "now-24h"
    refresh: str = "off"
    file: str | None = None
    owner: str | None = None  # made in the back office (stored.py): who made it

    def panel(self, panel_id: str) -> Panel | None:
        return next((p for p in self.panels if p.id == panel_id), None)


# -- values ------------------------------------------------------------------------------------


def _text(value, field: str, required: bool = False, limit: int = 2000) -> str:
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise DashboardError(f"expected text, not {type(value).__name__}", field)
    value = value.strip()
    if required and not value:
        raise DashboardError("is required", field)
    if len(value) > limit:
        raise DashboardError(f"at most {limit:,} characters", field)
    return value


def _query(value, field: str) -> str:
    text = _text(value, field, limit=4000)
    try:
        parse(text)
    except QueryError as exc:
        raise DashboardError(exc.message, field, position=exc.position) from None
    return text


def _field(value, key: str, types: tuple[str, ...], what: str) -> str:
    name = _text(value, key, required=True, limit=200)
    try:
        info = resolve(name)
    except QueryError as exc:
        raise DashboardError(exc.message, key) from None
    if info.type not in types:
        raise DashboardError(f"{name} ({info.type}) cannot be {what}: choose a {' or '.join(types)} field", key)
    return name


def _integer(value, field: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise DashboardError(f"expected a whole number, not {value!r}", field)
    if not low <= value <= high:
        raise DashboardError(f"must be between {low} and {high} (got {value})", field)
    return value


def _keys(data: dict, allowed: tuple[str, ...], what: str) -> None:
    for key in data:
        if key not in allowed:
            hint = difflib.get_close_matches(str(key), allowed, n=1)
            raise DashboardError(
                f"unknown key {key!r} for {what}"
                + (f"; did you mean {hint[0]!r}?" if hint else "")
                + f" (keys: {', '.join(allowed)})",
                str(key),
            )


# -- one panel, one dashboard --------------------------------------------------------------------


def validate_panel(data, position: int) -> Panel:
    """One panel (a mapping), or DashboardError naming its field (the caller adds panel and file)."""
    if not isinstance(data, dict):
        raise DashboardError(f"a panel is a mapping (id, title, kind, query, …), not {type(data).__name__}")
    kind = data.get("kind")
    if kind not in KINDS:
        raise DashboardError(f"must be one of {', '.join(KINDS)}; got {kind!r}", "kind")
    _keys(data, COMMON_KEYS + KIND_KEYS[kind], f"a {kind} panel")
    panel_id = data.get("id")
    if not isinstance(panel_id, str) or not ID_PATTERN.match(panel_id):
        raise DashboardError("an id is required: lower-case letters, digits, '_' or '-' (at most 80)", "id")
    out: dict = {
        "id": panel_id,
        "kind": kind,
        "title": _text(data.get("title"), "title", required=True, limit=120),
        "query": _query(data.get("query"), "query"),
        "description": _text(data.get("description"), "description"),
    }
    width = data.get("width", "half")
    if width not in WIDTHS:
        raise DashboardError(f"must be one of {', '.join(WIDTHS)}; got {width!r}", "width")
    out["width"] = width
    if "unit" in data:
        out["unit"] = _text(data["unit"], "unit", limit=30)
    if kind in MAX_LIMIT:
        out["limit"] = _integer(data.get("limit", DEFAULT_LIMIT[kind]), "limit", 1, MAX_LIMIT[kind])
    if kind == "number" and data.get("ratio_of") is not None:
        out["ratio_of"] = _query(data["ratio_of"], "ratio_of")
    if kind == "timeseries":
        out["series"] = _series(data.get("series"), out["query"])
    if kind in ("stacked", "top", "status") or (kind == "percentiles" and data.get("by") is not None):
        out["by"] = _field(data.get("by"), "by", GROUPABLE_TYPES, "grouped by")
    if kind == "percentiles":
        out["field"] = _field(data.get("field"), "field", NUMBER_TYPES, "measured in percentiles")
        out["percentiles"] = _percentiles(data.get("percentiles", [50, 95, 99]))
    if kind == "status":
        out["status_field"] = _field(data.get("status_field"), "status_field", GROUPABLE_TYPES, "a status")
        if data.get("failure_query") is not None:
            out["failure_query"] = _query(data["failure_query"], "failure_query")
        if data.get("recent") is not None:
            out["recent_ms"] = _recent(data["recent"])
    if kind == "events" and "columns" in data:
        columns = data["columns"]
        if not isinstance(columns, list) or not columns or len(columns) > 8:
            raise DashboardError("expected a list of 1 to 8 field names", "columns")
        for name in columns:
            if name != "@timestamp":
                _field(name, "columns", ("keyword", "ip", "long", "double", "boolean", "text", "date"), "a column")
        out["columns"] = tuple(columns)
    return Panel(**out)


def _series(value, query: str) -> tuple[Series, ...]:
    if value is None:
        return (Series("events", query),)
    if not isinstance(value, list) or not 1 <= len(value) <= MAX_SERIES:
        raise DashboardError(f"expected a list of 1 to {MAX_SERIES} series, each {{label, query}}", "series")
    out = []
    for i, item in enumerate(value, 1):
        if not isinstance(item, dict) or set(item) - {"label", "query"}:
            raise DashboardError(f"series {i}: expected {{label, query}}", "series")
        label = _text(item.get("label"), f"series {i} label", required=True, limit=60)
        text = _query(item.get("query"), f"series {i} query")
        combined = f"({query}) AND ({text})" if query and text else query or text
        out.append(Series(label, combined))
    if len({s.label for s in out}) != len(out):
        raise DashboardError("two series have the same label", "series")
    return tuple(out)


def _recent(value) -> int:
    """A status panel's `recent` window (5m, 15m, 1h; seconds as a number) in ms: 1 minute to 7 days."""
    from ..alerts.rules import RuleError, parse_duration

    try:
        seconds = parse_duration(value, "recent")
    except RuleError as exc:
        raise DashboardError(exc.message, "recent") from None
    if not 60 <= seconds <= 7 * 86_400:
        raise DashboardError(f"must be from 1m to 7d (got {value!r})", "recent")
    return seconds * 1000


def _percentiles(value) -> tuple[float, ...]:
    if not isinstance(value, list) or not 1 <= len(value) <= 5:
        raise DashboardError("expected a list of 1 to 5 percentiles, e.g. [50, 95, 99]", "percentiles")
    for p in value:
        if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0 < p <= 100:
            raise DashboardError(f"a percentile is a number above 0 and at most 100, not {p!r}", "percentiles")
    return tuple(value)


def validate_dashboard(data, dashboard_id: str) -> Dashboard:
    if not isinstance(data, dict):
        raise DashboardError("a dashboard is a mapping: title, description, range, refresh, panels")
    _keys(data, DASHBOARD_KEYS, "a dashboard")
    if not ID_PATTERN.match(dashboard_id):
        raise DashboardError("the file name is the dashboard's id: lower-case letters, digits, '_' or '-'", "id")
    title = _text(data.get("title"), "title", required=True, limit=120)
    raw_range = _text(data.get("range", "now-24h"), "range", required=True, limit=60)
    try:
        parse_time(raw_range, 0, "range")
    except QueryError as exc:
        raise DashboardError(exc.message, "range") from None
    refresh = data.get("refresh", "off")
    refresh = "off" if refresh is False else str(refresh)  # YAML 1.1 reads a bare off as false
    if refresh not in REFRESH:
        raise DashboardError(f"must be one of {', '.join(REFRESH)}; got {refresh!r}", "refresh")
    panels_raw = data.get("panels")
    if not isinstance(panels_raw, list) or not 1 <= len(panels_raw) <= MAX_PANELS:
        raise DashboardError(f"expected a list of 1 to {MAX_PANELS} panels", "panels")
    panels: list[Panel] = []
    for position, item in enumerate(panels_raw, 1):
        try:
            panel = validate_panel(item, position)
        except DashboardError as exc:
            raw_id = item.get("id") if isinstance(item, dict) else None
            exc.panel = raw_id if isinstance(raw_id, str) and raw_id else f"#{position}"
            raise
        if any(p.id == panel.id for p in panels):
            raise DashboardError("this id is used by an earlier panel", "id", panel=panel.id)
        panels.append(panel)
    return Dashboard(
        id=dashboard_id,
        title=title,
        description=_text(data.get("description"), "description"),
        range=raw_range,
        refresh=refresh,
        panels=tuple(panels),
    )


# -- files -------------------------------------------------------------------------------------


def dashboard_files(directory) -> list[Path]:
    directory = Path(directory)
    if not directory.is_dir():
        raise DashboardError(f"{directory} is not a directory of dashboard files")
    return sorted(p for p in directory.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())


def load_file(path) -> Dashboard:
    path = Path(path)
    from .yamltext import read_yaml  # (it raises this module's DashboardError)

    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DashboardError(f"cannot read: {exc}", file=str(path)) from None
    data = read_yaml(text, str(path))
    try:
        dashboard = validate_dashboard(data, path.stem)
    except DashboardError as exc:
        exc.file = str(path)
        raise
    return Dashboard(**{**dashboard.__dict__, "file": str(path)})


def load_dashboards(directory=None) -> list[Dashboard]:
    """Every dashboard of the directory (the shipped dashboards/ by default), by file name; a bad
    file raises DashboardError naming the file, the panel and the field. Ids are file stems, so
    a.yaml and a.yml cannot both be there."""
    found: dict[str, Dashboard] = {}
    for path in dashboard_files(directory or default_dashboards_dir()):
        dashboard = load_file(path)
        if dashboard.id in found:
            raise DashboardError(f"id {dashboard.id!r} is already used by {found[dashboard.id].file}", "id", file=str(path))
        found[dashboard.id] = dashboard
    return list(found.values())


def default_dashboards_dir() -> Path:
    """PLATLOGS_DASHBOARDS_DIR, else the shipped dashboards (app/shipped/dashboards: config.directory_setting)."""
    from ..config import directory_setting

    return directory_setting("DASHBOARDS_DIR")


_CACHE: dict = {}


def shipped(directory=None) -> tuple[list[Dashboard], list[DashboardError]]:
    """The dashboards of the directory and the errors of the files that could not be loaded (a
    bad file is left out, the others shown), read again only when a file changed."""
    directory = Path(directory or default_dashboards_dir())
    try:
        files = dashboard_files(directory)
    except DashboardError as exc:
        return [], [exc]
    key = (str(directory), tuple((p.name, p.stat().st_mtime_ns) for p in files))
    if key not in _CACHE:
        dashboards: list[Dashboard] = []
        errors: list[DashboardError] = []
        for path in files:
            try:
                dashboards.append(load_file(path))
            except DashboardError as exc:
                errors.append(exc)
        _CACHE.clear()
        _CACHE[key] = (dashboards, errors)
    return _CACHE[key]
