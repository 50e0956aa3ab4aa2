"""The ingest counters on disk: one small JSON file per process (and per IngestStats in it) under
`<data dir>/ingest-stats/`, written atomically each second by that process (app/ingest/stats.py),
and summed by the reader (app/ingest/status.py).

    {"version": 1, "host": "web-1", "pid": 123, "instance": "3f…", "started_ms": …, "updated_ms": …,
     "in_flight": 0, "queue": {"depth": 0, "peak": 3} | null,
     "rows": [{"protocol": "otlp", "source": "checkout shipper", "shipper": "opentelemetry",
               "requests": 4, "accepted": 2048, "duplicates": 0, "refused": {"schema": 1}, "bytes": 1234,
               "first_seen_ms": …, "last_seen_ms": …, "newest_ts_ms": …,
               "rate": [[bucket start s, accepted, refused, bytes], …],   # last hour, 15 s buckets
               "lag": [[minute start s, [count per lag bucket…]], …]}]}    # last 5 minutes

Counters survive a restart: a process that is gone (same host, its pid no longer running) has its
file folded into `retired.json` by the next reader, under a lock, once (the file's instance id is
recorded), so totals since the data directory was made keep adding up while the files stay as
many as the live processes. Rates and lag keep only their windows in any file.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import time
from pathlib import Path

from .stats import LAG_BUCKET_S, LAG_WINDOW_S, RATE_BUCKET_S, RATE_WINDOW_S

VERSION = 1
RETIRED = "retired.json"
MAX_MERGED_IDS = 2000
HOST = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in socket.gethostname())[:60] or "host"


def stats_dir(data_dir) -> Path:
    return Path(data_dir) / "ingest-stats"


def _floors(now_s: int) -> tuple[int, int]:
    return now_s - RATE_WINDOW_S - RATE_BUCKET_S, now_s - LAG_WINDOW_S - LAG_BUCKET_S


def snapshot(stats) -> dict:
    """`stats` (an IngestStats, its lock held) as its file's JSON; prunes buckets out of their window."""
    now_ms = int(time.time() * 1000)
    rate_floor, lag_floor = _floors(now_ms // 1000)
    rows = []
    for row in stats.rows.values():
        for t in [t for t in row.rate if t < rate_floor]:
            del row.rate[t]
        for t in [t for t in row.lag if t < lag_floor]:
            del row.lag[t]
        rows.append(
            {
                "protocol": row.protocol,
                "source": row.source,
                "shipper": row.shipper,
                "requests": row.requests,
                "accepted": row.accepted,
                "duplicates": row.duplicates,
                "refused": dict(row.refused),
                "bytes": row.bytes,
                "first_seen_ms": row.first_seen_ms,
                "last_seen_ms": row.last_seen_ms,
                "newest_ts_ms": row.newest_ts_ms,
                "rate": [[t, *v] for t, v in sorted(row.rate.items())],
                "lag": [[t, list(v)] for t, v in sorted(row.lag.items())],
            }
        )
    queue = None
    if stats.queue_probe is not None:
        try:
            depth, peak = stats.queue_probe()
            queue = {"depth": depth, "peak": peak}
        except Exception:  # noqa: BLE001 the queue's probe is optional: a status without it
            queue = None
    return {
        "version": VERSION,
        "host": HOST,
        "pid": stats.pid,
        "instance": stats.instance,
        "started_ms": stats.started_ms,
        "updated_ms": now_ms,
        "in_flight": stats.in_flight,
        "queue": queue,
        "rows": rows,
    }


def _atomic_write(path: Path, data: dict) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, separators=(",", ":")))
    os.replace(tmp, path)


def write_snapshot(directory: Path, snap: dict) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    _atomic_write(directory / f"{snap['host']}-{snap['pid']}-{snap['instance']}.json", snap)


def _pid_alive(pid) -> bool:
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, ValueError, TypeError, OverflowError):
        return True
    return True


def _load(path: Path) -> dict | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("version") != VERSION or not isinstance(data.get("rows"), list):
        return None
    return data


def read_snapshots(directory: Path, *, retire: bool = True) -> list[dict]:
    """Every process's last counters (the retired ones summed into one), each with `alive`."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    if retire:
        _retire(directory)
    out = []
    for path in sorted(directory.glob("*.json")):
        snap = _load(path)
        if snap is None:
            continue
        if path.name == RETIRED:
            snap["alive"] = False
        else:
            snap["alive"] = snap.get("host") != HOST or _pid_alive(snap.get("pid"))
        out.append(snap)
    return out


def _retire(directory: Path) -> None:
    """Fold the files of processes that are gone into retired.json (once each, under a lock)."""
    gone = []
    for path in directory.glob("*.json"):
        if path.name == RETIRED:
            continue
        parts = path.stem.split("-")
        if len(parts) >= 3 and "-".join(parts[:-2]) == HOST and not _pid_alive(parts[-2]):
            gone.append(path)
    if not gone:
        return
    with open(directory / ".lock", "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        retired = _load(directory / RETIRED) or {
            "version": VERSION,
            "host": HOST,
            "pid": None,
            "instance": "retired",
            "merged": [],
            "rows": [],
        }
        merged = list(retired.get("merged") or [])
        rows = merge_rows([retired])
        done = []
        for path in gone:
            snap = _load(path)
            if snap is not None and snap.get("instance") not in merged:
                merge_rows([snap], into=rows)
                merged.append(snap.get("instance"))
            done.append(path)
        rate_floor, lag_floor = _floors(int(time.time()))
        retired["rows"] = [_as_file_row(row, rate_floor, lag_floor) for row in rows.values()]
        retired["merged"] = merged[-MAX_MERGED_IDS:]
        retired["updated_ms"] = int(time.time() * 1000)
        _atomic_write(directory / RETIRED, retired)
        for path in done:  # after retired.json holds them (a crash between: ids say merged)
            with contextlib.suppress(OSError):
                path.unlink()


def _as_file_row(row: dict, rate_floor: int, lag_floor: int) -> dict:
    out = {k: v for k, v in row.items() if k not in ("rate", "lag")}
    out["rate"] = [[t, *v] for t, v in sorted(row["rate"].items()) if t >= rate_floor]
    out["lag"] = [[t, v] for t, v in sorted(row["lag"].items()) if t >= lag_floor]
    return out


def merge_rows(snaps: list[dict], into: dict | None = None) -> dict:
    """The rows of `snaps` summed per (protocol, source): rate and lag as {bucket start: counts}.
    Malformed rows (a file edited by hand) are skipped."""
    total = {} if into is None else into
    for snap in snaps:
        for r in snap.get("rows", ()):
            try:
                _merge_row(total, r)
            except (KeyError, TypeError, ValueError, IndexError):
                continue
    return total


def _merge_row(total: dict, r: dict) -> None:
    key = (str(r["protocol"]), str(r["source"]))
    t = total.get(key)
    if t is None:
        t = total[key] = {
            "protocol": key[0],
            "source": key[1],
            "shipper": "",
            "requests": 0,
            "accepted": 0,
            "duplicates": 0,
            "refused": {},
            "bytes": 0,
            "first_seen_ms": 0,
            "last_seen_ms": 0,
            "newest_ts_ms": None,
            "rate": {},
            "lag": {},
        }
    for name in ("requests", "accepted", "duplicates", "bytes"):
        t[name] += int(r.get(name) or 0)
    for reason, n in (r.get("refused") or {}).items():
        t["refused"][str(reason)] = t["refused"].get(str(reason), 0) + int(n)
    first, last = int(r.get("first_seen_ms") or 0), int(r.get("last_seen_ms") or 0)
    if first and (not t["first_seen_ms"] or first < t["first_seen_ms"]):
        t["first_seen_ms"] = first
    if last >= t["last_seen_ms"]:
        t["last_seen_ms"] = last
        t["shipper"] = str(r.get("shipper") or t["shipper"])
    newest = r.get("newest_ts_ms")
    if newest is not None and (t["newest_ts_ms"] is None or int(newest) > t["newest_ts_ms"]):
        t["newest_ts_ms"] = int(newest)
    rate = t["rate"]
    for start, *values in r.get("rate") or ():
        bucket = rate.setdefault(int(start), [0, 0, 0])
        for i, v in enumerate(values[:3]):
            bucket[i] += int(v)
    lag = t["lag"]
    for start, counts in r.get("lag") or ():
        bucket = lag.get(int(start))
        if bucket is None:
            lag[int(start)] = [int(c) for c in counts]
        else:
            for i, c in enumerate(counts[: len(bucket)]):
                bucket[i] += int(c)
