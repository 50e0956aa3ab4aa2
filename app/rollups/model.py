"""The rollup shapes, and the one pure function that turns events into them.

Two families, each summed per minute (`minute_ms`, a multiple of MINUTE_MS):
- counts: events by COUNT_DIMENSIONS (component, type, level, outcome, service, and the
  integration call's provider, kind and status: so the integration dashboards' queries —
  `event.component:integration AND integration.status:(error OR timeout)` by provider — are
  answered from the rollups too; and an HTTP answer's status code, for the API dashboard's
  status classes);
- providers: `integration` events by provider (with its kind and the call's status): calls,
  provider failures (app/events/failures.py), timeouts, and a latency sketch of
  `integration.duration` (ms) that merges by adding bucket counts;
- values: sketches of other numeric fields (MEASURES: `payment.amount` by currency, `http.duration`
  by route — url.path with its ids folded), for the percentiles panels over them
  (app/dashboards/rollup_values.py).

A backend stores the sums of `reduce(events)` and answers `RollupReader` questions; rebuilding
from the stored events must give the same numbers as the sums kept at ingest.
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any, Protocol

MINUTE_MS = 60_000
HOUR_MS, DAY_MS = 60 * MINUTE_MS, 1440 * MINUTE_MS
WIDTHS = (MINUTE_MS, HOUR_MS, DAY_MS)  # the widths a backend keeps sums at (see pieces)
ROUTE_VERSION = re.compile(r"v[0-9]{1,3}")  # a path segment kept in a route though it has digits (v1, v20)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MS = timedelta(milliseconds=1)
COUNT_DIMENSIONS = (
    "event.component",
    "event.type",
    "log.level",
    "event.outcome",
    "service.name",
    "integration.provider",
    "integration.kind",
    "integration.status",
    "http.response.status_code",
)
NUMERIC_DIMENSIONS = frozenset({"http.response.status_code"})  # long fields: kept as text, compared as numbers
# values sketched per minute: field -> (the field grouped by, the fields a panel's query may narrow
# by; up to three). Only numbers >= 0 are counted (the sketch answers 0 for what is below its
# smallest bucket): a reader checks the count against the store's and reads events when they differ.
MEASURES = {
    "payment.amount": ("payment.currency", ("event.component", "event.type", "payment.status")),
    "http.duration": ("url.path", ("event.component", "event.type")),
}
ROUTE_SEGMENTS, ROUTE_SEGMENT_MAX = 12, 32


@lru_cache(maxsize=8192)  # paths repeat: most events pay a dict look-up, not the split
def route(path: str) -> str:
    """A URL path as a route, its ids folded: a segment with a digit (but a version, `v1`) or
    longer than ROUTE_SEGMENT_MAX becomes `*`, segments past ROUTE_SEGMENTS one `*` — so
    /backoffice/api/players/p-000123 is /backoffice/api/players/*, and the routes are bounded."""
    parts = path.split("/", ROUTE_SEGMENTS + 1)
    out = [
        "*" if len(s) > ROUTE_SEGMENT_MAX or (not ROUTE_VERSION.fullmatch(s) and any(c.isdigit() for c in s)) else s
        for s in parts[: ROUTE_SEGMENTS + 1]
    ]
    if len(parts) > ROUTE_SEGMENTS + 1 or len(out[-1]) > ROUTE_SEGMENT_MAX:
        out[-1] = "*"
    return "/".join(out)


FOLDS = {"http.duration": route}  # measures whose group values are folded (the panels say so)


def group_value(field: str, value):
    """The group a measure's event falls in: its group field's value as text, folded for FOLDS."""
    value = _text(value)
    fold = FOLDS.get(field)
    return fold(value) if fold is not None and value is not None else value


_MEASURE_PATHS = tuple(
    (name, tuple(name.split(".")), tuple(group.split(".")), tuple(tuple(q.split(".")) for q in quals))
    for name, (group, quals) in MEASURES.items()
)
_MEASURE_ROOTS = frozenset(path[0] for _, path, _, _ in _MEASURE_PATHS)  # an event without any is skipped at once


@dataclass
class CountRow:
    """Events in one step starting at `start_ms`, for one combination of the asked dimensions
    (values in the order asked; None where the event had none)."""

    start_ms: int
    values: tuple[str | None, ...]
    count: int


@dataclass
class ProviderRow:
    """One provider's calls in one step starting at `start_ms`."""

    start_ms: int
    provider: str
    kind: str | None
    calls: int = 0
    failures: int = 0  # error, timeout, circuit_open
    timeouts: int = 0
    statuses: dict[str, int] = field(default_factory=dict)  # integration.status -> calls
    latency: dict[int, int] = field(default_factory=dict)  # sketch bucket key -> calls (see sketch)


class RollupReader(Protocol):
    def counts(
        self,
        start_ms: int,
        end_ms: int,
        step_ms: int,
        by: tuple[str, ...],
        where: Mapping[str, Collection[str]] | None = None,
    ) -> list[CountRow]: ...

    def providers(
        self, start_ms: int, end_ms: int, step_ms: int, providers: Collection[str] | None = None, latency: bool = True
    ) -> list[ProviderRow]:
        """`latency=False`: the rows' `latency` may be left empty (a reader that only needs
        calls and failures, e.g. per minute over a week, skips the sketches' many rows)."""
        ...

    def dimensions(self) -> tuple[str, ...]:
        """The COUNT_DIMENSIONS `counts` may be asked by or filtered on (a store's rollups kept
        before some of them were added know the others only)."""
        ...


class RollupStore(RollupReader, Protocol):
    """What a backend's `store.rollups` also offers: adding a stored batch's sums (the store
    calls it), and replacing the sums of [start_ms, end_ms) (the rebuild)."""

    def add(self, sums: Sums) -> None: ...

    def replace(self, start_ms: int, end_ms: int, sums: Sums) -> None: ...


# -- the reduction ------------------------------------------------------------------------
# Sums keys (each summed per minute):
#   counts:    (minute_ms, component, type, level, outcome, service, provider, kind, status, code) -> events
#   providers: (minute_ms, provider, kind, status) -> [calls, provider failures, timeouts]
#   latency:   (minute_ms, provider, kind, sketch key) -> calls with that duration bucket
#   values:    (minute_ms, field, group value, q1, q2, q3, sketch key) -> events (MEASURES; q: its
#              qualifiers' values, None past their number)


@dataclass
class Sums:
    counts: dict[tuple, int] = field(default_factory=dict)
    providers: dict[tuple, list[int]] = field(default_factory=dict)
    latency: dict[tuple, int] = field(default_factory=dict)
    values: dict[tuple, int] = field(default_factory=dict)

    def add(self, other: Sums) -> Sums:
        for key, n in other.counts.items():
            self.counts[key] = self.counts.get(key, 0) + n
        for key, (calls, failures, timeouts) in other.providers.items():
            row = self.providers.setdefault(key, [0, 0, 0])
            row[0] += calls
            row[1] += failures
            row[2] += timeouts
        for key, n in other.latency.items():
            self.latency[key] = self.latency.get(key, 0) + n
        for key, n in other.values.items():
            self.values[key] = self.values.get(key, 0) + n
        return self

    def __bool__(self) -> bool:
        return bool(self.counts or self.providers or self.latency or self.values)


def _text(value) -> str | None:
    return value if value is None or type(value) is str else str(value)


def _at(event: Any, path: tuple[str, ...]) -> Any:
    for part in path:
        if not isinstance(event, dict):
            return None
        event = event.get(part)
    return event


def _measure(values: dict, minute: int, event: dict, sketch_key) -> None:
    for name, path, group, quals in _MEASURE_PATHS:
        root = event.get(path[0])
        if not isinstance(root, dict):
            continue
        number = _at(root, path[1:])
        if type(number) not in (int, float) or not number >= 0 or number == math.inf:
            continue
        qualifiers = tuple(_text(_at(event, q)) for q in quals) + (None,) * (3 - len(quals))
        vkey = (minute, name, group_value(name, _at(event, group)), *qualifiers, sketch_key(number))
        values[vkey] = values.get(vkey, 0) + 1


def event_ms(event: dict) -> int:
    """The event's time in epoch ms: `_ts` as handed to LogStore.write, else its @timestamp (as a
    stored event read back has it)."""
    ts = event.get("_ts")
    if ts is None:  # stored events carry the canonical form (format_ts): exact integer arithmetic
        moment = datetime.fromisoformat(event["@timestamp"].replace("Z", "+00:00"))
        ts = (moment - _EPOCH) // _ONE_MS
    return ts


def reduce(events: Iterable[dict]) -> Sums:
    """The sums of normalised events (`_ts` epoch ms, or @timestamp when `_ts` is gone)."""
    return reduce_pairs((event_ms(e), e) for e in events)


def reduce_pairs(pairs: Iterable[tuple[int, dict]]) -> Sums:
    """The sums of (epoch ms, event) pairs: what a store calls with the events it stored."""
    from ..events.failures import TIMEOUT_STATUS, is_integration_failure
    from .sketch import key as sketch_key

    sums = Sums()
    counts, providers, latency, values = sums.counts, sums.providers, sums.latency, sums.values
    for ts, event in pairs:
        minute = ts - ts % MINUTE_MS
        meta = event.get("event")
        meta = meta if isinstance(meta, dict) else {}
        log, service, call, http = event.get("log"), event.get("service"), event.get("integration"), event.get("http")
        if not isinstance(call, dict):
            call = {}
        answer = http.get("response") if isinstance(http, dict) else None
        code = _text(answer.get("status_code")) if isinstance(answer, dict) else None
        provider, kind, status = _text(call.get("provider")), _text(call.get("kind")), _text(call.get("status"))
        key = (
            minute,
            _text(meta.get("component")),
            _text(meta.get("type")),
            _text(log.get("level")) if isinstance(log, dict) else None,
            _text(meta.get("outcome")),
            _text(service.get("name")) if isinstance(service, dict) else None,
            provider,
            kind,
            status,
            code,
        )
        counts[key] = counts.get(key, 0) + 1
        if _MEASURE_ROOTS.intersection(event):
            _measure(values, minute, event, sketch_key)
        if provider is None:
            continue
        row = providers.get((minute, provider, kind, status))
        if row is None:
            row = providers[(minute, provider, kind, status)] = [0, 0, 0]
        row[0] += 1
        if is_integration_failure(event):
            row[1] += 1
        if status == TIMEOUT_STATUS:
            row[2] += 1
        duration = call.get("duration")
        if isinstance(duration, int | float) and type(duration) is not bool and math.isfinite(duration):
            lkey = (minute, provider, kind, sketch_key(duration))
            latency[lkey] = latency.get(lkey, 0) + 1
    return sums


COLUMNS = {
    "event.component": "component",
    "event.type": "type",
    "log.level": "level",
    "event.outcome": "outcome",
    "service.name": "service",
    "integration.provider": "provider",
    "integration.kind": "kind",
    "integration.status": "status",
    "http.response.status_code": "code",
}  # COUNT_DIMENSIONS -> a short name


def count_columns(by: tuple[str, ...]) -> list[str]:
    """The short names of count dimensions (ValueError for anything else)."""
    unknown = [d for d in by if d not in COLUMNS]
    if unknown:
        raise ValueError(f"rollup counts: {', '.join(map(repr, unknown))} is not one of {', '.join(COUNT_DIMENSIONS)}")
    return [COLUMNS[d] for d in by]


def check_range(start_ms: int, end_ms: int, step_ms: int) -> None:
    if type(step_ms) is not int or step_ms < MINUTE_MS or step_ms % MINUTE_MS:
        raise ValueError(f"rollup step {step_ms!r}: a whole number of minutes, in ms")
    if not (type(start_ms) is int and type(end_ms) is int and 0 <= start_ms <= end_ms):
        raise ValueError(f"rollup range [{start_ms!r}, {end_ms!r}): epoch ms, start <= end")


def values_query(
    start_ms: int, end_ms: int, field: str, where: Mapping[str, Collection[str | None]] | None
) -> tuple[int, dict[int, set]]:
    """What every backend's `values` checks and reads: the one step covering [start_ms, end_ms)
    (a multiple of a day past its end, so day rows serve its whole days) and `where` as
    {qualifier's position in MEASURES[field] (0-based): allowed values}; ValueError for a range,
    field or qualifier the sketches do not keep."""
    check_range(start_ms, end_ms, MINUTE_MS)
    if field not in MEASURES:
        raise ValueError(f"rollup values: {field!r} is not sketched (one of {', '.join(MEASURES)})")
    _, qualifiers = MEASURES[field]
    unknown = [q for q in where or () if q not in qualifiers]
    if unknown:
        raise ValueError(f"rollup values of {field}: cannot narrow by {', '.join(unknown)}")
    step = -(-max(end_ms, MINUTE_MS) // DAY_MS) * DAY_MS
    return step, {qualifiers.index(q): set(v) for q, v in (where or {}).items()}


def pieces(start_ms: int, end_ms: int, step_ms: int, minutes_before: int = 0) -> list[tuple[int, int, int]]:
    """[start, end) as (width, from, to): the widest width dividing the step on whole units of
    it, narrower ones at the edges; before `minutes_before` minutes only (a backend whose wider
    sums start there)."""
    out: list[tuple[int, int, int]] = []

    def split(low: int, high: int, widths: tuple[int, ...]) -> None:
        if low >= high:
            return
        width = widths[-1]
        if width == MINUTE_MS:
            out.append((width, low, high))
            return
        first, last = -(-low // width) * width, high // width * width
        if step_ms % width or first >= last:
            split(low, high, widths[:-1])
            return
        split(low, first, widths[:-1])
        out.append((width, first, last))
        split(last, high, widths[:-1])

    if start_ms < min(minutes_before, end_ms):
        out.append((MINUTE_MS, start_ms, min(minutes_before, end_ms)))
    split(max(start_ms, minutes_before), end_ms, WIDTHS)
    return out
