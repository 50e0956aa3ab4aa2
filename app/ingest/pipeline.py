"""The write path: items in -> normalised events -> store, in batches, with a report of every item.

Used by the HTTP endpoints, `platlogs ingest` and `platlogs demo`, so every way in applies the
same validation, classification and redaction. A bad item is recorded and skipped; it never
fails its batch. An item counts as accepted only once its batch is committed.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson

from ..events import refusals
from ..events.normalize import EventError, Normalizer
from ..storage import LogStore, StoreError, WriteResult
from .items import refuse_duplicates
from .ndjson import BodyLimitError, Oversized, oversized, parse_json

if TYPE_CHECKING:
    from .stats import IngestStats

DAY_MS = 86_400_000


@dataclass
class IngestReport:
    accepted: int = 0  # stored by this request, or already stored before (duplicates)
    duplicates: int = 0  # already stored (same event.id): idempotent re-send
    rejected: int = 0
    errors: list[dict] = field(default_factory=list)
    errors_truncated: bool = False
    refused: dict[str, int] = field(default_factory=dict)  # every refused item by its kind (app/events/refusals.py)
    storage_failed: bool = False
    body_limited: bool = False  # a limit of the whole body (gzip expansion) cut it short
    oversized: int = 0  # items refused for their size alone (ndjson.Oversized)
    max_errors: int = 1000
    # per-item outcomes, kept only when the caller asks (track=True: the Elasticsearch-compatible
    # _bulk answers every item): item number -> event.id stored (or found already stored)
    track: bool = False
    ids: dict[int, str] = field(default_factory=dict)
    duplicate_numbers: set[int] = field(default_factory=set)
    # item numbers the store could not take (retry them), kept whether or not the caller tracks
    failed_numbers: set[int] = field(default_factory=set)

    def reject(self, error: dict, kind: str) -> None:
        """An item refused: `error` for the answer (its number, reason, field), `kind` for the counts."""
        self.rejected += 1
        self.refused[kind] = self.refused.get(kind, 0) + 1
        if len(self.errors) < self.max_errors:
            self.errors.append(error)
        else:
            self.errors_truncated = True

    def as_dict(self) -> dict:
        out = {"accepted": self.accepted, "rejected": self.rejected, "duplicates": self.duplicates, "errors": self.errors}
        if self.errors_truncated:
            out["errors_truncated"] = True
        return out

    @property
    def status(self) -> int:
        if self.storage_failed:
            return 503
        if not self.rejected:
            return 200
        if self.accepted:
            return 207
        if self.body_limited:
            return 413
        if self.oversized == self.rejected:  # every item was too large: decided by the exception's type
            return 413
        return 400


class Ingestor:
    stats: IngestStats | None = None  # an IngestStats (app/ingest/stats.py) counting what comes with an origin, or None

    def __init__(
        self,
        normalizer: Normalizer,
        store: LogStore,
        *,
        batch_size: int = 2000,
        max_event_bytes: int = 64 * 1024,
        max_errors: int = 1000,
        max_event_age_days: int = 0,
    ):
        self.normalizer = normalizer
        self.store = store
        self.batch_size = batch_size
        self.max_event_bytes = max_event_bytes
        self.max_errors = max_errors
        self.max_event_age_days = max_event_age_days  # 0: no refusal by age

    def ingest(
        self,
        items: Iterable[tuple[int, Any]],
        *,
        position: str = "index",
        check_size: bool = False,
        progress: Callable[[int], None] | None = None,
        report: IngestReport | None = None,
    ) -> IngestReport:
        """Store `items`: (number, value) pairs where value is a parsed object, raw JSON bytes
        (one NDJSON line) or an EventError found while reading. Errors quote the number back
        under the name `position` ("index" for array positions, "line" for NDJSON lines).
        `report`: the caller's own (its max_errors, track), filled in and returned."""
        if report is None:
            report = IngestReport(max_errors=self.max_errors)
        tally = self.stats.tally() if self.stats is not None else None
        if tally is None:
            return self._ingest(items, position, check_size, progress, report, None)
        try:
            return self._ingest(items, position, check_size, progress, report, tally)
        finally:
            tally.finish(report)

    def _ingest(self, items, position, check_size, progress, report: IngestReport, tally) -> IngestReport:
        batch: list[dict] = []
        numbers: list[int] = []
        normalize = self.normalizer.normalize
        now_ms = time.time_ns() // 1_000_000
        max_age = self.max_event_age_days
        for number, value in items:
            try:
                if type(value) is bytes:
                    if check_size and len(value) > self.max_event_bytes:
                        size = len(value.strip())
                        if size > self.max_event_bytes:
                            raise oversized(size, self.max_event_bytes)
                    # a repeated key is refused first; proved absent on the fast path (cheaply)
                    event = normalize(parse_json(value), now_ms, value, refuse_duplicates)
                else:
                    if isinstance(value, EventError):
                        report.body_limited |= isinstance(value, BodyLimitError)
                        raise value
                    if check_size:
                        try:
                            size = len(orjson.dumps(value))
                        except orjson.JSONEncodeError:
                            raise EventError(
                                f"nested deeper than {self.normalizer.max_depth} levels", kind=refusals.LIMITS
                            ) from None
                        if size > self.max_event_bytes:
                            raise oversized(size, self.max_event_bytes)
                    event = normalize(value, now_ms)
                if max_age and event["_ts"] < now_ms - max_age * DAY_MS:
                    raise EventError(
                        f"@timestamp is more than {max_age} days old (PLATLOGS_MAX_EVENT_AGE_DAYS)",
                        "@timestamp",
                        refusals.TIME,
                    )
                batch.append(event)
                numbers.append(number)
            except EventError as exc:
                report.oversized += isinstance(exc, Oversized)
                error = {position: number, "reason": exc.reason}
                if exc.field:
                    error["field"] = exc.field
                report.reject(error, exc.kind)
            if len(batch) >= self.batch_size:
                self._flush(batch, numbers, position, report, progress, tally)
                batch, numbers = [], []
                now_ms = time.time_ns() // 1_000_000
        if batch:
            self._flush(batch, numbers, position, report, progress, tally)
        return report

    def _flush(
        self, batch: list[dict], numbers: list[int], position: str, report: IngestReport, progress, tally=None
    ) -> None:
        if report.track:  # (read before the store consumes the events)
            report.ids.update(zip(numbers, [event["event"]["id"] for event in batch], strict=False))
        if tally is not None:
            tally.batch(batch)
        result: WriteResult | None
        try:
            result = self.store.write(batch)
        except StoreError as exc:
            result = None
            failures = [(i, f"storage unavailable, not stored: {exc}") for i in range(len(batch))]
        else:
            failures = result.failed
        if failures:
            report.storage_failed = True
            report.failed_numbers.update(numbers[pos] for pos, _ in failures)
            for pos, reason in failures:
                report.reject({position: numbers[pos], "reason": reason}, refusals.STORAGE)
        if result is not None:
            # content the store cannot hold (a time out of its range, a mapping conflict): the
            # sender's to fix, as a field of the wrong value is — not a storage outage
            for pos, reason in result.refused:
                report.reject({position: numbers[pos], "reason": reason}, refusals.SCHEMA)
            report.accepted += result.stored + len(result.duplicates)
            report.duplicates += len(result.duplicates)
            if report.track:
                report.duplicate_numbers.update(numbers[pos] for pos in result.duplicates)
        if progress:
            progress(len(batch))
