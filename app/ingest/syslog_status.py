"""The syslog listeners' counters: kept in the listener process (app/syslog/server.py), written each
second as JSON to `<data dir>/syslog-status.json` (atomically: a new file renamed over the old), read
by `read_status` (the ingest status, app/ingest/status.py; `platlogs syslog --status`). It sits in
ingest/ beside the other counters files (stats_files.py): the listeners write it and the ingest
status reads it, so neither package has to import the other's back (app/syslog imports app/ingest).

    {"pid": 123, "started": "…Z", "updated": "…Z", "listening": ["tcp 127.0.0.1:5514", "udp …"],
     "received": 10, "bytes": 1234, "stored": 9, "refused": {"<reason>": 1},
     "dropped": {"queue_full": 0, "kernel": 0, "storage": 0}, "truncated": 0, "raw": 0,
     "connections": {"open": 1, "total": 3, "refused": 0}, "queue": 0, "batches": 2,
     "by_protocol": {"tcp": {"received": 8, "bytes": 1000}, "udp": {...}, "tls": {...}}}

received   messages read off the network (frames, datagrams)
stored     of those, committed to the store (duplicates of stored events included)
refused    turned away by the ingest pipeline, by reason (at most MAX_REASONS reasons; "other")
dropped    lost before the pipeline: queue_full (UDP while the queue was full), kernel (UDP the
           kernel's socket buffer dropped, read from /proc/net/udp), storage (the store failed
           STORAGE_RETRIES times in a row)
truncated  frames cut at PLATLOGS_SYSLOG_MAX_MESSAGE_BYTES (stored, marked)
raw        messages with no readable syslog header (stored as the whole line)
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from ..events.convert import format_ts

STATUS_FILE = "syslog-status.json"
MAX_REASONS = 20
PROTOCOLS = ("tcp", "tls", "udp")


class Counters:
    def __init__(self):
        self.started_ms = int(time.time() * 1000)
        self.listening: list[str] = []
        self.received = 0
        self.bytes = 0
        self.stored = 0
        self.refused: dict[str, int] = {}
        self.dropped = {"queue_full": 0, "kernel": 0, "storage": 0}
        self.truncated = 0
        self.raw = 0
        self.connections = {"open": 0, "total": 0, "refused": 0}
        self.queue = 0
        self.batches = 0
        self.by_protocol = {p: {"received": 0, "bytes": 0} for p in PROTOCOLS}

    def refuse(self, reason: str, n: int = 1) -> None:
        reason = reason[:200]
        if reason not in self.refused and len(self.refused) >= MAX_REASONS:
            reason = "other"
        self.refused[reason] = self.refused.get(reason, 0) + n

    def as_dict(self) -> dict:
        return {
            "pid": os.getpid(),
            "started": format_ts(self.started_ms),
            "updated": format_ts(int(time.time() * 1000)),
            "listening": self.listening,
            "received": self.received,
            "bytes": self.bytes,
            "stored": self.stored,
            "refused": dict(self.refused),
            "dropped": dict(self.dropped),
            "truncated": self.truncated,
            "raw": self.raw,
            "connections": dict(self.connections),
            "queue": self.queue,
            "batches": self.batches,
            "by_protocol": {p: dict(v) for p, v in self.by_protocol.items()},
        }

    def write(self, data_dir: Path) -> None:
        path = data_dir / STATUS_FILE
        tmp = path.with_name(f".{STATUS_FILE}.{os.getpid()}")
        tmp.write_text(json.dumps(self.as_dict()))
        os.replace(tmp, path)


def read_status(data_dir: Path) -> dict | None:
    """The listeners' last written counters, with `age_seconds` (how old they are: more than a
    few seconds means the listener process is gone), or None when no listener ever ran here."""
    path = Path(data_dir) / STATUS_FILE
    try:
        status = json.loads(path.read_text())
        status["age_seconds"] = round(time.time() - path.stat().st_mtime, 1)
    except (OSError, ValueError):
        return None
    return status
