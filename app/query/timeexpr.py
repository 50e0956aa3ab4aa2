"""Times in queries and time pickers: ISO-8601, epoch milliseconds, or relative to now
(`now`, `now-15m`, `now-24h`, `now-7d`, `now-2w`; units s, m, h, d, w)."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from .ast import QueryError

_RELATIVE = re.compile(r"now(?:([+-])(\d{1,9})([smhdw]))?\Z")
_UNIT_MS = {"s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MIN_MS = -62_135_596_800_000  # 0001-01-01T00:00:00Z
MAX_MS = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z


def parse_time(value: str, now_ms: int, name: str = "time") -> int:
    """Epoch milliseconds for `value`, between the years 1 and 9999; QueryError naming `name`
    when it is not such a time."""
    ms = _parse(value.strip(), now_ms, name, value)
    if not MIN_MS <= ms <= MAX_MS:
        raise QueryError(f"{name}: {_shown(value)} is out of range (years 1 to 9999)", field=name)
    return ms


def _shown(value: str) -> str:
    return repr(value if len(value) <= 60 else value[:60] + "…")


def _parse(text: str, now_ms: int, name: str, value: str) -> int:
    match = _RELATIVE.match(text)
    if match:
        sign, amount, unit = match.groups()
        if not sign:
            return now_ms
        delta = int(amount) * _UNIT_MS[unit]
        return now_ms - delta if sign == "-" else now_ms + delta
    if text.isascii() and text.isdigit() and len(text) >= 10:
        return int(text)
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00") if text.endswith("Z") else text)
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        return int((parsed - _EPOCH).total_seconds() * 1000)
    except (ValueError, OverflowError):
        raise QueryError(
            f"{name}: {_shown(value)} is not a time; use ISO-8601 (2026-11-26T10:00:00Z), "
            "epoch milliseconds or now-15m / now-24h / now-7d",
            field=name,
        ) from None


def looks_like_time(value: str) -> bool:
    try:
        parse_time(value, 0)
        return True
    except QueryError:
        return False
