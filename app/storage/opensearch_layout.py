"""Index names of the OpenSearch backend: `<prefix>-<component>-<period>`, the period a UTC day
(`YYYY.MM.DD`), month (`YYYY.MM`) or year (`YYYY`) of event time, chosen per component by the
policy in partitioning.py (days for recent times, coarser spans for old ones). Every name still
matches the index templates' and the retention policies' `<prefix>-<component>-*` patterns.

The indices that exist are listed from the cluster and kept per process; before a write opens a
new index the list is read again, so processes that share the cluster agree on the partitions
(two processes opening a partition for the same old span in the same instant choose the same
one, as the policy depends only on the list and the day).
"""
from __future__ import annotations

import re
import threading
import time
from typing import Callable, Iterable, Sequence

from .partitioning import DEFAULT_DAY_PARTITION_DAYS, Layout, name_span, span_name

_INDEX = re.compile(r"(?P<component>[a-z_]+)-(?P<period>\d{4}(?:\.\d{2}(?:\.\d{2})?)?)\Z")


def parse_index(prefix: str, index: str, components: Sequence[str]) -> tuple[str, int, int] | None:
    """(component, start_ms, end_ms) of one of our index names, None for any other index."""
    if not index.startswith(prefix + "-"):
        return None
    match = _INDEX.match(index[len(prefix) + 1:])
    if not match or match["component"] not in components:
        return None
    start, end = name_span(match["period"], ".")
    return match["component"], start, end


class IndexLayout:
    def __init__(self, prefix: str, components: Sequence[str], list_indices: Callable[[], Iterable[str]],
                 day_partition_days: int = DEFAULT_DAY_PARTITION_DAYS):
        self.prefix = prefix
        self.components = tuple(components)
        self.day_partition_days = int(day_partition_days)
        self._list = list_indices
        self._known: dict[str, list[tuple[int, int]]] | None = None
        self._lock = threading.Lock()

    def name(self, component: str, start_ms: int, end_ms: int) -> str:
        return f"{self.prefix}-{component}-{span_name(start_ms, end_ms, '.')}"

    def forget(self) -> None:
        """Indices were deleted: read the list again before the next write."""
        with self._lock:
            self._known = None

    def _refresh(self) -> None:
        known: dict[str, list[tuple[int, int]]] = {c: [] for c in self.components}
        for index in self._list():
            parsed = parse_index(self.prefix, index, self.components)
            if parsed:
                known[parsed[0]].append(parsed[1:])
        self._known = known

    def _route(self, items: Sequence[tuple[str, int]]):
        now = time.time_ns() // 1_000_000
        layouts = {c: Layout(spans, now, self.day_partition_days) for c, spans in self._known.items()}
        names = [self.name(c, *layouts[c].route(ts)) for c, ts in items]
        return names, {c: layout.opened for c, layout in layouts.items() if layout.opened}

    def indices(self, items: Sequence[tuple[str, int]]) -> list[str]:
        """The index for each (component, event time) of a batch."""
        with self._lock:
            fresh = self._known is None
            if fresh:
                self._refresh()
            names, opened = self._route(items)
            if opened and not fresh:   # about to open partitions: decide from the cluster's list
                self._refresh()
                names, opened = self._route(items)
            for component, spans in opened.items():
                self._known[component].extend(spans)
        return names
