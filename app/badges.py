"""Counts shown in the navigation on every page: how many alerts are firing now.

Every page render asks, so the answer is cached per meta database for a few seconds (TTL_S), per
process; a meta database that cannot answer gives None (no badge), never a failed page."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from sqlalchemy import func, select

from .meta.alert_tables import FIRING, AlertInstance

TTL_S = 10.0
_cache: dict[str, tuple[float, int | None]] = {}
_lock = threading.Lock()
log = logging.getLogger(__name__)


def firing_count(meta, clock: Callable[[], float] = time.monotonic) -> int | None:
    """The number of alert instances in the `firing` state (acknowledged or muted ones included:
    they still fire), at most TTL_S seconds old."""
    key = str(meta.engine.url)
    now = clock()
    with _lock:
        cached = _cache.get(key)
        if cached is not None and cached[0] > now:
            return cached[1]
    try:
        with meta.Session() as s:
            count = s.scalar(select(func.count()).select_from(AlertInstance).where(AlertInstance.state == FIRING))
    except Exception:
        log.exception("counting the firing alerts failed")
        count = None
    with _lock:
        _cache[key] = (now + TTL_S, count)
    return count


def clear_cache() -> None:
    with _lock:
        _cache.clear()
