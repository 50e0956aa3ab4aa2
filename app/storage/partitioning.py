"""Which partition an event goes to: one pure policy shared by every backend.

A partition is a calendar span of event time: a UTC day, month or year. The policy:

1. A time covered by an existing partition goes there. (So a re-sent client `event.id` always
   lands in the partition that holds its first copy: dedupe by id is per partition.)
2. A time within the recent window (`day_partition_days` before today, or later) gets its day
   (or its month, for a store whose recent unit is the month).
3. An older time gets the largest calendar unit containing it (its year, else its month, else
   its day) that overlaps no existing partition and ends before the recent window begins.

Calendar units nest (a year holds whole months, a month whole days), so partitions never
overlap: any existing partition that overlaps a candidate either contains the time (rule 1) or
lies inside the candidate (which is then not chosen). The recent window only moves forward, so
a coarse partition never covers a day that rule 2 will want later.

The bound: a store holds at most `day_partition_days + 1` day partitions of the window plus
its coarse ones (a year per year of history, at most 11 months and 30 days at the window's
edge), whatever the traffic: a batch of 5,000 events one per day since 1990 opens 14
partitions, not 5,000. Retention drops whole partitions, so an event older than the window may
be kept until its whole month or year is past the cutoff.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Iterable
from datetime import UTC, datetime

DAY_MS = 86_400_000
DEFAULT_DAY_PARTITION_DAYS = 31


def _utc(ts_ms: int) -> datetime:
    return datetime.fromtimestamp(ts_ms // 1000, tz=UTC)


def _ms(year: int, month: int = 1, day: int = 1) -> int:
    return int(datetime(year, month, day, tzinfo=UTC).timestamp()) * 1000


def year_span(ts_ms: int) -> tuple[int, int]:
    y = _utc(ts_ms).year
    return _ms(y), _ms(y + 1)


def month_span(ts_ms: int) -> tuple[int, int]:
    d = _utc(ts_ms)
    return _ms(d.year, d.month), (_ms(d.year + 1) if d.month == 12 else _ms(d.year, d.month + 1))


def day_span(ts_ms: int) -> tuple[int, int]:
    start = ts_ms // DAY_MS * DAY_MS
    return start, start + DAY_MS


def span_name(start_ms: int, end_ms: int, sep: str = "") -> str:
    """`YYYY`, `YYYY<sep>MM` or `YYYY<sep>MM<sep>DD` by the span's length."""
    d = _utc(start_ms)
    if end_ms - start_ms <= DAY_MS:
        return f"{d.year:04d}{sep}{d.month:02d}{sep}{d.day:02d}"
    if end_ms - start_ms <= 31 * DAY_MS:
        return f"{d.year:04d}{sep}{d.month:02d}"
    return f"{d.year:04d}"


def name_span(name: str, sep: str = "") -> tuple[int, int]:
    """The span a name from `span_name` stands for; ValueError when it is not one."""
    parts = name.split(sep) if sep else [name[:4], name[4:6], name[6:8]]
    parts = [p for p in parts if p]
    if not (1 <= len(parts) <= 3 and all(p.isdigit() for p in parts)) or [len(p) for p in parts] != [4, 2, 2][: len(parts)]:
        raise ValueError(f"not a partition name: {name!r}")
    numbers = [int(p) for p in parts]
    start = _ms(*numbers)
    if len(numbers) == 1:
        return year_span(start)
    if len(numbers) == 2:
        return month_span(start)
    return day_span(start)


class Layout:
    """The existing partitions of one store (or of one component's indices) and the routing
    policy over them. `route` records the partitions it decides to open, so the events of one
    batch that share a new partition agree on it; `opened` lists them."""

    def __init__(
        self,
        spans: Iterable[tuple[int, int]],
        now_ms: int,
        day_partition_days: int = DEFAULT_DAY_PARTITION_DAYS,
        recent: Callable = day_span,
    ):
        """`recent`: the unit of the recent window (day_span; month_span for a store that pays per
        partition a query touches, as the tantivy store does)."""
        self.recent = recent
        self._spans = sorted(set(spans))
        self._starts = [s for s, _ in self._spans]
        self.window_start = (now_ms // DAY_MS - day_partition_days) * DAY_MS
        self.opened: list[tuple[int, int]] = []

    def covering(self, ts_ms: int) -> tuple[int, int] | None:
        i = bisect_right(self._starts, ts_ms) - 1
        if i >= 0 and self._spans[i][1] > ts_ms:
            return self._spans[i]
        return None

    def _overlaps(self, start: int, end: int) -> bool:
        i = bisect_right(self._starts, start) - 1
        if i >= 0 and self._spans[i][1] > start:
            return True
        j = bisect_right(self._starts, start)
        return j < len(self._spans) and self._spans[j][0] < end

    def route(self, ts_ms: int) -> tuple[int, int]:
        """(start_ms, end_ms) of the partition for an event at `ts_ms`."""
        found = self.covering(ts_ms)
        if found:
            return found
        span = self.recent(ts_ms)
        if ts_ms < self.window_start:
            for unit in (year_span, month_span):
                candidate = unit(ts_ms)
                if candidate[1] <= self.window_start and not self._overlaps(*candidate):
                    span = candidate
                    break
        i = bisect_right(self._starts, span[0])
        self._spans.insert(i, span)
        self._starts.insert(i, span[0])
        self.opened.append(span)
        return span

    @property
    def spans(self) -> list[tuple[int, int]]:
        return list(self._spans)
