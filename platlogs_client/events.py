"""An event dict -> one NDJSON line, with the id and time that make re-sending it idempotent.

The server takes a client `event.id` of 1-128 letters, digits and `._:@/+=-`, starting with a
letter or digit (app/events/normalize.py `_EVENT_ID`), and treats a second event with the same id
and the same `@timestamp` as a duplicate. So the client gives every event both before it is
queued, and the line is stored and re-sent byte for byte.
"""
from __future__ import annotations

import datetime as _dt
import json
import os
import time

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_PAIRS = [a + b for a in _ALPHABET for b in _ALPHABET]   # 10 bits -> 2 characters
# keys the server reads as the event's time (item 4 of issue 15): when one is present, the
# client does not add `@timestamp` (the line is re-sent unchanged, so its time is stable anyway)
TIME_KEYS = ("@timestamp", "timestamp", "time", "date", "ts")


def new_id(now_ms: int | None = None) -> str:
    """A ULID: 48-bit millisecond time + 80 random bits from os.urandom (fresh in a forked
    child too), Crockford base32, 26 characters — sorts by time like the server's own ids."""
    ms = time.time_ns() // 1_000_000 if now_ms is None else now_ms
    value, p = (ms << 80) | int.from_bytes(os.urandom(10), "big"), _PAIRS
    return "".join([p[(value >> shift) & 1023] for shift in range(120, -1, -10)])


def iso_ms(seconds: float) -> str:
    """Epoch seconds -> `YYYY-MM-DDTHH:MM:SS.mmmZ` (the server keeps milliseconds)."""
    ms = int(seconds * 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000)) + ".%03dZ" % (ms % 1000)


def _default(value):
    if isinstance(value, (_dt.datetime, _dt.date, _dt.time)):
        return value.isoformat()
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def prepare(event: dict, now: float | None = None) -> dict:
    """A shallow copy of `event` with `event.id` and `@timestamp` added when absent (the caller's
    dict is not changed). An event whose `event` key is not an object keeps it as it is, and gets
    no client id."""
    out = dict(event)
    if not any(key in out for key in TIME_KEYS):
        out["@timestamp"] = iso_ms(time.time() if now is None else now)
    if "event.id" not in out:
        inner = out.get("event")
        if inner is None:
            out["event"] = {"id": new_id()}
        elif isinstance(inner, dict) and "id" not in inner:
            out["event"] = {**inner, "id": new_id()}
    return out


def encode(event: dict) -> bytes:
    """One NDJSON line (ends in a newline). Raises ValueError for NaN or infinite numbers and for
    objects nested too deep — the server would refuse them."""
    try:
        text = json.dumps(event, ensure_ascii=False, separators=(",", ":"), allow_nan=False, default=_default)
    except RecursionError:
        raise ValueError("nested too deep") from None
    return text.encode("utf-8", "backslashreplace") + b"\n"


def event_id(line: bytes) -> str | None:
    """The id inside an encoded line (for reports)."""
    try:
        event = json.loads(line)
    except ValueError:
        return None
    inner = event.get("event") if isinstance(event, dict) else None
    if isinstance(inner, dict) and isinstance(inner.get("id"), str):
        return inner["id"]
    return event.get("event.id") if isinstance(event, dict) else None
