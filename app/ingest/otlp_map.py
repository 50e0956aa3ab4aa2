"""OTLP log records -> events in the project's schema (app/events/schema.yaml). The mapping table
users read is in docs/shippers.md ("OpenTelemetry (OTLP/HTTP)"); this is its one implementation.

Built once per process from the schema: an attribute (resource or record) whose name is one of
our fields, or a semantic-convention name with a counterpart here (ALIASES), fills that field when
its value converts to the field's type; every other attribute, and one whose value does not
convert, becomes a label (flattened, bounded). A record's attributes win over its resource's.
Nothing here refuses a record: the Ingestor's normalizer judges the events it makes.
"""

from __future__ import annotations

import base64
import contextlib
import re
from collections.abc import Iterable, Iterator
from hashlib import blake2b
from typing import Any

import orjson

from ..events.convert import Converter, EventError, Leaf, format_ts
from ..events.ids import EVENT_ID, derived_id
from ..events.schema import Schema

# OTel severity number ranges (logs data model): 1-4 TRACE, 5-8 DEBUG, 9-12 INFO, 13-16 WARN,
# 17-20 ERROR, 21-24 FATAL. The schema's words for them:
LEVEL_OF_SEVERITY = (
    (None,) + ("trace",) * 4 + ("debug",) * 4 + ("info",) * 4 + ("warning",) * 4 + ("error",) * 4 + ("critical",) * 4
)

# Semantic-convention attribute names (and older spellings) -> our fields, first one the schema has.
ALIASES: dict[str, tuple[str, ...]] = {
    "deployment.environment.name": ("service.environment",),
    "deployment.environment": ("service.environment",),
    "service.instance.id": ("service.node.name", "service.instance.id"),
    "exception.type": ("error.type",),
    "exception.message": ("error.message",),
    "exception.stacktrace": ("error.stack_trace",),
    "user.id": ("user.id", "actor.id"),
    "enduser.id": ("user.id", "actor.id"),
    "user.name": ("user.name",),
    "user.email": ("user.email",),
    "client.address": ("client.ip", "client.address", "source.ip"),
    "source.address": ("source.ip",),
    "network.peer.address": ("source.ip",),
    "http.method": ("http.request.method",),  # semconv before 1.21
    "http.status_code": ("http.response.status_code",),
    "http.url": ("url.full",),
    "event.name": ("event.action",),
    "log.record.uid": ("event.id",),
}
# Fields the server sets, never taken from an attribute (the attribute becomes a label).
SERVER_FIELDS = frozenset(
    {"@timestamp", "event.ingested", "event.classified_by", "event.redacted", "error.fingerprint", "labels"}
)

MAX_LABELS = 64  # per event; more are counted in labels.otel_labels_dropped
MAX_LABEL_VALUE = 1024  # characters; longer values are cut (like the syslog listener's)
MAX_LABEL_KEY = 128
MAX_MESSAGE = 32 * 1024  # characters of a body written as JSON text
MAX_BODY_ITEMS = 200  # a structured body with more leaves, or deeper, is kept as text only
MAX_BODY_DEPTH = 4
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_KEY_BAD = re.compile(r"[^A-Za-z0-9_-]")


def clean(text: str) -> str:
    """Control characters the schema refuses (not tab, newline, CR) written as `#` and three
    octal digits, as rsyslog writes them: an ANSI colour code does not cost the record."""
    if _CONTROL.search(text) is None:
        return text
    return _CONTROL.sub(lambda m: f"#{ord(m.group()):03o}", text)


_SECONDS: dict[int, str] = {}
_LAST_ISO_MS = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z


def iso_ms(ms: int) -> str | int:
    """`ms` as the schema's ISO text (13 digits of epoch ms would look like a card number to the
    redactor and cost the fast path); a time past year 9999 stays a number, for the normalizer
    to refuse with its reason."""
    if ms > _LAST_ISO_MS:
        return ms
    second, rest = divmod(ms, 1000)
    prefix = _SECONDS.get(second)
    if prefix is None:
        if len(_SECONDS) > 10_000:
            _SECONDS.clear()
        prefix = _SECONDS[second] = format_ts(second * 1000)[:-4]
    return f"{prefix}{rest:03d}Z"


def label_key(name: str) -> str:
    return _KEY_BAD.sub("_", name)[:MAX_LABEL_KEY]


def any_value(value) -> Any:
    """An OTLP AnyValue as plain Python (strings cleaned; bytes as base64 text)."""
    kind = value.WhichOneof("value")
    if kind == "string_value":
        return clean(value.string_value)
    if kind == "int_value":
        return value.int_value
    if kind == "bool_value":
        return value.bool_value
    if kind == "double_value":
        number = value.double_value
        return number if number == number and number not in (float("inf"), float("-inf")) else str(number)
    if kind == "array_value":
        return [any_value(item) for item in value.array_value.values]
    if kind == "kvlist_value":
        return {clean(kv.key) or "_": any_value(kv.value) for kv in value.kvlist_value.values}
    if kind == "bytes_value":
        return base64.b64encode(value.bytes_value).decode()
    return None


def label_text(value: Any) -> str:
    if type(value) is str:
        text = value
    elif type(value) is bool:
        text = "true" if value else "false"
    elif isinstance(value, (int, float)):
        text = str(value)
    elif value is None:
        text = ""
    else:
        text = orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()
    return text if len(text) <= MAX_LABEL_VALUE else text[: MAX_LABEL_VALUE - 1] + "…"


def _shape(value: Any, depth: int, budget: list) -> bool:
    """Whether a structured body is small and shallow enough to keep as an object."""
    if depth > MAX_BODY_DEPTH:
        return False
    if type(value) is dict:
        if any(not key or "." in key or len(key) > 256 for key in value):
            return False  # the normalizer would read dots as nesting, or refuse the key
        items: Iterable[Any] | None = value.values()
    else:
        items = value if type(value) is list else None
    if items is None:
        budget[0] -= 1
        return budget[0] >= 0
    return all(_shape(item, depth + 1, budget) for item in items) and (budget[0] >= 0)


class OtlpMapper:
    def __init__(self, schema: Schema):
        self.converter = Converter()
        fields = schema.fields
        self.level_field = fields["log.level"]
        self.targets: dict[str, tuple[str, Any, Leaf]] = {
            name: (name, field, Leaf(field))
            for name, field in fields.items()
            if name not in SERVER_FIELDS and field.type not in ("changes", "labels")
        }
        for name, candidates in ALIASES.items():
            target = next((c for c in candidates if c in fields and c not in SERVER_FIELDS), None)
            if target is not None:
                self.targets[name] = self.targets[target]
        self.has_span = "span.id" in fields
        self.paths: dict[str, tuple[str, ...]] = {name: field.path for name, field in fields.items()}

    # -- attributes --------------------------------------------------------------------

    def attributes(self, pairs, fields: dict, labels: dict) -> None:
        """Fill `fields` (dotted names) and `labels` from a list of KeyValue; the first value of
        a field wins (a record's attributes are read before its resource's)."""
        targets = self.targets
        for kv in pairs:
            key = kv.key
            value = any_value(kv.value)
            target = targets.get(key)
            if target is not None and target[0] not in fields:
                name, field, leaf = target
                item = value
                if type(item) is list and field.type != "tags":
                    item = item[0] if item else None  # host.ip is a list in semconv
                if item is not None:
                    if leaf.accepts(item):  # already canonical: the common case
                        fields[name] = item
                        continue
                    try:
                        fields[name] = self.converter.convert(field, item)
                        continue
                    except EventError:
                        pass  # kept as a label instead
            lkey = label_key(key)
            if lkey and lkey not in labels:
                labels[lkey] = label_text(value)

    # -- one request -------------------------------------------------------------------

    def events(self, request) -> Iterator[tuple[int, dict]]:
        """(record number, event) for every log record of an ExportLogsServiceRequest, numbered
        from 0 in request order.

        Exporters retry a request whose answer they did not get, so a record that brings no
        `log.record.uid` and has a time gets an id derived from its resource, its scope, its own
        bytes and its rank among identical records of the request: the retry is found stored
        (the store's duplicate check), while two identical records in one request stay two."""
        number = 0
        seen: dict[bytes, int] = {}
        for resource_logs in request.resource_logs:
            resource_digest = blake2b(resource_logs.resource.SerializeToString(deterministic=True), digest_size=16).digest()
            res_fields: dict = {}
            res_labels: dict = {}
            self.attributes(resource_logs.resource.attributes, res_fields, res_labels)
            res_event = self._nest(res_fields, {})
            for scope_logs in resource_logs.scope_logs:
                scope = scope_logs.scope
                base_labels = res_labels
                if scope.version:
                    base_labels = {**res_labels, "otel_scope_version": label_text(clean(scope.version))}
                logger = clean(scope.name)[:1024] if scope.name else None
                prefix = resource_digest + scope_logs.scope.SerializeToString(deterministic=True)
                for record in scope_logs.log_records:
                    event = self.event(record, res_event, base_labels, logger)
                    ns = record.time_unix_nano or record.observed_time_unix_nano
                    meta = event.get("event")
                    if ns and (meta is None or "id" not in meta):
                        digest = blake2b(prefix + record.SerializeToString(deterministic=True), digest_size=16).digest()
                        rank = seen[digest] = seen.get(digest, -1) + 1
                        if rank:
                            digest = blake2b(digest + rank.to_bytes(4, "big"), digest_size=16).digest()
                        event.setdefault("event", {})["id"] = derived_id(ns // 1_000_000, digest)
                    yield number, event
                    number += 1

    def lines(self, request) -> Iterator[tuple[int, bytes]]:
        """As `events`, each event as a JSON line: the Ingestor then treats it as it treats an
        NDJSON line of /api/v1/events/bulk, whose fast path (no copy, no redaction pass when
        nothing in the line could need one) is 2-3 times cheaper than normalising a dict."""
        dumps = orjson.dumps
        for number, event in self.events(request):
            yield number, dumps(event)

    def _nest(self, fields: dict, event: dict) -> dict:
        """Set dotted `fields` into the nested `event` (a value there is replaced)."""
        paths = self.paths
        for name, value in fields.items():
            path = paths.get(name)
            if path is None:
                path = paths[name] = tuple(name.split("."))
            node = event
            for part in path[:-1]:
                child = node.get(part)
                if type(child) is not dict:
                    child = node[part] = {}
                node = child
            node[path[-1]] = value
        return event

    def event(self, record, res_event: dict, res_labels: dict, logger: str | None) -> dict:
        """One record's event; `res_event`, its resource's fields nested, is copied, not changed."""
        fields: dict = {}
        labels: dict = {}
        if record.attributes:
            self.attributes(record.attributes, fields, labels)
        uid = fields.get("event.id")
        if uid is not None and not (type(uid) is str and EVENT_ID.match(uid)):
            labels["log_record_uid"] = label_text(fields.pop("event.id"))  # not an id we can keep
        if record.event_name and "event.action" not in fields:
            fields["event.action"] = clean(record.event_name)[:1024]
        if res_labels:
            for key, value in res_labels.items():
                labels.setdefault(key, value)
        event = self._nest(fields, _copy(res_event))

        ns = record.time_unix_nano or record.observed_time_unix_nano
        if ns:
            event["@timestamp"] = iso_ms(ns // 1_000_000)
        number = record.severity_number
        level = LEVEL_OF_SEVERITY[number] if 0 < number < 25 else None
        text = record.severity_text
        if text:
            text = clean(text)[:MAX_LABEL_VALUE]
            labels.setdefault("otel_severity_text", text)
            if level is None:
                with contextlib.suppress(EventError):
                    level = self.converter.convert(self.level_field, text)
        if level is not None and "log.level" not in fields:
            event.setdefault("log", {})["level"] = level
        if logger is not None and "log.logger" not in fields:
            event.setdefault("log", {})["logger"] = logger
        if record.trace_id and any(record.trace_id):
            event.setdefault("trace", {})["id"] = record.trace_id.hex()
        if record.span_id and self.has_span and any(record.span_id):
            event.setdefault("span", {})["id"] = record.span_id.hex()
        if record.HasField("body"):
            self._body(any_value(record.body), event)
        if labels:
            if len(labels) > MAX_LABELS:
                dropped = len(labels) - MAX_LABELS + 1
                labels = dict(list(labels.items())[: MAX_LABELS - 1])
                labels["otel_labels_dropped"] = str(dropped)
            event["labels"] = labels
        return event

    @staticmethod
    def _body(body: Any, event: dict) -> None:
        if type(body) is str:
            event["message"] = body
        elif type(body) in (dict, list):
            text = orjson.dumps(body, option=orjson.OPT_NON_STR_KEYS).decode()
            event["message"] = text if len(text) <= MAX_MESSAGE else text[: MAX_MESSAGE - 1] + "…"
            if _shape(body, 1, [MAX_BODY_ITEMS]):
                event["otel"] = {"body": body}
        elif body is not None:
            event["message"] = label_text(body)


def _copy(node: dict) -> dict:
    return {key: _copy(value) if type(value) is dict else value for key, value in node.items()}


def locate(request, number: int) -> str:
    """Where record `number` (as numbered by `events`) is in the request, for error messages."""
    for ri, resource_logs in enumerate(request.resource_logs):
        for si, scope_logs in enumerate(resource_logs.scope_logs):
            count = len(scope_logs.log_records)
            if number < count:
                return f"resourceLogs[{ri}].scopeLogs[{si}].logRecords[{number}]"
            number -= count
    return f"record {number}"
