"""Checking and normalising the value of one known field, by its type in schema.yaml."""

from __future__ import annotations

import ipaddress
import math
import re
import time as _time
from datetime import UTC, datetime, timedelta
from typing import Any

from . import refusals
from .names import LABEL_KEY, label_key_problem
from .schema import Field, Schema
from .times import epoch_digits_ms, epoch_ms, parse_text

CANONICAL_TS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\Z")
_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
_CANONICAL_IPV4 = re.compile(rf"(?:{_OCTET}\.){{3}}{_OCTET}\Z")
_UPPER_ASCII = re.compile(r"[A-Z0-9_-]*\Z")  # str.upper() leaves these as they are
_LEVEL_ALIASES = {
    "warn": "warning",
    "err": "error",
    "fatal": "critical",
    "crit": "critical",
    "information": "info",
    "informational": "info",
    "emerg": "emergency",
    "verbose": "debug",
}
_MIN_TS_MS = 631152000000  # 1990-01-01: anything older is almost surely a unit mistake
_MAX_TS_MS = 253402300799999  # 9999-12-31
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MS = timedelta(milliseconds=1)
MAX_KEYWORD_CHARS = 8192


class EventError(ValueError):
    """An input item cannot be stored; `reason` says why (for people), `field` where (when known),
    `kind` which refusal it is (app/events/refusals.py, counted by the ingest status): SCHEMA unless
    it is raised with another, or a subclass fixes its own."""

    kind: str = refusals.SCHEMA

    def __init__(self, reason: str, field: str | None = None, kind: str | None = None):
        super().__init__(reason)
        self.reason = reason
        self.field = field
        if kind is not None:
            self.kind = kind


def type_name(value: Any) -> str:
    return {
        dict: "an object",
        list: "an array",
        str: "a string",
        bool: "a boolean",
        int: "a number",
        float: "a number",
        type(None): "null",
    }.get(type(value), type(value).__name__)


_SHOWN = {"second": "%Y-%m-%d %H:%M:%S UTC", "minute": "%Y-%m-%d %H:%M UTC", "day": "%Y-%m-%d"}


def format_ts(moment: int | float | datetime | str, style: str = "iso") -> str:
    """The one way a time is written as text (issue 16). `moment`: epoch milliseconds, a datetime
    (naive is UTC, as the meta database keeps them) or ISO-8601 text.

    style "iso": 2026-12-03T16:33:49.123Z, the schema's @timestamp — stored events, JSON answers,
    URLs, files, the CLI; "second": 2026-12-03 16:33:49 UTC and "minute": 2026-12-03 16:33 UTC,
    for people on the pages; "day": 2026-12-03.

    Formats that are someone else's protocol or a stored key are written where they are used, on
    purpose: OpenSearch index names (app/storage/opensearch_layout.py `g%Y%m%dt%H%M`, the daily
    and monthly suffixes), the Elasticsearch `_cat` answers' `%H:%M:%S` (app/ingest/es_views.py),
    the export's file name `%Y%m%dT%H%M%SZ` (no colons in file names: app/web/search_api.py),
    the migration checkpoint's window names (keys of a resumable state file: app/storage/migrate.py),
    RFC 2822 dates of e-mails (email.utils.formatdate) and the browser's own toISOString."""
    if type(moment) is not int:
        moment = _epoch_ms(moment)
    second = datetime.fromtimestamp(moment // 1000, tz=UTC)
    if style == "iso":
        return second.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment % 1000:03d}Z"
    return second.strftime(_SHOWN[style])


def _epoch_ms(moment: float | datetime | str) -> int:
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    if isinstance(moment, datetime):
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return (moment - _EPOCH) // _ONE_MS
    if isinstance(moment, float) and math.isfinite(moment):
        return math.floor(moment)
    raise TypeError(f"not a time: {type(moment).__name__}")


class Converter:
    """Per-type conversion of known fields; keeps a small cache of parsed timestamp seconds."""

    def __init__(self):
        self._second_cache: dict[str, int] = {}

    def convert(self, field: Field, value: Any) -> Any:
        kind = field.type
        if kind == "ip" and type(value) is list and not field.identifier:  # host.ip: [v4, v6, …] (ECS)
            if not value or len(value) > 32:
                raise EventError("expected an IP address or a list of 1-32 of them", field.name)
            return [self.convert(field, item) if type(item) is not list else self.convert(field, "[]") for item in value]
        if kind in ("keyword", "ip"):
            if type(value) in (int, float):
                value = str(value)
            if not isinstance(value, str):
                raise EventError(f"expected a string, got {type_name(value)}", field.name)
            if len(value) > MAX_KEYWORD_CHARS:
                raise EventError(f"longer than {MAX_KEYWORD_CHARS} characters", field.name)
            if field.name == "log.level":
                value = value.lower()
                value = _LEVEL_ALIASES.get(value, value)
            elif field.name == "http.request.method":
                value = value.upper()
            if kind == "ip" and not _CANONICAL_IPV4.match(value):
                try:
                    value = str(ipaddress.ip_address(value))
                except ValueError:
                    raise EventError(f"not an IP address: {value[:60]!r}", field.name) from None
            if field.enum and value not in field.enum:
                raise EventError(f"{value[:60]!r} is not one of " + ", ".join(field.enum), field.name)
            return value
        if kind == "text":
            if not isinstance(value, str):
                raise EventError(f"expected a string, got {type_name(value)}", field.name)
            return value
        if kind == "long":
            if type(value) is float and value.is_integer():
                value = int(value)
            elif type(value) is str:
                try:
                    value = int(value.strip())
                except ValueError:
                    raise EventError(f"expected an integer, got {value[:40]!r}", field.name) from None
            if type(value) is not int:
                raise EventError(f"expected an integer, got {type_name(value)}", field.name)
            if not -(2**63) <= value < 2**63:
                raise EventError("integer out of the 64-bit range", field.name)
            return value
        if kind == "double":
            if type(value) is str:
                try:
                    value = float(value)
                except ValueError:
                    raise EventError(f"expected a number, got {value[:40]!r}", field.name) from None
            if type(value) not in (int, float) or not math.isfinite(value):
                raise EventError(f"expected a number, got {type_name(value)}", field.name)
            return value
        if kind == "date":
            return self.parse_timestamp(value, field.name)[1]
        if kind == "boolean":
            if isinstance(value, str) and value.lower() in ("true", "false"):
                return value.lower() == "true"
            if type(value) is not bool:
                raise EventError(f"expected true or false, got {type_name(value)}", field.name)
            return value
        if kind == "tags":
            items = [value] if isinstance(value, str) else value
            if not isinstance(items, list) or len(items) > 32:
                raise EventError("expected a list of at most 32 strings", field.name)
            tags: list[str] = []
            for item in items:
                if type(item) in (int, float):
                    item = str(item)
                if not isinstance(item, str) or len(item) > 256:
                    raise EventError("each item must be a string of at most 256 characters", field.name)
                tags.append(item)
            return tags
        if kind == "labels":
            if not isinstance(value, dict):
                raise EventError(f"expected an object of strings, got {type_name(value)}", field.name)
            labels: dict[str, str] = {}
            for key, item in value.items():
                problem = label_key_problem(key)
                if problem:
                    raise EventError(problem, field.name)
                if isinstance(item, (dict, list)):
                    raise EventError(f"label {key!r}: values must be strings, numbers or booleans", field.name)
                labels[key] = (
                    item
                    if isinstance(item, str)
                    else ("" if item is None else str(item).lower() if isinstance(item, bool) else str(item))
                )
            return labels
        if kind == "changes":
            items = [value] if isinstance(value, dict) else value
            if not isinstance(items, list) or len(items) > 100:
                raise EventError("expected a list of at most 100 {field, old, new} objects", field.name)
            for item in items:
                if not isinstance(item, dict) or not isinstance(item.get("field"), str):
                    raise EventError('each change must be an object with a string "field"', field.name)
            return items
        raise AssertionError(kind)

    def parse_timestamp(self, value: Any, name: str, now_ms: int | None = None) -> tuple[int, str]:
        """(epoch ms, canonical ISO string) of an ISO-8601 string, an epoch number (seconds, ms,
        µs or ns by magnitude, as a number or a digit string) or another common format
        (app/events/times.py). `now_ms` chooses the year of a time written without one."""
        if type(value) in (int, float):
            if not math.isfinite(value):
                raise EventError("not a valid time", name)
            ms = epoch_ms(value)
        elif isinstance(value, str):
            if CANONICAL_TS.match(value):  # the common case: cache the parse of the second
                second = self._second_cache.get(value[:19])
                if second is None:
                    if len(self._second_cache) > 50_000:
                        self._second_cache.clear()
                    second = self._second_cache[value[:19]] = self._iso_ms(value[:19] + "Z", name)
                ms = second + int(value[20:23])
                if _MIN_TS_MS <= ms <= _MAX_TS_MS:
                    return ms, value
            else:
                try:
                    ms = self._iso_ms(value, name)
                except EventError:
                    found = epoch_digits_ms(value.strip())
                    if found is None:
                        found = parse_text(value, _time.time_ns() // 1_000_000 if now_ms is None else now_ms)
                    if found is None:
                        raise EventError(
                            f"not a time: {value[:40]!r} (ISO 8601, epoch seconds/ms/µs/ns, RFC 3164, Apache or RFC 2822)",
                            name,
                        ) from None
                    ms = found
        else:
            raise EventError(f"expected a time (ISO 8601 or an epoch number), got {type_name(value)}", name)
        if ms < _MIN_TS_MS or ms > _MAX_TS_MS:
            raise EventError("time out of range (before 1990 or after 9999)", name)
        return ms, format_ts(ms)

    @staticmethod
    def _iso_ms(text: str, name: str) -> int:
        try:
            parsed = datetime.fromisoformat(text.strip())
        except ValueError:
            raise EventError(f"not an ISO-8601 time: {text[:40]!r}", name) from None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        try:
            return (parsed - _EPOCH) // _ONE_MS  # exact integer arithmetic, sub-ms truncated
        except OverflowError:
            raise EventError("time out of range", name) from None


class Leaf:
    """A known field in the lookup tree; `plain` fields take any string as it is."""

    __slots__ = ("allowed", "canonical", "column", "field", "kind", "numeric", "plain")

    def __init__(self, field: Field):
        self.field = field
        self.column = field.column
        self.kind = field.type
        self.plain = (
            field.type in ("keyword", "text") and not field.enum and field.name not in ("log.level", "http.request.method")
        )
        self.allowed = frozenset(field.enum or ())  # canonical values accepted as they are
        self.numeric = field.type if field.type in ("long", "double") else None
        # strings `convert` returns unchanged, told apart without calling it (no enum on these)
        self.canonical = (
            None
            if field.enum
            else (
                _CANONICAL_IPV4.match
                if field.type == "ip"
                else _UPPER_ASCII.match
                if field.name == "http.request.method"
                else None
            )
        )

    def accepts(self, value: Any) -> bool:
        """Whether the value is already canonical (the common case: no conversion needed):
        True only where `Converter.convert` would return an equal value."""
        kind = type(value)
        if kind is str:
            return (
                (self.plain and len(value) <= MAX_KEYWORD_CHARS)
                or value in self.allowed
                or (self.canonical is not None and len(value) <= MAX_KEYWORD_CHARS and self.canonical(value) is not None)
            )
        if kind is int:
            return bool(self.numeric) and -(2**63) <= value < 2**63
        if kind is list:  # tags: at most 32 strings of at most 256 characters
            return self.kind == "tags" and len(value) <= 32 and all(type(item) is str and len(item) <= 256 for item in value)
        if kind is dict:  # labels: string values under keys the query language can name
            return (
                self.kind == "labels"
                and all(type(item) is str for item in value.values())
                and all(LABEL_KEY.match(key) for key in value)
            )
        return kind is float and self.numeric == "double" and math.isfinite(value)


def field_tree(schema: Schema) -> dict:
    tree: dict = {}
    for field in schema.fields.values():
        if field.name == "@timestamp":  # parsed once, by Normalizer.normalize
            continue
        node = tree
        for part in field.path[:-1]:
            node = node.setdefault(part, {})
        node[field.path[-1]] = Leaf(field)
    return tree
