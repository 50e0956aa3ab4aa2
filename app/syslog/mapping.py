"""A parsed syslog message -> an event in the project's schema (app/events/schema.yaml).

| syslog                         | event                                                    |
|--------------------------------|----------------------------------------------------------|
| severity (PRI % 8)             | `log.level`: emerg→emergency, alert→alert, crit→critical, err→error, warning→warning, notice→notice, info→info, debug→debug (the schema has all eight) |
| facility (PRI / 8)             | `labels.syslog_facility`: its name (kern, user, mail, daemon, auth, syslog, …, local0–local7) — ECS's `log.syslog.facility.name` |
| HOSTNAME                       | `host.name`                                              |
| APP-NAME / 3164 TAG            | `service.name`                                           |
| PROCID / 3164 `[pid]`          | `labels.syslog_procid`, and `process.pid` when it is a number |
| MSGID / Cisco mnemonic         | `labels.syslog_msgid`                                    |
| STRUCTURED-DATA                | `labels.sd_<SD-ID>_<PARAM>` (at most 32, values cut at 1,024 characters; key characters other than letters, digits, `_`, `-` become `_`) |
| MSG                            | `message` (the UTF-8 BOM removed)                        |
| TIMESTAMP                      | `@timestamp` (the receive time when there is none)       |
| the sender's address           | `labels.syslog_peer`                                     |
| which RFC the line followed    | `labels.syslog_format`: rfc5424, rfc3164 or raw (nothing parsable: the whole line is `message`) |
| a frame cut at the size limit  | `labels.syslog_truncated`: "true"                        |
Every event is tagged `syslog`. Control characters other than tab, newline and carriage return
(which the schema refuses) are written as rsyslog writes them: `#` and three octal digits.
"""  # noqa: E501 (the mapping table)

from __future__ import annotations

import re

import orjson

from ..events.convert import format_ts
from .parse import FACILITIES, Message

LEVELS = ("emergency", "alert", "critical", "error", "warning", "notice", "info", "debug")
MAX_SD_LABELS = 32
MAX_SD_VALUE = 1024
MAX_LABEL_KEY = 128
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_KEY_BAD = re.compile(r"[^A-Za-z0-9_-]")
TAGS = ("syslog",)


def _escape(text: str) -> str:
    if _CONTROL.search(text) is None:
        return text
    return _CONTROL.sub(lambda m: f"#{ord(m.group()):03o}", text)


def _as_is(text: str) -> str:
    return text


_seconds: dict[int, str] = {}


def _iso(ms: int) -> str:
    """format_ts(ms), with the second's text kept (a sender's messages share their seconds)."""
    head = _seconds.get(ms // 1000)
    if head is None:
        if len(_seconds) > 10_000:
            _seconds.clear()
        head = _seconds[ms // 1000] = format_ts(ms - ms % 1000)[:-4]
    return f"{head}{ms % 1000:03d}Z"


def to_event(msg: Message, received_ms: int, peer: str | None = None, truncated: bool = False) -> dict:
    """The event for one message, as a dict the ingest pipeline takes."""
    _clean = _escape if msg.control else _as_is
    labels: dict[str, str] = {"syslog_format": msg.format}
    event: dict = {
        "@timestamp": _iso(msg.ts_ms if msg.ts_ms is not None else received_ms),
        "tags": list(TAGS),
        "labels": labels,
    }
    if msg.message:
        event["message"] = _clean(msg.message)
    if msg.severity is not None:
        event["log"] = {"level": LEVELS[msg.severity]}
    if msg.facility is not None:
        labels["syslog_facility"] = FACILITIES[msg.facility]
    if msg.hostname:
        event["host"] = {"name": _clean(msg.hostname[:255])}
    if msg.app:
        event["service"] = {"name": _clean(msg.app[:128])}
    if msg.procid:
        labels["syslog_procid"] = _clean(msg.procid[:128])
        if msg.procid.isdigit() and len(msg.procid) <= 10 and msg.procid.isascii():
            event["process"] = {"pid": int(msg.procid)}
    if msg.msgid:
        labels["syslog_msgid"] = _clean(msg.msgid[:128])
    if peer:
        labels["syslog_peer"] = peer
    if truncated:
        labels["syslog_truncated"] = "true"
    if msg.sd:
        _sd_labels(msg.sd, labels, _clean)
    return event


def _sd_labels(sd: dict[str, dict[str, str]], labels: dict[str, str], _clean) -> None:
    kept = dropped = 0
    for sd_id, params in sd.items():
        if not params:  # an element without parameters ([timeQuality]) still says something
            params = {"present": "true"}
        for name, value in params.items():
            if kept >= MAX_SD_LABELS:
                dropped += 1
                continue
            key = _KEY_BAD.sub("_", f"sd_{sd_id}_{name}")[:MAX_LABEL_KEY]
            labels[key] = _clean(value[:MAX_SD_VALUE])
            kept += 1
    if dropped:
        labels["syslog_sd_dropped"] = str(dropped)


def to_json(msg: Message, received_ms: int, peer: str | None = None, truncated: bool = False) -> bytes:
    """The event as one JSON line: the form the pipeline checks fastest (app/events/normalize.py)."""
    return orjson.dumps(to_event(msg, received_ms, peer, truncated))
