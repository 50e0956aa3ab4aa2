"""Times as shippers and log files write them, beyond ISO 8601 (which datetime.fromisoformat reads):

- epoch numbers or digit strings of 9 or more digits, in seconds, milliseconds, microseconds or
  nanoseconds, told apart by magnitude (below 1e11 seconds, below 1e14 milliseconds, below 1e17
  microseconds, else nanoseconds: each unit covers 1973-5138, so no time since 1990 is ambiguous);
- RFC 3164 (syslog files, sshd): `Dec  3 10:11:27`, with an optional fraction and year; without a
  year, the latest year that does not put the time more than a day in the future;
- Apache `03/Dec/2026:10:11:27 +0000` (brackets optional), Apache error log and ctime
  `Sun Dec 04 04:47:44 2005`, RFC 2822 `Thu, 03 Dec 2026 10:11:27 GMT`, nginx `2026/12/03 10:11:27`;
- at the start of a text line also HDFS `081109 203518` and Android `03-17 16:13:38.811`.
A time without an offset is UTC.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from email.utils import parsedate_to_datetime

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MS = timedelta(milliseconds=1)
_DAY_MS = 86_400_000
_MONTHS = {
    m: i + 1 for i, m in enumerate(("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"))
}
_MON = r"(?P<mon>[A-Za-z]{3})"
_HMS = r"(?P<h>\d\d):(?P<mi>\d\d):(?P<s>\d\d)(?:[.,](?P<frac>\d{1,9}))?"
_ZONE = r"(?:\s*(?P<zone>Z|UTC|GMT|[+-]\d\d:?\d\d))?"
EPOCH_DIGITS = re.compile(r"(?P<int>\d{9,19})(?:\.(?P<frac>\d{1,9}))?\Z")

# each: a regex whose named groups give the parts (year optional), anchored at the start
_FORMATS = [
    # ISO-like, space or T, fraction with . or ,
    re.compile(r"(?P<y>\d{4})-(?P<mo>\d\d)-(?P<d>\d\d)[T ]" + _HMS + _ZONE),
    # Apache access: 03/Dec/2026:10:11:27 +0000
    re.compile(r"\[?(?P<d>\d\d)/" + _MON + r"/(?P<y>\d{4}):" + _HMS + _ZONE + r"\]?"),
    # ctime / Apache error: [Sun Dec 04 04:47:44.123456 2005]
    re.compile(r"\[?(?:[A-Za-z]{3},?\s+)" + _MON + r"\s+(?P<d>\d{1,2})\s+" + _HMS + r"\s+(?P<y>\d{4})\]?"),
    # RFC 2822: Thu, 03 Dec 2026 10:11:27 GMT
    re.compile(r"(?:[A-Za-z]{3},\s+)?(?P<d>\d{1,2})\s+" + _MON + r"\s+(?P<y>\d{4})\s+" + _HMS + _ZONE),
    # RFC 3164: Dec  3 10:11:27 (optionally a year after the day or after the time)
    re.compile(_MON + r"\s+(?P<d>\d{1,2})(?:\s+(?P<y>\d{4}))?\s+" + _HMS + r"(?:\s+(?P<y2>\d{4})(?=\s|\Z))?" + _ZONE),
    # nginx error log: 2026/12/03 10:11:27
    re.compile(r"(?P<y>\d{4})/(?P<mo>\d\d)/(?P<d>\d\d)[ T]" + _HMS + _ZONE),
]
_LINE_ONLY = [
    # HDFS: 081109 203518
    re.compile(r"(?P<yy>\d\d)(?P<mo>\d\d)(?P<d>\d\d) (?P<h>\d\d)(?P<mi>\d\d)(?P<s>\d\d)(?=\s)"),
    # Android logcat: 03-17 16:13:38.811
    re.compile(r"(?P<mo>\d\d)-(?P<d>\d\d) " + _HMS),
    # epoch seconds with a fraction (squid): 1764756687.123
    re.compile(r"(?P<epoch>\d{10}\.\d{1,9})(?=\s)"),
]
# an Apache access time anywhere near the start of a line (after the client address and user)
_APACHE_NEAR = re.compile(r"\[(?P<d>\d\d)/" + _MON + r"/(?P<y>\d{4}):" + _HMS + _ZONE + r"\]")
_NEAR = 120


def epoch_ms(number: int | float) -> int:
    """Epoch milliseconds of a number in seconds, ms, µs or ns (by magnitude, see above)."""
    size = abs(number)
    if size < 1e11:
        return int(number * 1000)
    if size < 1e14:
        return int(number)
    if size < 1e17:
        return int(number // 1000)
    return int(number // 1_000_000)


def epoch_digits_ms(text: str) -> int | None:
    """Epoch ms of a digit string of 9-19 digits (and an optional fraction), else None."""
    match = EPOCH_DIGITS.match(text)
    if match is None:
        return None
    whole = int(match.group("int"))
    frac = match.group("frac")
    ms = epoch_ms(whole)
    if frac and whole < 1e11:  # a fraction of a second
        ms += int(frac[:3].ljust(3, "0"))
    return ms


def parse_text(text: str, now_ms: int) -> int | None:
    """Epoch ms of a whole string in one of the formats above, else None."""
    text = text.strip()
    for pattern in _FORMATS:
        match = pattern.match(text)
        if match is not None and match.end() == len(text):
            return _ms(match, now_ms)
    try:
        parsed = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if parsed is None:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return (parsed - _EPOCH) // _ONE_MS


def leading(line: str, now_ms: int) -> int | None:
    """Epoch ms of a time at the start of a text line (or an Apache access time near it), else None."""
    head = line[:_NEAR]
    for pattern in (*_FORMATS, *_LINE_ONLY):
        match = pattern.match(head)
        if match is not None:
            ms = _ms(match, now_ms)
            if ms is not None:
                return ms
    match = _APACHE_NEAR.search(head)
    return _ms(match, now_ms) if match is not None else None


def _ms(match: re.Match, now_ms: int) -> int | None:
    parts = match.groupdict()
    if parts.get("epoch"):
        return epoch_digits_ms(parts["epoch"])
    try:
        month = int(parts["mo"]) if parts.get("mo") else _MONTHS[parts["mon"].lower()]
        day, hour, minute, second = int(parts["d"]), int(parts["h"]), int(parts["mi"]), int(parts["s"])
        frac = parts.get("frac") or ""
        micro = int(frac[:6].ljust(6, "0")) if frac else 0
        zone = _offset(parts.get("zone"))
        year = parts.get("y") or parts.get("y2")
        if parts.get("yy"):
            year = 2000 + int(parts["yy"])
        if year:
            when = datetime(int(year), month, day, hour, minute, second, micro, tzinfo=zone)
            return (when - _EPOCH) // _ONE_MS
        # no year: the latest that is not more than a day ahead of now
        now_year = datetime.fromtimestamp(now_ms / 1000, tz=UTC).year
        for candidate in (now_year + 1, now_year, now_year - 1):
            try:
                when = datetime(candidate, month, day, hour, minute, second, micro, tzinfo=zone)
            except ValueError:  # 29 February of another year
                continue
            ms = (when - _EPOCH) // _ONE_MS
            if ms <= now_ms + _DAY_MS:
                return ms
    except (KeyError, ValueError, OverflowError):
        return None
    return None


def _offset(zone: str | None) -> timezone:
    if not zone or zone in ("Z", "UTC", "GMT"):
        return UTC
    sign = -1 if zone[0] == "-" else 1
    digits = zone[1:].replace(":", "")
    return timezone(sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:])))
