"""Plain text log lines as events: one line an event, for `POST /api/v1/events/bulk` with
`Content-Type: text/plain` and `platlogs ingest` of a plain log file.

The line is the message, as written (the time stays in it too). A time leading the line (ISO,
RFC 3164 syslog/sshd, Apache error and access logs, HDFS, Android logcat, nginx, epoch seconds;
app/events/times.py) becomes @timestamp; without one the server's receive time is used (tagged
`timestamp_assigned`, as for any event without a time). Invalid UTF-8 is replaced (U+FFFD) and
control characters other than tab are written as `\\xNN`, so no line is refused for its bytes;
the lines go through the same normaliser as every event (redaction, limits, classification).
"""

from __future__ import annotations

import itertools
import re
import time
from collections.abc import Iterable, Iterator

from ..events.convert import format_ts
from ..events.normalize import EventError
from ..events.times import leading

_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_MIN_MS, _MAX_AHEAD_MS = 631152000000, 86_400_000


def text_event(line: str, now_ms: int, path: str | None = None) -> dict:
    """The event of one text line."""
    line = line.rstrip("\r\n")
    if _CONTROL.search(line):
        line = _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", line)
    event: dict = {"message": line}
    ms = leading(line, now_ms)
    if ms is not None and _MIN_MS <= ms <= now_ms + _MAX_AHEAD_MS:
        event["@timestamp"] = format_ts(ms)
    if path:
        event["log"] = {"file": {"path": path}}
    return event


def text_items(
    lines: Iterable[tuple[int, bytes | EventError]], path: str | None = None
) -> Iterator[tuple[int, dict | EventError]]:
    """(number, event) for each (number, line bytes) of ndjson.iter_lines; its errors (an
    over-long line, a broken gzip body) are passed on."""
    now_ms = time.time_ns() // 1_000_000
    for count, (number, line) in enumerate(lines):
        if isinstance(line, EventError):
            yield number, line
            continue
        if count % 1000 == 0:
            now_ms = time.time_ns() // 1_000_000
        yield number, text_event(line.decode("utf-8", "replace"), now_ms, path)


def looks_like_text(first_line: bytes) -> bool:
    """Whether a file whose first non-blank line is this holds plain text rather than NDJSON."""
    return not first_line.lstrip().startswith(b"{")


def as_text_if(
    lines: Iterator[tuple[int, bytes | EventError]], fmt: str, path: str | None = None
) -> Iterator[tuple[int, bytes | dict | EventError]]:
    """The lines of `platlogs ingest`: as they are (NDJSON), or as text events — `fmt` "text",
    or "auto" when the first line does not start with `{`."""
    if fmt == "ndjson":
        return lines
    first = next(lines, None)
    if first is None:
        return iter(())
    rest = itertools.chain([first], lines)
    if fmt == "text" or (type(first[1]) is bytes and looks_like_text(first[1])):
        return text_items(rest, path)
    return rest
