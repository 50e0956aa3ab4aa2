"""`PlatformLogsHandler`: the standard library's `logging` into Platform Logs.

A LogRecord becomes an event of the project's schema (app/events/schema.yaml, ECS names):

    @timestamp           record.created (milliseconds, UTC)
    message              record.getMessage() (or the handler's formatter, when one was set)
    log.level            levelname: DEBUG→debug, INFO→info, WARNING→warning, ERROR→error,
                         CRITICAL→critical; a custom level by its name when the schema knows it
                         (trace, notice, alert, emergency), else by its number; the name
                         then kept in log.original_level
    log.logger           record.name
    log.origin.*         file.name, file.line, function (ECS)
    error.type/message/stack_trace   from exc_info (type as module.Class, builtins bare)
    service.name/.version/.environment, host.name   from the handler's parameters
    process.pid, process.name, process.thread.id, process.thread.name   (ECS)
    extra={...}          a key naming a schema/ECS namespace with an object value (actor, event,
                         payment, http, user, …) or a dotted key under one ("actor.id") is kept
                         as a field; `labels` (object) and `tags` (list) are merged; any other key
                         goes to labels (key reduced to letters, digits, _ and -, value as text)

Long messages and stack traces are cut (`max_text_chars`, keeping a stack trace's end, where the
error is) and the event tagged `truncated`, so a huge record is shortened rather than refused.
Records of the client's own logger (`platlogs_client`) are never shipped (no feedback loop).
"""
from __future__ import annotations

import json
import logging
import re
import socket
import traceback

from .client import Client
from .events import iso_ms

LEVELS = {"trace", "debug", "info", "notice", "warning", "error", "critical", "alert", "emergency"}
LEVEL_WORDS = {"warn": "warning", "fatal": "critical", "err": "error", "crit": "critical", "emerg": "emergency"}

# Top-level names an `extra` object may fill as fields: the schema's namespaces
# (app/events/schema.yaml; tests/test_client.py checks this list covers them) and ECS's.
NAMESPACES = frozenset({
    # schema.yaml
    "log", "event", "service", "host", "actor", "target", "correlation", "session", "trace", "source",
    "user_agent", "http", "url", "error", "payment", "game", "integration",
    # ECS field sets
    "agent", "client", "cloud", "container", "data_stream", "destination", "dns", "ecs", "file",
    "group", "network", "observer", "orchestrator", "organization", "process", "related", "rule",
    "server", "span", "threat", "transaction", "user", "vulnerability", "kubernetes", "k8s",
    "deployment",
})
_RECORD_ATTRS = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime", "taskName"}
_LABEL_KEY_BAD = re.compile(r"[^A-Za-z0-9_-]")
MAX_LABEL_CHARS = 1024


def label_key(key: str) -> str:
    return (_LABEL_KEY_BAD.sub("_", key) or "_")[:128]


def label_value(value) -> str:
    if isinstance(value, str):
        text = value
    elif isinstance(value, bool):
        text = "true" if value else "false"
    elif value is None:
        text = ""
    elif isinstance(value, (int, float)):
        text = repr(value)
    else:
        try:
            text = json.dumps(value, ensure_ascii=False, default=str, sort_keys=True)
        except Exception:   # a value whose str() raises: say so, never fail the record
            text = f"<unprintable {type(value).__name__}>"
    return text[:MAX_LABEL_CHARS]


def level_of(record: logging.LogRecord) -> str:
    name = str(record.levelname).lower()
    name = LEVEL_WORDS.get(name, name)
    if name in LEVELS:
        return name
    n = record.levelno
    return ("critical" if n >= 50 else "error" if n >= 40 else "warning" if n >= 30 else "info" if n >= 20
            else "debug" if n >= 10 else "trace")


def _merge(into: dict, key: str, value) -> None:
    """Set `into[key]`, merging objects (the record's own fields win over nothing else)."""
    current = into.get(key)
    if isinstance(current, dict) and isinstance(value, dict):
        for k, v in value.items():
            _merge(current, k, v)
    else:
        into[key] = value


def _set_dotted(event: dict, dotted: str, value) -> None:
    parts = dotted.split(".")
    node = event
    for part in parts[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = node[part] = {}
        node = child
    _merge(node, parts[-1], value)


class PlatformLogsHandler(logging.Handler):
    """Ship log records to Platform Logs.

    Either pass a `client` (shared with your own `client.send(...)` calls; you close it), or
    `url` and `api_key` (and any Client keyword, e.g. queue_dir=...): the handler then owns its
    client and closes it in `close()`."""

    def __init__(self, client: Client | None = None, *, url: str | None = None, api_key: str | None = None,
                 service: str | None = None, service_version: str | None = None,
                 environment: str | None = None, host: str | None = "", level: int = logging.NOTSET,
                 include_origin: bool = True, max_text_chars: int = 16_384, flush_timeout: float = 5.0,
                 **client_kwargs):
        super().__init__(level)
        if client is None:
            if not url or not api_key:
                raise ValueError("give a client, or url and api_key")
            client = Client(url, api_key, **client_kwargs)
            self._owns_client = True
        else:
            if client_kwargs:
                raise ValueError("client keywords go to Client(...) when a client is given")
            self._owns_client = False
        self.client = client
        self.include_origin = include_origin
        self.max_text_chars = max_text_chars
        self.flush_timeout = flush_timeout
        service_fields = {k: v for k, v in (("name", service), ("version", service_version),
                                             ("environment", environment)) if v}
        self._service = service_fields
        self._host = socket.gethostname() if host == "" else host

    # -- logging.Handler --------------------------------------------------------------------------

    def emit(self, record: logging.LogRecord) -> None:
        try:
            if record.name == "platlogs_client" or record.name.startswith("platlogs_client."):
                return
            self.client.send(self.to_event(record))
        except RecursionError:
            raise
        except Exception:
            self.handleError(record)

    def flush(self) -> None:
        try:
            self.client.flush(self.flush_timeout)
        except Exception:
            pass

    def close(self) -> None:
        try:
            if self._owns_client:
                self.client.close(self.flush_timeout)
        finally:
            super().close()

    # -- the mapping ----------------------------------------------------------------------------

    def _cut(self, text: str, keep_end: bool = False) -> tuple[str, bool]:
        limit = self.max_text_chars
        if len(text) <= limit:
            return text, False
        return ("…" + text[-(limit - 1):]) if keep_end else (text[: limit - 1] + "…"), True

    def to_event(self, record: logging.LogRecord) -> dict:
        tags: list[str] = []
        try:
            message = self.format(record) if self.formatter is not None else record.getMessage()
        except Exception:   # bad %-arguments: keep the record, say so
            message = f"{record.msg!s} {record.args!r}"
            tags.append("format_error")
        message, cut = self._cut(message)
        log: dict = {"level": level_of(record), "logger": record.name}
        if self.include_origin:
            origin: dict = {"file": {"name": record.filename, "line": record.lineno}}
            if record.funcName:
                origin["function"] = record.funcName
            log["origin"] = origin
        event: dict = {"@timestamp": iso_ms(record.created), "message": message, "log": log}
        labels: dict[str, str] = {}
        if log["level"] != str(record.levelname).lower():   # a custom level: its name kept (schema: log.original_level)
            log["original_level"] = str(record.levelname)[:256]
        if self._service:
            event["service"] = dict(self._service)
        if self._host:
            event["host"] = {"name": self._host}
        process: dict = {}
        if record.process is not None:
            process["pid"] = record.process
        if record.processName:
            process["name"] = record.processName
        thread = {k: v for k, v in (("id", record.thread), ("name", record.threadName)) if v is not None}
        if thread:
            process["thread"] = thread
        if process:
            event["process"] = process
        if record.exc_info and record.exc_info[0] is not None:
            cut |= self._error(event, record.exc_info)
        if record.stack_info:
            labels["stack_info"], _ = self._cut(record.stack_info, keep_end=True)
        self._extras(event, record, labels, tags)
        if cut:
            tags.append("truncated")
        if labels:
            current = event.get("labels")
            event["labels"] = {**labels, **current} if isinstance(current, dict) else labels
        if tags:
            current = event.get("tags")
            event["tags"] = (current if isinstance(current, list) else []) + tags
        return event

    def _error(self, event: dict, exc_info) -> bool:
        kind, value, tb = exc_info
        module = getattr(kind, "__module__", "")
        name = getattr(kind, "__qualname__", getattr(kind, "__name__", str(kind)))
        error: dict = {"type": name if module in ("builtins", "", None) else f"{module}.{name}"}
        message, cut = self._cut(str(value)) if value is not None else ("", False)
        if message:
            error["message"] = message
        stack = "".join(traceback.format_exception(kind, value, tb)).rstrip("\n")
        error["stack_trace"], cut_stack = self._cut(stack, keep_end=True)
        event["error"] = error
        return cut or cut_stack

    def _extras(self, event: dict, record: logging.LogRecord, labels: dict, tags: list) -> None:
        for key, value in record.__dict__.items():
            if key in _RECORD_ATTRS or key.startswith("_"):
                continue
            head = key.split(".", 1)[0]
            if key == "labels" and isinstance(value, dict):
                for k, v in value.items():
                    labels[label_key(str(k))] = label_value(v)
            elif key == "tags" and isinstance(value, (list, tuple)):
                tags.extend(str(v)[:256] for v in value)
            elif head in NAMESPACES and (isinstance(value, dict) or "." in key):
                _set_dotted(event, key, value)
            else:
                labels[label_key(key)] = label_value(value)
