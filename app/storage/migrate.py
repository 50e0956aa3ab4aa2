"""Copying every event from one store to another (e.g. the embedded SQLite store to OpenSearch),
resumably, then checking that both hold the same number of events per day.

Backend-neutral: only the LogStore protocol is used.

- The source is read window by window, oldest first: the time spans of its partitions, merged
  where they overlap (an OpenSearch store has one index per component per day, month or year:
  one window per span), each paged through with a time-ordered cursor (`newest_first=False`, `total_bound=0`).
- Each page is written to the destination as it was stored, with `_ts` (epoch ms of its
  @timestamp) and `_client_id=True`: the destination deduplicates by event.id, so a re-run or a
  resumed run never stores an event twice (duplicates are reported, not stored).
- A JSON checkpoint is replaced atomically after every page: the window in progress, the cursor
  after the last page written, and the windows finished (with the source's event count when they
  were started). A re-run continues where the last one stopped; a finished window is copied again
  only if the source's count for it changed since (events arrived: a catch-up run before switching
  over), if some of its events failed, or if verification found it short.
- Verification counts every UTC day of either store's partitions in both stores over the same
  window (`size=0` with a large `total_bound`); spans of partitions longer than two months (old
  events kept in month or year partitions, see partitioning.py) are counted as one window.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import orjson

from ..events.convert import Converter, EventError, format_ts
from .base import CursorError, LogStore, Partition, SearchRequest, StoreError, WriteResult

DAY_MS = 86_400_000
COUNT_BOUND = 2**31 - 1  # "count everything": fits the 32-bit limits search engines put on exact totals
MAX_REASONS = 10  # failures kept with their reason (all are counted)
CHECKPOINT_VERSION = 1


class CheckpointError(ValueError):
    """The checkpoint file is unreadable or belongs to another migration."""


@dataclass
class Step:
    """Reported to the progress callback once before copying (read=0) and after every page."""

    window: str | None  # the window being read (None on the first call)
    read: int  # source events handled by this page
    done: int  # source events handled so far, including those skipped thanks to the checkpoint
    total: int  # events in the source's partitions as listed when the run began


@dataclass
class DayCount:
    start_ms: int | None  # None: the row for events outside the days listed
    end_ms: int | None
    source: int
    dest: int
    exact: bool = True  # False: a count reached COUNT_BOUND

    @property
    def label(self) -> str:
        if self.start_ms is None or self.end_ms is None:  # (None together)
            return "other days"
        day = format_ts(self.start_ms, "day")
        if self.end_ms - self.start_ms != DAY_MS:
            day += " .. " + format_ts(self.end_ms - 1, "day")
        return day


@dataclass
class Verification:
    days: list[DayCount] = field(default_factory=list)  # every day checked, and "other days" if any
    source_total: int = 0
    dest_total: int = 0

    @property
    def fewer(self) -> list[DayCount]:
        """Days the destination holds fewer events of than the source: events missing."""
        return [d for d in self.days if d.dest < d.source]

    @property
    def more(self) -> list[DayCount]:
        """Days the destination holds more events of (it had other events before, or the
        source lost some since, e.g. to retention)."""
        return [d for d in self.days if d.dest > d.source]

    @property
    def inexact(self) -> list[DayCount]:
        return [d for d in self.days if not d.exact]

    def ok(self, allow_extra: bool = False) -> bool:
        return not self.fewer and not self.inexact and (allow_extra or not self.more)


@dataclass
class MigrationReport:
    read: int = 0  # source events read in this run
    copied: int = 0  # stored in the destination
    duplicates: int = 0  # already there (an earlier run, or the destination had them)
    failed: int = 0  # not stored; see `failures`
    failures: list[tuple[str | None, str]] = field(default_factory=list)  # (event.id, reason), the first MAX_REASONS
    skipped: int = 0  # source events not read again thanks to the checkpoint
    partitions: int = 0  # source partitions listed
    windows: int = 0  # time windows they make (days, for both backends)
    windows_copied: int = 0  # windows read (wholly or the rest of one) in this run
    seconds: float = 0.0  # copying (events/s is over this)
    verify_seconds: float = 0.0
    verification: Verification | None = None

    @property
    def rate(self) -> float:
        return self.read / self.seconds if self.seconds > 0 else 0.0

    def ok(self, allow_extra: bool = False) -> bool:
        return not self.failed and (self.verification is None or self.verification.ok(allow_extra))

    def add_failure(self, event_id: str | None, reason: str) -> None:
        self.failed += 1
        if len(self.failures) < MAX_REASONS:
            self.failures.append((event_id, reason))


def checkpoint_label(source_url: str, dest_url: str) -> str:
    """Which migration a checkpoint belongs to, without the URLs' credentials."""
    return f"{_without_credentials(source_url)} -> {_without_credentials(dest_url)}"


def default_checkpoint(source_url: str, dest_url: str) -> Path:
    digest = hashlib.sha256(f"{source_url}\n{dest_url}".encode()).hexdigest()[:12]
    return Path(f"migrate-{digest}.json")


def _without_credentials(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    netloc, slash, path = rest.partition("/")
    return f"{scheme}://{netloc.rpartition('@')[2]}{slash}{path}"


# -- the checkpoint ------------------------------------------------------------------------


class Checkpoint:
    """The state of a migration on disk, replaced atomically (write, fsync, rename)."""

    def __init__(self, path: Path | None, label: str):
        self.path = path
        self.label = label
        self.done: dict[str, dict] = {}  # window -> {"events": source count when it was started}
        self.partial: dict[str, dict] = {}  # window -> {"cursor", "events", "read", "failed"}
        if path is not None and path.exists():
            try:
                state = orjson.loads(path.read_bytes())
                if state.get("version") != CHECKPOINT_VERSION:
                    raise CheckpointError(
                        f"checkpoint {path}: version {state.get('version')!r}, expected {CHECKPOINT_VERSION}"
                    )
                self.done = dict(state["done"])
                self.partial = dict(state["partial"])
            except (orjson.JSONDecodeError, KeyError, TypeError, AttributeError):
                raise CheckpointError(f"checkpoint {path} is not a migration checkpoint") from None
            if label and state.get("label") and state["label"] != label:
                raise CheckpointError(f"checkpoint {path} belongs to another migration ({state['label']})")

    def save(self) -> None:
        if self.path is None:
            return
        state = {
            "version": CHECKPOINT_VERSION,
            "label": self.label,
            "updated": format_ts(datetime.now(UTC)),
            "done": self.done,
            "partial": self.partial,
        }
        temp = self.path.with_name(self.path.name + ".tmp")
        with open(temp, "wb") as out:
            out.write(orjson.dumps(state, option=orjson.OPT_INDENT_2))
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, self.path)


# -- copying -------------------------------------------------------------------------------


@dataclass
class Window:
    """A span of time read as one: the union of source partitions that overlap."""

    start_ms: int
    end_ms: int
    events: int

    @property
    def name(self) -> str:
        def iso(ms: int) -> str:  # not format_ts: the names are keys of checkpoints already written
            return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")

        if self.start_ms % DAY_MS == 0 and self.end_ms - self.start_ms == DAY_MS:
            return iso(self.start_ms)[:10]
        return f"{iso(self.start_ms)}..{iso(self.end_ms)}"


def source_windows(parts: Sequence[Partition]) -> list[Window]:
    windows: list[Window] = []
    for part in sorted(parts, key=lambda p: (p.start_ms, p.end_ms)):
        if windows and part.start_ms < windows[-1].end_ms:
            last = windows[-1]
            last.end_ms, last.events = max(last.end_ms, part.end_ms), last.events + part.events
        else:
            windows.append(Window(part.start_ms, part.end_ms, part.events))
    return windows


def migrate(
    source: LogStore,
    dest: LogStore,
    *,
    batch: int = 2000,
    checkpoint: Path | None = None,
    label: str = "",
    progress: Callable[[Step], None] | None = None,
    verify: bool = True,
    settle_seconds: float = 1.0,
) -> MigrationReport:
    """Copy every event of `source` into `dest`, oldest first, `batch` events per page.

    `checkpoint`: a JSON file recording progress after every page (None: not resumable); `label`
    names the migration inside it (a checkpoint of another migration is refused). Write failures
    are counted and reported, never fatal; StoreError (a store that cannot answer now, or every
    event of 3 pages in a row failing) and exceptions raised by `progress` stop the run with the
    checkpoint at the last page written. `settle_seconds`: how long to wait before counting
    mismatching days a second time (stores whose writes become searchable with a delay)."""
    if batch < 1:
        raise ValueError("batch must be at least 1")
    state = Checkpoint(checkpoint, label)
    report = MigrationReport()
    started = time.monotonic()
    parts = source.partitions()
    windows = source_windows(parts)
    report.partitions, report.windows = len(parts), len(windows)
    total = sum(w.events for w in windows)

    plan: list[tuple[Window, dict | None]] = []
    skipped = 0
    for window in windows:
        done = state.done.get(window.name)
        if done is not None and done.get("events") == window.events:
            skipped += window.events
            continue
        resume = state.partial.get(window.name)
        if resume and (resume.get("failed") or not resume.get("cursor")):
            resume = None  # events of this window were lost last time: copy it again from its start
        if resume:
            skipped += min(resume.get("read", 0), window.events)
        plan.append((window, resume))
    for name in set(state.partial) - {window.name for window, resume in plan if resume}:
        del state.partial[name]  # restarted, or gone from the source
    report.skipped = skipped
    done_so_far = skipped
    if progress:
        progress(Step(None, 0, done_so_far, total))

    converter = Converter()
    refused = 0  # pages in a row of which every event failed
    for window, resume in plan:
        report.windows_copied += 1
        state.done.pop(window.name, None)
        current = resume or {"cursor": None, "events": window.events, "read": 0, "failed": 0}
        state.partial[window.name] = current
        cursor = current["cursor"]
        while True:
            request = SearchRequest(
                start_ms=window.start_ms, end_ms=window.end_ms, newest_first=False, size=batch, total_bound=0, cursor=cursor
            )
            try:
                page = source.search(request)
            except CursorError:
                if cursor is None:
                    raise
                # a cursor the source no longer honours (expired, or from another version):
                # start this window again; what was copied comes back as duplicates
                if resume is not None:
                    report.skipped -= min(resume.get("read", 0), window.events)
                    resume = None
                done_so_far -= current["read"]
                current.update(cursor=None, read=0)
                cursor = None
                continue
            if page.hits:
                failed_before = report.failed
                _copy_page(page.hits, dest, converter, report, current)
                refused = refused + 1 if report.failed - failed_before == len(page.hits) else 0
            current["cursor"] = cursor = page.next_cursor
            current["read"] += len(page.hits)
            report.read += len(page.hits)
            done_so_far += len(page.hits)
            finished = page.next_cursor is None or not page.hits
            if finished:
                if not current["failed"]:
                    state.done[window.name] = {"events": current["events"]}
                del state.partial[window.name]
            state.save()
            if progress:
                progress(Step(window.name, len(page.hits), done_so_far, total))
            if finished:
                break
            if refused >= 3:
                reason = report.failures[-1][1] if report.failures else "unknown"
                raise StoreError(
                    f"every event of {refused} pages in a row failed (last reason: {reason}); "
                    "stopped, the checkpoint is kept"
                )

    report.seconds = time.monotonic() - started
    if verify:
        report.verification = verify_counts(source, dest, settle_seconds=settle_seconds)
        report.verify_seconds = time.monotonic() - started - report.seconds
        short = report.verification.fewer
        if short:  # copy those windows again next run
            for window in windows:
                if any(
                    d.start_ms is not None
                    and d.end_ms is not None
                    and d.start_ms < window.end_ms
                    and window.start_ms < d.end_ms
                    for d in short
                ):
                    state.done.pop(window.name, None)
            state.save()
    return report


def _copy_page(hits: list[dict], dest: LogStore, converter: Converter, report: MigrationReport, current: dict) -> None:
    docs, ids = [], []
    for hit in hits:
        meta = hit.get("event")
        event_id = meta.get("id") if isinstance(meta, dict) else None
        if not isinstance(event_id, str):
            _fail(report, current, None, "the source event has no event.id")
            continue
        try:
            ts = converter.parse_timestamp(hit.get("@timestamp"), "@timestamp")[0]
        except EventError as exc:
            _fail(report, current, event_id, f"@timestamp: {exc.reason}")
            continue
        docs.append({**hit, "_ts": ts, "_client_id": True})  # a copy: write consumes the private keys
        ids.append(event_id)
    if not docs:
        return
    result = _write(dest, docs)
    report.copied += result.stored
    report.duplicates += len(result.duplicates)
    for pos, reason in result.failed:
        _fail(report, current, ids[pos] if 0 <= pos < len(ids) else None, reason)


def _write(dest: LogStore, docs: list[dict]) -> WriteResult:
    """One write; if the backend raises on the batch (rather than reporting per item), each
    event is written alone so that one bad event does not take its neighbours down."""
    copies = [dict(d) for d in docs]
    try:
        return dest.write(copies)
    except StoreError:
        raise
    except Exception:  # noqa: BLE001 (an item the backend could not handle: isolate it)
        pass
    result = WriteResult()
    for pos, doc in enumerate(docs):
        try:
            one = dest.write([dict(doc)])
        except StoreError:
            raise
        except Exception as exc:  # noqa: BLE001
            result.failed.append((pos, f"{type(exc).__name__}: {exc}"))
            continue
        result.stored += one.stored
        result.duplicates += [pos for _ in one.duplicates]
        result.failed += [(pos, reason) for _, reason in one.failed]
    return result


def _fail(report: MigrationReport, current: dict, event_id: str | None, reason: str) -> None:
    report.add_failure(event_id, reason)
    current["failed"] += 1


# -- verification --------------------------------------------------------------------------


def _count(store: LogStore, start_ms: int | None, end_ms: int | None) -> tuple[int, bool]:
    result = store.search(SearchRequest(start_ms=start_ms, end_ms=end_ms, size=0, total_bound=COUNT_BOUND))
    return result.total, result.total_exact


LONG_WINDOW_DAYS = 62


def _day_windows(parts: Sequence[Partition]) -> list[tuple[int, int]]:
    """Non-overlapping windows over the partitions: their UTC days, except that a span of
    overlapping partitions longer than LONG_WINDOW_DAYS (a year partition) is one window."""
    windows: set[tuple[int, int]] = set()
    for span in source_windows(parts):
        first, last = span.start_ms // DAY_MS, (span.end_ms - 1) // DAY_MS
        if last - first > LONG_WINDOW_DAYS:
            windows.add((span.start_ms, span.end_ms))
            continue
        windows.update((d * DAY_MS, (d + 1) * DAY_MS) for d in range(first, last + 1))
    return sorted(windows)


def verify_counts(source: LogStore, dest: LogStore, settle_seconds: float = 0.0) -> Verification:
    """Events per UTC day of the source in both stores, the destination's events on its other
    days, and the totals. Days that differ are counted again after `settle_seconds`."""
    # both stores' partitions at once: the windows never overlap, so no event is counted twice
    windows = _day_windows([*source.partitions(), *dest.partitions()])

    def count_days(selected):
        out = []
        for start, end in selected:
            s, s_exact = _count(source, start, end)
            d, d_exact = _count(dest, start, end)
            out.append(DayCount(start, end, s, d, s_exact and d_exact))
        return out

    # days neither store has an event on say nothing (a month partition lists thirty of them)
    days = [d for d in count_days(windows) if d.source or d.dest or not d.exact]
    if settle_seconds and any(d.source != d.dest for d in days):
        time.sleep(settle_seconds)
        recount = {
            (d.start_ms, d.end_ms): d for d in count_days([(d.start_ms, d.end_ms) for d in days if d.source != d.dest])
        }
        days = [recount.get((d.start_ms, d.end_ms), d) for d in days]
    source_total, s_exact = _count(source, None, None)
    dest_total, d_exact = _count(dest, None, None)
    # events in neither store's partitions as listed (a partition created since, or a backend
    # whose partitions do not tell its days): one row for the rest
    if s_exact and d_exact:  # (totals past COUNT_BOUND: the days alone are compared)
        rest_src = source_total - sum(d.source for d in days)
        rest_dest = dest_total - sum(d.dest for d in days)
        if rest_src or rest_dest:
            days.append(DayCount(None, None, rest_src, rest_dest))
    return Verification(days=days, source_total=source_total, dest_total=dest_total)
