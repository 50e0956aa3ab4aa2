"""The LogStore protocol: what every storage backend offers, in plain dataclasses.

Events handed to `write` are normalised dicts (see app/events/normalize.py) carrying private
keys the backend consumes: `_ts` (epoch ms of @timestamp), `_columns` (promoted values) and
`_client_id` (True when the sender chose event.id, so the backend must check for duplicates).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from ..query.ast import MatchAll, Node

EXACT = 2**31 - 1  # "count everything": fits the 32-bit limits search engines put on exact totals


class StoreError(RuntimeError):
    """The store cannot answer now (unreachable, disk full, locked); retrying later may help."""


class CursorError(ValueError):
    """A paging cursor that this store did not issue, or for another sort order."""


@dataclass
class WriteResult:
    stored: int = 0
    duplicates: list[int] = field(default_factory=list)  # positions already stored before
    failed: list[tuple[int, str]] = field(default_factory=list)  # (position, reason): the store could not
    refused: list[tuple[int, str]] = field(default_factory=list)  # (position, reason): the store will never take it


@dataclass
class SearchRequest:
    query: Node = field(default_factory=MatchAll)
    start_ms: int | None = None  # inclusive
    end_ms: int | None = None  # exclusive
    size: int = 50
    newest_first: bool = True
    cursor: str | None = None  # from a previous SearchResult.next_cursor
    facets: tuple[str, ...] = ()  # field names
    facet_size: int = 10  # values per facet
    histogram_ms: int | None = None  # bucket width; None: no histogram
    total_bound: int = EXACT  # count exactly up to here, then report "at least"; 0: no count
    facet_bound: int = EXACT  # facets are exact over the newest this many matches
    budget_ms: int = 1500  # time allowed to the facets and the histogram
    now_ms: int | None = None  # "now" for relative times inside the query
    inside_personal: bool = True  # bare words and prefixes may match inside personal values
    # (False for readers who see them masked: whole values only)


@dataclass
class FacetValue:
    value: object
    count: int


@dataclass
class Facet:
    values: list[FacetValue] = field(default_factory=list)
    approximate: bool = False  # counted over the newest `facet_bound` matches only
    timed_out: bool = False


@dataclass
class Bucket:
    start_ms: int
    count: int


@dataclass
class SearchResult:
    hits: list[dict]
    total: int
    total_exact: bool = True
    facets: dict[str, Facet] = field(default_factory=dict)
    histogram: list[Bucket] = field(default_factory=list)
    histogram_timed_out: bool = False
    next_cursor: str | None = None  # None when there is nothing after these hits
    counted: int | None = None  # facets and histogram ran out of time: the matches they counted


@dataclass
class Partition:
    name: str
    start_ms: int
    end_ms: int
    events: int


def histogram_buckets(counts: dict[int, int], request: SearchRequest) -> list[Bucket]:
    """Buckets from {bucket start: count}: every bucket of a bounded window, zeros included."""
    width = request.histogram_ms  # (set whenever a histogram is asked)
    if width and request.start_ms is not None and request.end_ms is not None:
        first, last = (request.start_ms // width) * width, ((request.end_ms - 1) // width) * width
        if (last - first) // width < 10_000:
            return [Bucket(start, counts.get(start, 0)) for start in range(first, last + 1, width)]
    return [Bucket(start, n) for start, n in sorted(counts.items())]


class LogStore(Protocol):
    def write(self, events: Sequence[dict]) -> WriteResult: ...
    def get(self, event_id: str) -> dict | None: ...
    def locate(self, event_id: str) -> tuple[dict, str, str] | None: ...  # (event, cursor asc, cursor desc)
    def search(self, request: SearchRequest) -> SearchResult: ...
    def partitions(self) -> list[Partition]: ...
    def drop_partitions_before(self, cutoff_ms: int) -> list[str]: ...
    def count(self) -> int: ...
    def close(self) -> None: ...
