"""The rollup shapes, and the one pure function that turns events into them.

Two families, each summed per minute (`minute_ms`, a multiple of MINUTE_MS):
- counts: events by COUNT_DIMENSIONS (component, type, level, outcome, service);
- providers: `integration` events by provider (with its kind and the call's status): calls,
  provider failures (app/events/failures.py), timeouts, and a latency sketch of
  `integration.duration` (ms) that merges by adding bucket counts.

A backend stores the sums of `reduce(events)` and answers `RollupReader` questions; rebuilding
from the stored events must give the same numbers as the sums kept at ingest.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Collection, Mapping, Protocol

MINUTE_MS = 60_000
COUNT_DIMENSIONS = ("event.component", "event.type", "log.level", "event.outcome", "service.name")


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
    failures: int = 0                    # error, timeout, circuit_open
    timeouts: int = 0
    statuses: dict[str, int] = field(default_factory=dict)      # integration.status -> calls
    latency: dict[int, int] = field(default_factory=dict)       # sketch bucket key -> calls (see sketch)


class RollupReader(Protocol):
    def counts(self, start_ms: int, end_ms: int, step_ms: int, by: tuple[str, ...],
               where: Mapping[str, Collection[str]] | None = None) -> list[CountRow]: ...

    def providers(self, start_ms: int, end_ms: int, step_ms: int,
                  providers: Collection[str] | None = None) -> list[ProviderRow]: ...
