"""Where the health computations get their numbers: per-step ProviderRows (app/rollups/model.py).

`reader_for(store)` answers the RollupReader question `providers(start, end, step, providers)`:
from `store.rollups` when the store keeps rollups, else from the raw `integration` events through
`store.search` (exact; one pass over the range, fine for tests and small stores). `reduce` is the
pure events -> minute rows function the fallback uses, and `MemoryRollups` sums such rows per step
(tests and the status tracker reuse rows read once)."""

from __future__ import annotations

from bisect import bisect_left
from collections import defaultdict
from collections.abc import Collection, Iterable
from dataclasses import replace

from ..query import parse
from ..rollups.model import ProviderRow, reduce as reduce_sums
from ..storage import SearchRequest

SCAN_QUERY = "integration.provider:*"  # calls: events naming a provider (status changes name none)
PAGE = 5_000


def _ts_ms(event: dict) -> int | None:
    from datetime import datetime

    raw = event.get("@timestamp")
    if not isinstance(raw, str):
        return None
    try:
        return int(datetime.fromisoformat(raw.replace("Z", "+00:00")).timestamp() * 1000)
    except ValueError:
        return None


def reduce(events: Iterable[dict]) -> list[ProviderRow]:
    """Minute ProviderRows of `events`, by the rollups' own reduction (app/rollups/model.py: every
    event naming an `integration.provider` is a call; our status-change events name none), so the
    fallback and the stores' rollups give the same numbers."""
    sums = reduce_sums(events)
    rows: dict[tuple, ProviderRow] = {}

    def row_of(minute, provider, kind) -> ProviderRow:
        row = rows.get((minute, provider, kind))
        if row is None:
            row = rows[(minute, provider, kind)] = ProviderRow(start_ms=minute, provider=provider, kind=kind)
        return row

    for (minute, provider, kind, status), (calls, failures, timeouts) in sums.providers.items():
        row = row_of(minute, provider, kind)
        row.calls += calls
        row.failures += failures
        row.timeouts += timeouts
        if status is not None:
            row.statuses[status] = row.statuses.get(status, 0) + calls
    for (minute, provider, kind, bucket), n in sums.latency.items():
        row = row_of(minute, provider, kind)
        row.latency[bucket] = row.latency.get(bucket, 0) + n
    return sorted(rows.values(), key=lambda r: (r.start_ms, r.provider, r.kind or ""))


def add(into: ProviderRow, row: ProviderRow) -> None:
    into.calls += row.calls
    into.failures += row.failures
    into.timeouts += row.timeouts
    for k, v in row.statuses.items():
        into.statuses[k] = into.statuses.get(k, 0) + v
    for b, v in row.latency.items():
        into.latency[b] = into.latency.get(b, 0) + v


def resum(
    rows: Iterable[ProviderRow], start_ms: int, end_ms: int, step_ms: int, providers: Collection[str] | None = None
) -> list[ProviderRow]:
    """Rows inside [start, end) summed per step (steps aligned on the epoch, as the stores' rollups
    align them), per (provider, kind)."""
    out: dict[tuple, ProviderRow] = {}
    wanted = set(providers) if providers is not None else None
    for row in rows:
        if not start_ms <= row.start_ms < end_ms or (wanted is not None and row.provider not in wanted):
            continue
        start = row.start_ms // step_ms * step_ms
        key = (start, row.provider, row.kind)
        into = out.get(key)
        if into is None:
            into = out[key] = ProviderRow(start_ms=start, provider=row.provider, kind=row.kind)
        add(into, row)
    return sorted(out.values(), key=lambda r: (r.start_ms, r.provider, r.kind or ""))


class MemoryRollups:
    """A RollupReader over minute rows already in memory."""

    def __init__(self, rows: Iterable[ProviderRow]):
        self.rows = sorted(rows, key=lambda r: r.start_ms)
        self._starts = [r.start_ms for r in self.rows]

    def providers(
        self, start_ms: int, end_ms: int, step_ms: int, providers: Collection[str] | None = None, latency: bool = True
    ) -> list[ProviderRow]:
        lo, hi = bisect_left(self._starts, start_ms), bisect_left(self._starts, end_ms)
        return resum(self.rows[lo:hi], start_ms, end_ms, step_ms, providers)


def scan(store, start_ms: int, end_ms: int, scope=None) -> Iterable[dict]:
    """Every provider call of [start, end), oldest first, read in pages through store.search."""
    request = SearchRequest(
        query=parse(SCAN_QUERY), start_ms=start_ms, end_ms=end_ms, size=PAGE, newest_first=False, total_bound=0
    )
    while True:
        result = store.search(scope(request) if scope else request)
        yield from result.hits
        if result.next_cursor is None or not result.hits:
            return
        request = replace(request, cursor=result.next_cursor)


class EventRollups:
    """The fallback RollupReader: the same rows computed from the raw events (exact)."""

    def __init__(self, store, scope=None):
        self.store, self.scope = store, scope

    def providers(
        self, start_ms: int, end_ms: int, step_ms: int, providers: Collection[str] | None = None, latency: bool = True
    ) -> list[ProviderRow]:
        minutes = reduce(scan(self.store, start_ms, end_ms, self.scope))
        return resum(minutes, start_ms, end_ms, step_ms, providers)


def reader_for(store, scope=None):
    """The store's rollups when it keeps them, else the exact fallback over its events."""
    rollups = getattr(store, "rollups", None)
    return rollups if rollups is not None else EventRollups(store, scope)


def by_provider(rows: Iterable[ProviderRow]) -> dict[str, list[ProviderRow]]:
    out: dict[str, list[ProviderRow]] = defaultdict(list)
    for row in rows:
        out[row.provider].append(row)
    return dict(out)
