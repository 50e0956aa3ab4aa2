"""The small helpers every alert module shares: times (epoch ms <-> aware UTC datetimes), who
acted, comments, group keys — and, re-exported, the alert tables and their states, which live in
the meta package (app/meta/alert_tables.py: meta owns every table of the meta database).

The lifecycle (lifecycle.py) writes these tables through its state machine; people's actions
(actions.py) and the read side (queries.py) use them too. Nothing here opens a session."""

from __future__ import annotations

import math
import time
from datetime import datetime

from ..meta.alert_tables import (  # noqa: F401
    FIRING,
    OPEN,
    PENDING,
    RESOLVED,
    AlertDelivery,
    AlertHistory,
    AlertInstance,
    AlertMute,
    Destination,
    MaintenanceWindow,
    RuleRun,
    RuleState,
    UIRule,
    iso,
    to_dt,
)

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
