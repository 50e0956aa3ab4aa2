"""Times in queries and time pickers: ISO-8601, epoch milliseconds, or relative to now
(`now`, `now-15m`, `now-24h`, `now-7d`, `now-2w`; units s, m, h, d, w)."""
from __future__ import annotations

import re
from datetime import datetime, timezone

from .ast import QueryError

_RELATIVE = re.compile(r"now(?:([+-])(\d{1,9})([smhdw]))?\Z")
_UNIT_MS = {"s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def parse_time(value: str, now_ms: int, name: str = "time") -> int:
    """Epoch milliseconds for `value`; QueryError naming `name` when it is not a time."""
    text = value.strip()
    match = _RELATIVE.match(text)
    if match:
        sign, amount, unit = match.groups()
        if not sign:
            return now_ms
        delta = int(amount) * _UNIT_MS[unit]
        return now_ms - delta if sign == "-" else now_ms + delta
    if text.isdigit() and len(text) >= 10:
        return int(text)
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00") if text.endswith("Z") else text)
    except ValueError:
        raise QueryError(f"{name}: {value!r} is not a time; use ISO-8601 (2026-11-26T10:00:00Z), "
                         "epoch milliseconds or now-15m / now-24h / now-7d", field=name) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return int((parsed - _EPOCH).total_seconds() * 1000)


def looks_like_time(value: str) -> bool:
    try:
        parse_time(value, 0)
        return True
    except QueryError:
        return False
