"""One syslog message (the bytes of one frame or datagram) -> its parts. Pure: no I/O, no clock
but the receive time it is given.

RFC 5424: `<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID STRUCTURED-DATA [MSG]`, `-` for a
nil value; RFC 3339 times with fractions and zones; structured data `[id p="v" ...]...` with
`\\"`, `\\\\` and `\\]` escaped in values (a backslash before anything else is kept as it is);
an optional UTF-8 BOM before MSG.

RFC 3164 and what real senders make of it (tried in this order after `<PRI>`):
  - `Mmm dd hh:mm:ss HOST TAG[PID]: MSG`, day padded with a space or a zero;
  - the same with a year (`Mmm dd yyyy hh:mm:ss`), fractions (`.123`) or a zone word after the
    time, a leading `*` or `.` (Cisco's "not synchronised" marks) and a `:` after it;
  - Cisco IOS: a sequence number before the time (`<189>52: *Mar  1 00:01:02.345 UTC: %LINK-3-UPDOWN: ...`),
    with or without a host before it (`<189>52: router1: *Mar 1 ...`);
  - an RFC 3339 time in the 3164 slot (rsyslog's RSYSLOG_ForwardFormat);
  - no HOST (a program writing to /dev/log: `<13>Mar  1 10:00:00 cron[42]: ...`): a first word
    ending in `:` or holding `[` is the tag;
  - no time at all (`<13>myapp: hello`): the receive time;
  - no PRI: user.notice (13), as RFC 3164 section 4.3.3 has a relay assume.
A 3164 time has no year: the year that puts it closest to the receive time without being more
than a day ahead of it. It has no zone: `tz` (the listener's PLATLOGS_SYSLOG_TIMEZONE, UTC by
default) unless the line names UTC/GMT/Z.

Nothing is ever refused: a line whose header cannot be read is kept whole as the message,
with the receive time (`format` "raw").
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from typing import Literal, overload

DAY_MS = 86_400_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

FACILITIES = (
    "kern",
    "user",
    "mail",
    "daemon",
    "auth",
    "syslog",
    "lpr",
    "news",
    "uucp",
    "cron",
    "authpriv",
    "ftp",
    "ntp",
    "security",
    "console",
    "solaris-cron",
    "local0",
    "local1",
    "local2",
    "local3",
    "local4",
    "local5",
    "local6",
    "local7",
)
SEVERITIES = ("emerg", "alert", "crit", "err", "warning", "notice", "info", "debug")
DEFAULT_PRI = 13  # user.notice


@dataclass
class Message:
    format: str  # rfc5424 | rfc3164 | raw
    facility: int | None = None  # 0..23, None without PRI (raw)
    severity: int | None = None  # 0..7
    ts_ms: int | None = None  # None: the receive time is used
    hostname: str | None = None
    app: str | None = None
    procid: str | None = None
    msgid: str | None = None
    sd: dict[str, dict[str, str]] = field(default_factory=dict)
    message: str = ""
    pri_assumed: bool = False  # no PRI in the line: user.notice assumed
    control: bool = False  # the line holds control characters (other than tab, CR, LF)


# -- entry point ------------------------------------------------------------------------------


def parse(data: bytes, received_ms: int, tz: tzinfo = UTC) -> Message:
    """The parts of one syslog message. Never raises for any input."""
    text = data.decode("utf-8", "replace")
    text = text.rstrip("\r\n\x00")
    msg = _parse(text, received_ms, tz)
    msg.control = _CONTROL.search(text) is not None
    return msg


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")  # what the schema refuses in a value


def _parse(text: str, received_ms: int, tz: tzinfo) -> Message:
    try:
        if text.startswith("<"):
            m = _PRI.match(text)
            if m and int(m.group(1)) <= 191:
                pri = int(m.group(1))
                rest = text[m.end() :]
                if m.group(2):  # a version: RFC 5424
                    parsed = _parse_5424(rest)
                    if parsed is not None:
                        parsed.facility, parsed.severity = divmod(pri, 8)
                        return parsed
                    rest = text[m.start(2) :]  # "<13>1 something else": read it as 3164
                parsed = _parse_3164(rest, received_ms, tz)
                parsed.facility, parsed.severity = divmod(pri, 8)
                return parsed
        # no PRI: a 3164 header may still be there ("Mar  1 10:00:00 host tag: msg")
        parsed = _parse_3164(text, received_ms, tz, require_time=True)
        if parsed is not None:
            parsed.facility, parsed.severity = divmod(DEFAULT_PRI, 8)
            parsed.pri_assumed = True
            return parsed
    except (ValueError, OverflowError, IndexError):  # a defect here must not lose the line
        pass
    return Message(format="raw", message=text)


_PRI = re.compile(r"<(\d{1,3})>(?:([1-9]\d{0,2}) )?")


# -- RFC 5424 ---------------------------------------------------------------------------------

_HEADER_5424 = re.compile(r"(\S+) (\S{1,255}) (\S{1,48}) (\S{1,128}) (\S{1,32}) ")
_RFC3339 = re.compile(r"(\d{4})-(\d\d)-(\d\d)[Tt ](\d\d):(\d\d):(\d\d)(?:[.,](\d{1,9}))?(Z|z|[+-]\d\d:?\d\d)?\Z")
_SD_ELEMENT = re.compile(r'\[([^\s\]="]{1,32})((?: [^\s\]="]{1,32}="(?:[^"\\]|\\.)*")*) ?\]', re.S)
_SD_PARAM = re.compile(r'([^\s\]="]{1,32})="((?:[^"\\]|\\.)*)"', re.S)
_SD_ESCAPE = re.compile(r'\\(["\\\]])')


def _parse_5424(rest: str) -> Message | None:
    m = _HEADER_5424.match(rest) or _HEADER_5424.match(rest + " ")  # no SD at all: tolerated
    if not m:
        return None
    stamp, host, app, procid, msgid = m.groups()
    ts_ms = None
    if stamp != "-":
        ts_ms = rfc3339_ms(stamp)
        if ts_ms is None:
            return None
    tail = rest[m.end() :]
    sd: dict[str, dict[str, str]] = {}
    if tail.startswith("-"):
        message = tail[2:] if tail[1:2] == " " else tail[1:].lstrip()
    elif tail.startswith("["):
        pos = 0
        while pos < len(tail) and tail[pos] == "[":
            e = _SD_ELEMENT.match(tail, pos)
            if not e:
                break
            params = sd.setdefault(e.group(1), {})
            for p in _SD_PARAM.finditer(e.group(2)):
                value = p.group(2)
                params[p.group(1)] = _SD_ESCAPE.sub(r"\1", value) if "\\" in value else value
            pos = e.end()
        if pos == 0:  # not structured data after all: keep it all as the message  # noqa: SIM108
            message = tail
        else:
            message = tail[pos + 1 :] if tail[pos : pos + 1] == " " else tail[pos:]
    else:
        message = tail  # no SD field (a common sender mistake): all of it is the message
    if message.startswith("\ufeff"):
        message = message[1:]
    return Message(
        format="rfc5424",
        ts_ms=ts_ms,
        hostname=_nil(host),
        app=_nil(app),
        procid=_nil(procid),
        msgid=_nil(msgid),
        sd=sd,
        message=message,
    )


def _nil(value: str) -> str | None:
    return None if value == "-" else value


_second_cache: dict[str, int | None] = {}


def rfc3339_ms(stamp: str) -> int | None:
    """Epoch ms of an RFC 3339 time (a missing zone read as UTC), or None."""
    m = _RFC3339.match(stamp)
    if not m:
        return None
    y, mo, d, h, mi, s, frac, zone = m.groups()
    key = stamp[:19]
    second = _second_cache.get(key, -1)
    if second == -1:  # senders repeat a second many times: its epoch is worked out once
        try:
            when = datetime(int(y), int(mo), int(d), int(h), int(mi), min(int(s), 59), tzinfo=UTC)
            second = (when - _EPOCH) // timedelta(milliseconds=1)
        except (ValueError, OverflowError):
            second = None
        if len(_second_cache) > 10_000:
            _second_cache.clear()
        _second_cache[key] = second
    if second is None:
        return None
    ms = second + (int((frac + "00")[:3]) if frac else 0)
    if zone and zone not in "Zz":
        sign = -1 if zone[0] == "-" else 1
        digits = zone[1:].replace(":", "")
        ms -= sign * (int(digits[:2]) * 60 + int(digits[2:])) * 60_000
    return ms


# -- RFC 3164 ---------------------------------------------------------------------------------

MONTHS = {
    m: i for i, m in enumerate(("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), 1)
}
# Mmm dd [yyyy] hh:mm:ss[.frac] [ZONE] -- after an optional '*' or '.' mark; then ':'? and a space
_BSD_TIME = re.compile(
    r"[*.]?([A-Za-z]{3}) {1,2}(\d{1,2})(?: (\d{4}))? (\d\d):(\d\d):(\d\d)(?:\.(\d{1,6}))?"
    r"(?: ([A-Z]{3,5}|[+-]\d\d:?\d\d))?:? ?"
)
_ISO_TIME = re.compile(r"(\d{4}-\d\d-\d\d[Tt ]\d\d:\d\d:\d\d(?:[.,]\d{1,9})?(?:Z|z|[+-]\d\d:?\d\d)?):? ?")
_CISCO_SEQ = re.compile(r"\d{1,10}: ")
_WORD = re.compile(r"(\S{1,255}) ")
_TAG = re.compile(r"([^\s:\[\]]{1,64})(?:\[([^\]\s]{0,128})\])?: ?")
_UTC_WORDS = frozenset(("UTC", "GMT", "Z", "UT"))
_HOST_CHARS = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]*\Z")


@overload
def _parse_3164(text: str, received_ms: int, tz: tzinfo, require_time: Literal[False] = False) -> Message: ...
@overload
def _parse_3164(text: str, received_ms: int, tz: tzinfo, require_time: bool) -> Message | None: ...


def _parse_3164(text: str, received_ms: int, tz: tzinfo, require_time: bool = False) -> Message | None:
    """The message read as RFC 3164; None only with `require_time` and no time found."""
    pos = 0
    hostname = None
    seq = _CISCO_SEQ.match(text)
    if seq:  # Cisco: "52: " [host ": "] time
        pos = seq.end()
        w = _WORD.match(text, pos)
        if w and w.group(1).endswith(":") and not _time_at(text, pos):
            hostname = w.group(1)[:-1] or None
            pos = w.end()
    ts_ms, end = _time_at(text, pos, received_ms, tz)
    if ts_ms is None:
        if require_time:
            return None
    else:
        pos = end
    if hostname is None and ts_ms is not None:
        w = _WORD.match(text, pos)
        # a first word that ends in ':' or holds '[' is the tag (no HOST: a local program)
        if w and _HOST_CHARS.match(w.group(1)) and not w.group(1).endswith(":"):
            hostname = w.group(1)
            pos = w.end()
            inner = _CISCO_SEQ.match(text, pos)  # "host 52: *Mar  1 00:01:02.345: %SYS-5-...": the
            if inner:  # device's own counter and time after a relay's header
                pos = inner.end()
                pos = _time_at(text, pos, received_ms, tz)[1]
    app = procid = msgid = None
    t = _TAG.match(text, pos)
    if t:
        if text.startswith("%", pos):  # Cisco's %FACILITY-SEVERITY-MNEMONIC: kept in the message
            msgid = t.group(1)[1:] or None
        else:
            app, procid = t.group(1), t.group(2) or None
            pos = t.end()
    return Message(format="rfc3164", ts_ms=ts_ms, hostname=hostname, app=app, procid=procid, msgid=msgid, message=text[pos:])


def _time_at(text: str, pos: int, received_ms: int | None = None, tz: tzinfo = UTC):
    """(epoch ms, end) of a 3164-slot time at `pos`, or (None, pos). With received_ms None, only
    whether one is there (truthy)."""
    m = _BSD_TIME.match(text, pos)
    if m:
        month = MONTHS.get(m.group(1).lower())
        if month is None:
            return (None, pos) if received_ms is not None else False
        if received_ms is None:
            return True
        day, year, h, mi, s = int(m.group(2)), m.group(3), int(m.group(4)), int(m.group(5)), int(m.group(6))
        zone = m.group(8)
        frac = m.group(7)
        zone_tz = tz
        if zone:
            if zone in _UTC_WORDS:
                zone_tz = UTC
            elif zone[0] in "+-":
                digits = zone[1:].replace(":", "")
                offset = timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
                zone_tz = timezone(offset if zone[0] == "+" else -offset)
        ms = bsd_ms(month, day, h, mi, min(s, 59), int(year) if year else None, received_ms, zone_tz)
        if ms is None:
            return None, pos
        if frac:
            ms += int((frac + "00")[:3])
        return ms, m.end()
    m = _ISO_TIME.match(text, pos)
    if m:
        if received_ms is None:
            return True
        ms = rfc3339_ms(m.group(1))
        return (ms, m.end()) if ms is not None else (None, pos)
    return (None, pos) if received_ms is not None else False


_bsd_cache: dict[tuple, int | None] = {}


def bsd_ms(month: int, day: int, h: int, mi: int, s: int, year: int | None, received_ms: int, tz: tzinfo) -> int | None:
    """Epoch ms of a 3164 time in `tz`. Without a year: of the years around the receive time, the
    latest that is not more than a day ahead of it."""
    key = (month, day, h, mi, s, year, received_ms // 3_600_000, tz)
    cached = _bsd_cache.get(key, 0)
    if cached != 0:
        return cached
    years: Sequence[int]
    if year is not None:
        years = [year]
    else:
        now_year = datetime.fromtimestamp(received_ms / 1000, tz).year
        years = range(now_year + 1, now_year - 9, -1)  # back to 8 years: the last Feb 29
    result = None
    for y in years:
        try:
            when = datetime(y, month, day, h, mi, s, tzinfo=tz)
        except ValueError:  # Feb 29 in another year, day 31 of a short month
            continue
        ms = (when - _EPOCH) // timedelta(milliseconds=1)
        if year is not None or ms <= received_ms + DAY_MS:
            result = ms
            break
    if len(_bsd_cache) > 10_000:
        _bsd_cache.clear()
    _bsd_cache[key] = result
    return result
