"""The store side of the listeners: a batch of received frames -> parsed, mapped, through the
ingest pipeline (the same `Ingestor` as every other way in) -> a small result the listener adds
to its counters.

Runs in `PLATLOGS_SYSLOG_WRITERS` writer processes (2 by default; each its own store writer, as
each web worker is), so parsing, normalising and indexing use every core while the listener
process only reads sockets; with 0, in one thread of the listener process.

A batch the store fails is tried again with back-off (0.5, 1, 2, 4, 8 s; the listener's readers
wait meanwhile: back-pressure), then counted as dropped (`dropped.storage`).
"""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from .mapping import to_json
from .parse import parse

if TYPE_CHECKING:
    from ..storage import LogStore

STORAGE_RETRIES = 6
SYSLOG_PROTOCOL, SYSLOG_SOURCE = "syslog", "syslog listeners"  # their row in the ingest status

# a frame as the listener hands it over: (bytes, receive time in ms, the sender's address, cut?)
Item = tuple


class BatchWriter:
    def __init__(self, ingestor, tz, sleep=time.sleep):
        self.ingestor = ingestor
        self.tz = tz
        self.sleep = sleep

    def write(self, items: list[Item]) -> dict:
        """{"stored", "raw", "refused": {reason: n}, "dropped": n} for one batch. Never raises.
        Counted in the ingest status too (protocol syslog), when the Ingestor has IngestStats."""
        stats = getattr(self.ingestor, "stats", None)
        if stats is None or not items:
            return self._write(items)
        with stats.counting(SYSLOG_PROTOCOL, SYSLOG_SOURCE, "syslog", sum(len(item[0]) for item in items)):
            return self._write(items)

    def _write(self, items: list[Item]) -> dict:
        result: dict[str, Any] = {"stored": 0, "raw": 0, "refused": {}, "dropped": 0}
        try:
            tz = self.tz
            lines = []
            for frame, received_ms, peer, truncated in items:
                msg = parse(frame, received_ms, tz)
                if msg.format == "raw":
                    result["raw"] += 1
                lines.append(to_json(msg, received_ms, peer, truncated))
            self._store(lines, result)
        except Exception as exc:  # noqa: BLE001 a defect must not stop the listeners: counted, said, and on
            result["dropped"] += len(items) - result["stored"]
            print(f"syslog: a batch of {len(items)} was not stored: {exc!r}", file=sys.stderr, flush=True)
        return result

    def _store(self, lines: list[bytes], result: dict) -> None:
        refused = result["refused"]
        delay = 0.5
        for attempt in range(STORAGE_RETRIES):
            report = self.ingestor.ingest(enumerate(lines), check_size=True)
            result["stored"] += report.accepted
            failed = report.failed_numbers  # the store could not take these (whatever its words): again
            retry = [lines[number] for number in sorted(failed)]
            for error in report.errors:
                if error["index"] not in failed:
                    reason = error["reason"][:200]
                    refused[reason] = refused.get(reason, 0) + 1
            unlisted = report.rejected - len(report.errors) - len(failed - {e["index"] for e in report.errors})
            if unlisted > 0:  # refused past the report's list of errors: their reasons are not known
                refused["other"] = refused.get("other", 0) + unlisted
            if not retry:
                return
            lines = retry
            if attempt < STORAGE_RETRIES - 1:
                self.sleep(delay)
                delay *= 2
        result["dropped"] += len(lines)


def add_result(counters, result: dict) -> None:
    """A batch's result into the listener's counters."""
    counters.stored += result["stored"]
    counters.raw += result["raw"]
    counters.dropped["storage"] += result["dropped"]
    counters.batches += 1
    for reason, n in result["refused"].items():
        counters.refuse(reason, n)


def build_writer(settings) -> tuple[BatchWriter, LogStore]:
    """A BatchWriter on its own store connection, and that store (to close)."""
    from ..ingest.pipeline import Ingestor
    from ..services import build_normalizer
    from ..storage import open_store

    store = open_store(settings.store_url, **settings.store_options())
    ingestor = Ingestor(
        build_normalizer(settings),
        store,
        batch_size=max(settings.syslog.batch_size, 1),
        max_event_bytes=settings.max_event_bytes,
        max_errors=settings.max_reported_errors,
        max_event_age_days=settings.max_event_age_days,
    )
    from ..ingest.stats import IngestStats
    from ..ingest.stats_files import stats_dir

    ingestor.stats = IngestStats(stats_dir(settings.data_dir))
    return BatchWriter(ingestor, ZoneInfo(settings.syslog.timezone)), store


# -- in a writer process ----------------------------------------------------------------------

_process_writer: BatchWriter | None = None


def init_process(settings) -> None:
    global _process_writer
    import signal
    from multiprocessing.util import Finalize

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the listener, which ends the pool in order
    from ..cli_common import tune_gc

    writer, store = build_writer(settings)
    _process_writer = writer
    Finalize(store, store.close, exitpriority=10)  # closed when the pool ends the process
    assert writer.ingestor.stats is not None  # (build_writer gives every writer its counters)
    Finalize(writer, writer.ingestor.stats.close, exitpriority=11)  # its last counters written
    tune_gc()


def write_in_process(items: list[Item]) -> dict:
    assert _process_writer is not None, "init_process runs first (the pool's initializer)"
    return _process_writer.write(items)
