"""The LogStore protocol: what every storage backend offers, in plain dataclasses.

Events handed to `write` are normalised dicts (see app/events/normalize.py) carrying two private
keys the backend consumes: `_ts` (epoch ms of @timestamp) and `_client_id` (True when the sender
chose event.id, so the backend must check it for duplicates).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, Sequence


class StoreError(RuntimeError):
    """The store cannot answer now (unreachable, disk full, locked); retrying later may help."""


@dataclass
class WriteResult:
    stored: int = 0
    duplicates: list[int] = field(default_factory=list)          # positions already stored before
    failed: list[tuple[int, str]] = field(default_factory=list)  # (position, reason)


@dataclass
class SearchRequest:
    start_ms: int | None = None
    end_ms: int | None = None           # exclusive
    filters: dict[str, str] = field(default_factory=dict)  # field name -> exact value
    text: str | None = None             # free words, all must occur (full text)
    size: int = 50
    newest_first: bool = True


@dataclass
class SearchResult:
    hits: list[dict]
    total: int
    total_exact: bool = True


@dataclass
class Partition:
    name: str
    start_ms: int
    end_ms: int
    events: int


class LogStore(Protocol):
    def write(self, events: Sequence[dict]) -> WriteResult: ...
    def get(self, event_id: str) -> dict | None: ...
    def search(self, request: SearchRequest) -> SearchResult: ...
    def partitions(self) -> list[Partition]: ...
    def drop_partitions_before(self, cutoff_ms: int) -> list[str]: ...
    def count(self) -> int: ...
    def close(self) -> None: ...
