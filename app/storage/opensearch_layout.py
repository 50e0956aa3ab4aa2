"""Which index an event goes to, on the OpenSearch backend: generations rolled over by size and
age, each owning a span of *event* time.

Generations: per component, indices `<prefix>-<component>-gYYYYMMDDtHHMM`. The time in a name is
where the generation's span of event time begins; it ends where the next generation's begins (the
oldest also takes everything earlier, the newest everything later). So an event's index follows
from its @timestamp and the list of generations alone — which is what keeps a client's event.id
deduplicated (documents are *created* under the event id in that index: a re-sent event meets
its first copy), sends a backfill or a late callback to the generation that holds its time, and
lets retention drop a generation once its span is past the cutoff.

Rollover (opensearch_rollover.py) cuts the newest generation when it is too large or too old,
at a time T at least `margin_ms` after the moment it is made and after the newest event it holds.
A list of generations read at time R is therefore exact for every event before R + margin:
whatever rolls over later starts after that. `indices` reads the list again before routing an
event at or past that horizon, so processes sharing the cluster always agree.

Legacy calendar indices, `<prefix>-<component>-YYYY.MM.DD` (or `YYYY.MM`, `YYYY`), made by
versions before the rollover layout: they stay readable (same read alias), an event whose time
one of them covers is still written there (a re-sent id meets its first copy), and none is ever
created again; retention drops them by their span as before.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from bisect import bisect_right
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import cast

from .partitioning import name_span

log = logging.getLogger(__name__)

MINUTE_MS = 60_000
_LEGACY = re.compile(r"(?P<component>[a-z_]+)-(?P<period>\d{4}(?:\.\d{2}(?:\.\d{2})?)?)\Z")
_GENERATION = re.compile(r"(?P<component>[a-z_]+)-g(?P<stamp>\d{8}t\d{4})\Z")


def parse_legacy(prefix: str, index: str, components: Sequence[str]) -> tuple[str, int, int] | None:
    """(component, start_ms, end_ms) of a legacy calendar index of ours, None for any other index."""
    if not index.startswith(prefix + "-"):
        return None
    match = _LEGACY.match(index[len(prefix) + 1 :])
    if not match or match["component"] not in components:
        return None
    start, end = name_span(match["period"], ".")
    return match["component"], start, end


def parse_generation(prefix: str, index: str, components: Sequence[str]) -> tuple[str, int] | None:
    """(component, start_ms) of a generation of ours, None for any other index."""
    if not index.startswith(prefix + "-"):
        return None
    match = _GENERATION.match(index[len(prefix) + 1 :])
    if not match or match["component"] not in components:
        return None
    moment = datetime.strptime(match["stamp"], "%Y%m%dt%H%M").replace(tzinfo=UTC)
    return match["component"], int(moment.timestamp()) * 1000


def generation_name(prefix: str, component: str, start_ms: int) -> str:
    """The name of the generation starting at `start_ms`, rounded up to the minute."""
    start = -(-start_ms // MINUTE_MS) * MINUTE_MS
    return f"{prefix}-{component}-g{datetime.fromtimestamp(start / 1000, tz=UTC):%Y%m%dt%H%M}"


def write_alias(prefix: str, component: str) -> str:
    """The alias whose write index is a component's newest generation (what `_rollover` moves)."""
    return f"{prefix}-{component}-write"


class Generations:
    """One component's generations and legacy indices, and the routing over them."""

    def __init__(self):
        self.starts: list[int] = []  # generation starts, ascending
        self.names: list[str] = []
        self.legacy: list[tuple[int, int, str]] = []  # (start, end, name), ascending

    def add_generation(self, start: int, name: str) -> None:
        i = bisect_right(self.starts, start)
        self.starts.insert(i, start)
        self.names.insert(i, name)

    def legacy_covering(self, ts: int) -> str | None:
        i = bisect_right(self.legacy, (ts, float("inf"), "")) - 1
        if i >= 0 and self.legacy[i][1] > ts:
            return self.legacy[i][2]
        return None

    def route(self, ts: int) -> str | None:
        """The index for an event at `ts`; None when there is no generation yet."""
        old = self.legacy_covering(ts) if self.legacy else None
        if old:
            return old
        if not self.names:
            return None
        return self.names[max(0, bisect_right(self.starts, ts) - 1)]

    def span(self, name: str) -> tuple[int | None, int | None]:
        """The generation's span of event time: (start, end), None for an open side."""
        i = self.names.index(name)
        return (self.starts[i] if i else None), (self.starts[i + 1] if i + 1 < len(self.names) else None)

    @property
    def newest(self) -> str | None:
        return self.names[-1] if self.names else None


class IndexLayout:
    """The indices of one store, listed from the cluster and kept per process.

    `list_rows()` returns the cluster's rows for `<prefix>-*` (dicts with at least `index`);
    `maintain(rows)` may roll generations over or create the first ones and returns True when
    it changed anything (the list is then read again); `bootstrap(component)` creates a
    component's first generation (a concurrent creation elsewhere is not an error)."""

    def __init__(
        self,
        prefix: str,
        components: Sequence[str],
        list_rows: Callable[[], list[dict]],
        bootstrap: Callable[[str], None],
        maintain: Callable[[list[dict]], bool] | None = None,
        margin_ms: int = 3_600_000,
        check_ms: int = 60_000,
    ):
        self.prefix = prefix
        self.components = tuple(components)
        self.margin_ms = margin_ms
        self.check_ms = check_ms
        self._list = list_rows
        self._bootstrap = bootstrap
        self._maintain = maintain
        self._known: dict[str, Generations] | None = None
        self._read_at = 0
        self._lock = threading.Lock()

    def forget(self) -> None:
        """Indices were deleted or rolled over: read the list again before the next write."""
        with self._lock:
            self._known = None

    def known(self) -> dict[str, Generations]:
        with self._lock:
            if self._known is None:
                self._read(maintain=False)
            assert self._known is not None  # (_read sets it)
            return self._known

    def _read(self, maintain: bool = True) -> None:
        read_at = time.time_ns() // 1_000_000
        rows = self._list()
        if maintain and self._maintain is not None:
            try:
                changed = self._maintain(rows)
            except Exception:
                log.warning("rollover check failed", exc_info=True)
                changed = False
            if changed:
                read_at = time.time_ns() // 1_000_000
                rows = self._list()
        known = {c: Generations() for c in self.components}
        for row in rows:
            index = row["index"]
            if (gen := parse_generation(self.prefix, index, self.components)) is not None:
                known[gen[0]].add_generation(gen[1], index)
            elif (old := parse_legacy(self.prefix, index, self.components)) is not None:
                known[old[0]].legacy.append((old[1], old[2], index))
        for g in known.values():
            g.legacy.sort()
        self._known, self._read_at = known, read_at

    def indices(self, items: Sequence[tuple[str, int]]) -> list[str]:
        """The index for each (component, event time) of a batch."""
        with self._lock:
            now = time.time_ns() // 1_000_000
            horizon = max((ts for _, ts in items), default=0)
            if self._known is None or now - self._read_at >= self.check_ms or horizon >= self._read_at + self.margin_ms:
                self._read()
            assert self._known is not None  # (_read sets it)
            names = [self._known[c].route(ts) for c, ts in items]
            missing = sorted({c for (c, _), name in zip(items, names, strict=True) if name is None})
            if missing:
                for component in missing:
                    self._bootstrap(component)
                self._read(maintain=False)
                names = [self._known[c].route(ts) for c, ts in items]
        if any(name is None for name in names):
            raise RuntimeError("no index could be created for some components")
        return cast("list[str]", names)  # (none is None: checked above)
