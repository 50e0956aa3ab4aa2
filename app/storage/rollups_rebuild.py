"""Recompute the rollups of a time range from the stored events (`platlogs rollups rebuild`).

The range is cut into windows of WINDOW_MS; each window's events are read in time order
(store.search, paged by cursor), reduced with the same `reduce` as ingest, and replace that
window's sums in one step of the backend (`rollups.replace`). Memory stays bounded by one
window's sums, whatever the range.

Where raw events are gone (retention dropped them), the rollups are kept on purpose — they hold
no personal data and let managers look back further than the events are kept — so a rebuild
never reaches there: the range is clipped to the span of the stored partitions, starting at
the latest of the oldest partition of each retention group (on OpenSearch, each component has
its own retention, so a minute is rebuilt only when every component still has its events).

Events written into the range while it is being rebuilt may be counted twice or not at all:
rebuild a range that is not taking writes (the past), or run it again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ..query.ast import MatchAll
from ..rollups.model import MINUTE_MS, RollupStore, Sums, reduce
from .base import LogStore, SearchRequest

WINDOW_MS = 6 * 60 * MINUTE_MS
PAGE = 2000


@dataclass
class Rebuilt:
    start_ms: int | None = None
    end_ms: int | None = None
    events: int = 0
    windows: int = 0


def raw_span(store: LogStore, rollups: RollupStore) -> tuple[int, int] | None:
    """[start, end) of the time every retention group still holds events for, None when empty.
    A group is the rollups' `partition_group` of a partition's name (OpenSearch: its component)."""
    group = getattr(rollups, "partition_group", lambda name: "")
    oldest: dict[str, int] = {}
    ends = []
    for part in store.partitions():
        if part.events <= 0:
            continue
        key = group(part.name)
        oldest[key] = min(oldest.get(key, part.start_ms), part.start_ms)
        ends.append(part.end_ms)
    if not oldest:
        return None
    return max(oldest.values()), max(ends)


def window_sums(store: LogStore, start_ms: int, end_ms: int) -> tuple[Sums, int]:
    """The sums of the stored events in [start_ms, end_ms) and how many there were."""
    sums, events, cursor = Sums(), 0, None
    while True:
        result = store.search(
            SearchRequest(
                query=MatchAll(),
                start_ms=start_ms,
                end_ms=end_ms,
                size=PAGE,
                newest_first=False,
                cursor=cursor,
                total_bound=0,
            )
        )
        if result.hits:
            sums.add(reduce(result.hits))
            events += len(result.hits)
        cursor = result.next_cursor
        if not cursor or not result.hits:
            return sums, events


def rebuild(
    store: LogStore,
    start_ms: int | None = None,
    end_ms: int | None = None,
    progress: Callable[[Rebuilt, int], None] | None = None,
) -> Rebuilt:
    """Replace the rollups of [start_ms, end_ms) (whole minutes, clipped to the stored events'
    span) with the sums of the stored events. ValueError when the store keeps no rollups."""
    rollups: RollupStore | None = getattr(store, "rollups", None)  # (not part of LogStore: a store may keep none)
    if rollups is None:
        raise ValueError("this store keeps no rollups (opened with rollups=off)")
    span = raw_span(store, rollups)
    if span is None:
        return Rebuilt()
    start = span[0] if start_ms is None else max(start_ms - start_ms % MINUTE_MS, span[0])
    end = span[1] if end_ms is None else min(-(-end_ms // MINUTE_MS) * MINUTE_MS, span[1])
    done = Rebuilt(start, end)
    at = start
    while at < end:
        upto = min(at - at % WINDOW_MS + WINDOW_MS, end)
        sums, events = window_sums(store, at, upto)
        rollups.replace(at, upto, sums)
        done.events += events
        done.windows += 1
        if progress:
            progress(done, upto)
        at = upto
    rebuilt = getattr(store, "rollups_rebuilt", None)
    if rebuilt is not None and start_ms is None and end_ms is None:
        rebuilt()  # every stored minute: the store may trust them again (app/rollups/answer.py)
    return done
