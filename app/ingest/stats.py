"""Ingest counters kept by the server: per (protocol, source), what arrived, what was stored, what
was refused and why, how late the events were. In memory in each process, written to a small
file of that process every second (app/ingest/stats_files.py), summed by the reader
(app/ingest/status.py): gunicorn's workers, the CLI and any other process add up.

The hot path is cheap on purpose (bench/ingest_status_overhead.py measures it):
- the caller says where its items come from with `origin(...)` (a context variable: the HTTP
  hook in app/ingest/origin_hooks.py sets it per request; `platlogs ingest` around its run);
- per batch the Ingestor calls `Tally.batch`: the newest event time (one C-level max over the
  batch) and the lag of at most LAG_SAMPLES evenly spaced events into fixed buckets;
- per request (`Tally.finish`) one lock and a few dict updates; refusals come counted by kind in
  the report (IngestReport.refused: each kind given where the refusal was raised).

Bounded: at most MAX_ROWS (protocol, source) rows per process (then source "(other)", one more
row per protocol), a fixed
set of refusal reasons (app/events/refusals.py), rate buckets for the last hour, lag buckets for the last
LAG_WINDOW_S. Source names come from API key names (admins type them) and are hostile input:
cut to MAX_SOURCE_CHARS and run through the project's redactor before they are kept.
"""

from __future__ import annotations

import contextvars
import os
import threading
import time
import weakref
from bisect import bisect_left
from collections.abc import Callable
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from operator import itemgetter

from ..events import refusals

RATE_BUCKET_S = 15  # resolution of the rates (1 min / 15 min / 1 h)
RATE_WINDOW_S = 3600
LAG_BUCKET_S = 60
LAG_WINDOW_S = 300  # p50 / p95 of the lag over the last 5 minutes
LAG_SAMPLES = 32  # events per batch whose lag is bucketed (each weighs len/samples)
# upper bounds (ms) of the lag buckets; one more bucket past the last. An event stamped in the
# future (within the tolerance) counts in the first (<= 0).
LAG_BOUNDS_MS = (
    0,
    100,
    250,
    500,
    1_000,
    2_000,
    5_000,
    10_000,
    30_000,
    60_000,
    120_000,
    300_000,
    600_000,
    1_800_000,
    3_600_000,
    7_200_000,
    21_600_000,
    43_200_000,
    86_400_000,
    172_800_000,
    604_800_000,
    2_592_000_000,
)
MAX_ROWS = 64
MAX_SOURCE_CHARS = 80
OTHER_SOURCE = "(other)"

# why an item or a request was refused: one vocabulary, app/events/refusals.py; an item's kind comes
# with its refusal (IngestReport.refused), a request refused as a whole is classified by its status
_REQUEST_REASONS = {
    401: refusals.AUTH,
    403: refusals.AUTH,
    413: refusals.TOO_LARGE,
    415: refusals.UNSUPPORTED,
    429: refusals.BACK_PRESSURE,
    503: refusals.BACK_PRESSURE,
}


def request_reason(status: int) -> str:
    """The kind (app/events/refusals.py) of a request refused as a whole (before any item was read)."""
    return _REQUEST_REASONS.get(status, refusals.BAD_REQUEST if 400 <= status < 500 else refusals.OTHER)


@dataclass
class Origin:
    """Where the items of the current request (or CLI run) come from."""

    protocol: str
    source: str
    shipper: str = ""
    bytes: int = 0
    reported: bool = False  # the Ingestor counted this request's items


_origin: contextvars.ContextVar[Origin | None] = contextvars.ContextVar("platlogs_ingest_origin", default=None)


def current_origin() -> Origin | None:
    return _origin.get()


def set_origin(value: Origin | None):
    return _origin.set(value)


def reset_origin(token) -> None:
    _origin.reset(token)


def count_refused(stats: IngestStats | None, kinds: list[str]) -> None:
    """Items refused before the Ingestor saw them (an Elasticsearch _bulk action line that is
    malformed or names no index): the kind of each (app/events/refusals.py), for the current origin."""
    where = _origin.get()
    if stats is None or where is None or not kinds:
        return
    refused: dict[str, int] = {}
    for kind in kinds:
        refused[kind] = refused.get(kind, 0) + 1
    where.reported = True
    stats.add(where, refused=refused, request=False)


def _new_lag() -> list[int]:
    return [0] * (len(LAG_BOUNDS_MS) + 1)


@dataclass
class Row:
    protocol: str
    source: str
    shipper: str = ""
    requests: int = 0
    accepted: int = 0  # stored, or already stored (duplicates included)
    duplicates: int = 0
    refused: dict[str, int] = field(default_factory=dict)
    bytes: int = 0
    first_seen_ms: int = 0
    last_seen_ms: int = 0
    newest_ts_ms: int | None = None  # the newest @timestamp taken
    rate: dict[int, list[int]] = field(default_factory=dict)  # bucket start (s) -> [accepted, refused, bytes]
    lag: dict[int, list[int]] = field(default_factory=dict)  # minute start (s) -> counts per lag bucket


class Tally:
    """One request's (or CLI run's) counts, gathered without a lock; `finish` adds them up."""

    __slots__ = ("lag", "newest", "origin", "stats")

    def __init__(self, stats: IngestStats, where: Origin):
        self.stats, self.origin = stats, where
        self.newest: int | None = None
        self.lag: list[int] | None = None

    def batch(self, events: list[dict]) -> None:
        """Before the batch is written (the store may consume its events)."""
        n = len(events)
        if not n:
            return
        now_ms = time.time_ns() // 1_000_000
        newest = max(map(_TS, events))
        if self.newest is None or newest > self.newest:
            self.newest = newest
        lag = self.lag if self.lag is not None else _new_lag()
        step = max(1, n // LAG_SAMPLES)
        for i in range(0, n, step):
            lag[bisect_left(LAG_BOUNDS_MS, now_ms - events[i]["_ts"])] += step
        self.lag = lag

    def finish(self, report) -> None:
        self.origin.reported = True
        self.stats.add(
            self.origin,
            accepted=report.accepted,
            duplicates=report.duplicates,
            refused=dict(report.refused),  # every refused item by its kind, listed in the errors or not
            newest=self.newest,
            lag=self.lag,
            request=False,
        )


_TS = itemgetter("_ts")


class IngestStats:
    """This process's counters (thread-safe). `directory`: where stats_files writes them."""

    def __init__(self, directory, redactor=None):
        from pathlib import Path

        self.directory = Path(directory)
        self.redactor = redactor
        self._lock = threading.Lock()
        self._reset()

    def _reset(self) -> None:
        import uuid

        self.pid = os.getpid()
        self.instance = uuid.uuid4().hex[:12]
        self.started_ms = int(time.time() * 1000)
        self.rows: dict[tuple[str, str], Row] = {}
        self.in_flight = 0
        self.dirty = False
        self.flushed_at = 0.0
        # () -> (depth, peak since last asked), set by the owner
        self.queue_probe: Callable[[], tuple[int, int]] | None = None
        self._names: dict[str, str] = {}

    # -- the hot path ---------------------------------------------------------------------------

    def tally(self) -> Tally | None:
        """A Tally for the current origin, or None when nobody said where the items come from
        (the reading trail, `platlogs demo`): those are not counted."""
        where = _origin.get()
        if where is None:
            return None
        self._forked()
        return Tally(self, where)

    def _forked(self) -> None:
        if self.pid != os.getpid():  # a fork: the parent's counts are the parent's
            self._lock = threading.Lock()
            self._reset()

    def add(
        self,
        where: Origin,
        *,
        accepted: int = 0,
        duplicates: int = 0,
        refused: dict[str, int] | None = None,
        newest: int | None = None,
        lag: list[int] | None = None,
        request: bool = True,
    ) -> None:
        now_ms = time.time_ns() // 1_000_000
        now_s = now_ms // 1000
        refused_n = sum(refused.values()) if refused else 0
        self._forked()
        source = self._name(where.source)
        with self._lock:
            row = self._row(where.protocol, source, now_ms)
            if where.shipper:
                row.shipper = where.shipper
            if request:
                row.requests += 1
                row.bytes += where.bytes
            row.accepted += accepted
            row.duplicates += duplicates
            if refused:
                for key, n in refused.items():
                    row.refused[key] = row.refused.get(key, 0) + n
            row.last_seen_ms = now_ms
            if newest is not None and (row.newest_ts_ms is None or newest > row.newest_ts_ms):
                row.newest_ts_ms = newest
            start = now_s - now_s % RATE_BUCKET_S
            bucket = row.rate.get(start)
            if bucket is None:
                bucket = row.rate[start] = [0, 0, 0]
            bucket[0] += accepted
            bucket[1] += refused_n
            bucket[2] += where.bytes if request else 0
            if lag is not None:
                minute = now_s - now_s % LAG_BUCKET_S
                counts = row.lag.get(minute)
                if counts is None:
                    row.lag[minute] = list(lag)
                else:
                    for i, n in enumerate(lag):
                        if n:
                            counts[i] += n
            self.dirty = True
        _ensure_flusher(self)

    def entered(self, n: int) -> None:
        """A request begins (1) or ends (-1): "requests being ingested"."""
        self._forked()
        with self._lock:
            self.in_flight += n

    def end_request(self, where: Origin, status: int = 200) -> None:
        """A request (or CLI run) is over: count it and its bytes; one refusal by its status when
        it was refused as a whole, before the Ingestor saw any item (auth, 413, 415, …)."""
        refused = {request_reason(status): 1} if status >= 400 and not where.reported else None
        self.add(where, refused=refused)

    @contextmanager
    def counting(self, protocol: str, source: str, shipper: str = "", size: int = 0):
        """Items ingested inside the block (by any Ingestor with these stats) count for
        (protocol, source): `platlogs ingest` uses it; HTTP requests get theirs from origin_hooks."""
        where = Origin(protocol, source, shipper, size)
        token = _origin.set(where)
        try:
            yield where
        finally:
            _origin.reset(token)
            self.end_request(where)

    def _row(self, protocol: str, source: str, now_ms: int) -> Row:
        key = (protocol, source)
        row = self.rows.get(key)
        if row is None:
            if len(self.rows) >= MAX_ROWS:
                key = (protocol, OTHER_SOURCE)
                row = self.rows.get(key)
            if row is None:
                row = self.rows[key] = Row(key[0], key[1], first_seen_ms=now_ms)
        return row

    def _name(self, raw: str) -> str:
        """A source name safe to keep and show: cut, control characters out, secrets redacted."""
        known = self._names.get(raw)
        if known is not None:
            return known
        name = "".join(ch if ch.isprintable() else "?" for ch in str(raw)[:MAX_SOURCE_CHARS]) or "(unnamed)"
        if self.redactor is not None:
            name = self.redactor.scrub(name)[0]
        if len(self._names) < 4 * MAX_ROWS:
            self._names[raw] = name
        return name

    # -- the writer side ------------------------------------------------------------------------

    def snapshot(self) -> dict:
        """This process's counters as the JSON its file holds (old buckets pruned)."""
        from .stats_files import snapshot

        with self._lock:
            self.dirty = False
            return snapshot(self)

    def flush(self) -> None:
        from .stats_files import write_snapshot

        if self.pid != os.getpid():
            return
        self.flushed_at = time.monotonic()
        write_snapshot(self.directory, self.snapshot())

    def close(self) -> None:
        with _flushers_lock:
            _live.discard(self)
        try:
            if self.rows or self.in_flight:
                self.flush()
        except OSError:
            pass


# -- one background thread per process writes every live IngestStats that changed -------------

FLUSH_S = 1.0
HEARTBEAT_S = 10.0  # unchanged counters are written again this often (the queue depth, "written at")
_live: weakref.WeakSet[IngestStats] = weakref.WeakSet()  # an app dropped unclosed is not kept alive
_flushers_lock = threading.Lock()
_flusher_pid: int | None = None


def _ensure_flusher(stats: IngestStats) -> None:
    global _flusher_pid
    if stats in _live and _flusher_pid == os.getpid():
        return
    with _flushers_lock:
        _live.add(stats)
        if _flusher_pid != os.getpid():
            _flusher_pid = os.getpid()
            threading.Thread(target=_flush_loop, name="ingest-stats", daemon=True).start()


def _flush_loop() -> None:
    pid = os.getpid()
    while _flusher_pid == pid:
        time.sleep(FLUSH_S)
        _flush_due()


def _flush_due() -> None:
    """Write every live IngestStats that changed (its own function: no reference outlives it)."""
    with _flushers_lock:
        live = list(_live)
    now = time.monotonic()
    for stats in live:
        due = stats.dirty or (
            stats.queue_probe is not None and now - stats.flushed_at > HEARTBEAT_S and stats.directory.is_dir()
        )
        if due:
            # a full disk must not stop ingest; the next second tries again
            with suppress(Exception):
                stats.flush()


def _after_fork() -> None:
    global _flusher_pid
    _flusher_pid = None
    _live.clear()


os.register_at_fork(after_in_child=_after_fork)
