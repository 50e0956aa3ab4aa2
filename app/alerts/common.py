"""The small helpers every alert module shares: the time now and epoch ms of a datetime, who acted,
comments, group keys, the scheduler's name as an actor. Nothing here opens a session.

The alert tables, their states and `iso`/`to_dt` live in the meta package
(app/meta/alert_tables.py: meta owns every table of the meta database); alert modules import them
from there."""

from __future__ import annotations

import math
import time
from datetime import datetime

SCHEDULER = "scheduler"  # the actor of automatic changes
DELIVERY_KINDS = ("firing", "renotify", "resolved")


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def to_ms(value: datetime | None) -> int | None:
    return None if value is None else round(value.timestamp() * 1000)


def _number(value) -> float | None:
    if value is None:
        return None
    value = float(value)
    return None if math.isnan(value) else value


def _who(actor: str) -> str:
    if not isinstance(actor, str) or not actor.strip() or len(actor) > 64 or "\x00" in actor:
        raise ValueError("who: a username of 1-64 characters")
    return actor.strip()


def _comment(value: str | None, limit: int = 1024) -> str:
    value = (value or "").replace("\x00", "")
    if len(value) > limit:
        raise ValueError(f"comment: at most {limit} characters")
    return value


def group_key(group: str | None) -> str:
    return "" if group is None else str(group)[:512]
