"""The ingest status: what every process's counters (app/ingest/stats.py, summed from their files,
app/ingest/stats_files.py) and the syslog listeners' (app/ingest/syslog_status.py) say, as one dict.
The page (/ingest/status), the JSON API (/api/v1/ingest/status) and `platlogs ingest-status`
all call `ingest_status` — the policies (windows, top N, percentiles) live here once.

    {"now": "…Z", "since": "…Z" | null,
     "totals": {"accepted", "duplicates", "refused", "bytes", "requests", "rate": {"1m", "15m", "1h"}},
     "protocols": [{"protocol", "accepted", "duplicates", "refused", "bytes", "requests", "rate": {…},
                    "last_seen", "newest_event", "newest_event_age_s", "lag": {…}}],
     "sources":   [the same per (protocol, source), plus "source", "shipper", "refused_by": {reason: n}],
     "refusals":  [{"reason", "description", "count"}],   # all protocols, most first
     "queues":    {"group_commit": {"depth", "peak"} | null, "syslog": {"depth", "max"} | null,
                   "in_flight": n},
     "lag": {"window_s": 300, "p50_ms", "p95_ms", "samples"},    # over every source
     "syslog": <read_status()> | null,
     "processes": [{"host", "pid", "alive", "updated", "started"}]}

Rates are accepted events per second over the last 1 min / 15 min / 1 h (15 s buckets: the
minute is 60-75 s). Lag is ingest time − @timestamp, from fixed buckets: a percentile is the
upper bound of the bucket it falls in (`p95_ms` 5000 means "at most 5 s"); null without data.
Counts are since the data directory's first ingest (processes that ended are kept, summed).
"""

from __future__ import annotations

import contextlib
import time
from pathlib import Path

from ..events.convert import format_ts
from ..events.refusals import REASONS
from .stats import LAG_BOUNDS_MS, LAG_WINDOW_S, OTHER_SOURCE, RATE_BUCKET_S
from .stats_files import merge_rows, read_snapshots, stats_dir
from .syslog_status import read_status

TOP_SOURCES = 20
WINDOWS = {"1m": 60, "15m": 900, "1h": 3600}


def ingest_status(data_dir: Path, *, stats=None, top: int = TOP_SOURCES, now_ms: int | None = None) -> dict:
    """The status of ingest into the data directory `data_dir`. `stats`: this process's
    IngestStats, written out first so the answer includes this very process's last requests."""
    if stats is not None:
        with contextlib.suppress(OSError):
            stats.flush()
    now_ms = now_ms if now_ms is not None else int(time.time() * 1000)
    snaps = read_snapshots(stats_dir(data_dir))
    rows = merge_rows(snaps)
    sources = _top(list(rows.values()), top)
    by_protocol: dict[str, dict] = {}
    for row in rows.values():
        merge_rows([{"rows": [dict(_file_row(row), source="*")]}], into=by_protocol)
    protocols = [_present(r, now_ms) for r in sorted(by_protocol.values(), key=lambda r: r["protocol"])]
    for entry in protocols:
        entry.pop("source", None)
        entry.pop("shipper", None)
    everything = merge_rows([{"rows": [dict(_file_row(r), protocol="*", source="*") for r in rows.values()]}])
    total = _present(everything.get(("*", "*")) or _empty(), now_ms)
    refusals: dict[str, int] = {}
    for row in rows.values():
        for reason, n in row["refused"].items():
            refusals[reason] = refusals.get(reason, 0) + n
    syslog = read_status(Path(data_dir))
    live = [s for s in snaps if s.get("alive") and s.get("instance") != "retired"]
    group_commit = [s["queue"] for s in live if isinstance(s.get("queue"), dict)]
    firsts = [r["first_seen_ms"] for r in rows.values() if r["first_seen_ms"]]
    return {
        "now": format_ts(now_ms),
        "since": format_ts(min(firsts)) if firsts else None,
        "totals": {k: total[k] for k in ("accepted", "duplicates", "refused", "bytes", "requests", "rate")},
        "lag": total["lag"],
        "protocols": protocols,
        "sources": [_present(r, now_ms) for r in sources],
        "refusals": [
            {"reason": reason, "description": REASONS.get(reason, reason), "count": n}
            for reason, n in sorted(refusals.items(), key=lambda kv: (-kv[1], kv[0]))
        ],
        "queues": {
            "group_commit": (
                {
                    "depth": sum(int(q.get("depth") or 0) for q in group_commit),
                    "peak": max(int(q.get("peak") or 0) for q in group_commit),
                }
                if group_commit
                else None
            ),
            "syslog": ({"depth": syslog.get("queue", 0), "max": syslog.get("queue_max")} if syslog else None),
            "in_flight": sum(int(s.get("in_flight") or 0) for s in live),
        },
        "syslog": syslog,
        "processes": [
            {
                "host": s.get("host"),
                "pid": s.get("pid"),
                "alive": bool(s.get("alive")),
                "updated": format_ts(int(s["updated_ms"])) if s.get("updated_ms") else None,
                "started": format_ts(int(s["started_ms"])) if s.get("started_ms") else None,
            }
            for s in snaps
        ],
    }


def _empty() -> dict:
    return {
        "protocol": "*",
        "source": "*",
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


def _file_row(row: dict) -> dict:
    """A merged row back in the file's shape (so merge_rows can sum merged rows again)."""
    out = dict(row)
    out["rate"] = [[t, *v] for t, v in row["rate"].items()]
    out["lag"] = [[t, v] for t, v in row["lag"].items()]
    return out


def _top(rows: list[dict], top: int) -> list[dict]:
    """The `top` busiest (protocol, source) rows (events over the last hour, then in all), the rest
    summed per protocol as source "(other)"."""

    def weight(r):
        return (sum(v[0] + v[1] for v in r["rate"].values()), r["accepted"] + sum(r["refused"].values()))

    rows.sort(key=weight, reverse=True)
    kept, rest = rows[:top], rows[top:]
    if rest:
        others = merge_rows([{"rows": [dict(_file_row(r), source=OTHER_SOURCE) for r in rest]}])
        merged = merge_rows([{"rows": [_file_row(r) for r in kept]}])  # copies: `rows` stays as it was
        for key, row in others.items():
            if key in merged:
                merge_rows([{"rows": [_file_row(row)]}], into=merged)
            else:
                merged[key] = row
        kept = list(merged.values())
    kept.sort(key=lambda r: (r["protocol"], -r["accepted"], r["source"]))
    return kept


def _present(row: dict, now_ms: int) -> dict:
    now_s = now_ms // 1000
    rate = {}
    for name, seconds in WINDOWS.items():
        floor = now_s - seconds
        floor -= floor % RATE_BUCKET_S
        accepted = sum(v[0] for t, v in row["rate"].items() if t >= floor)
        rate[name] = round(accepted / max(now_s - floor, 1), 3)
    newest = row["newest_ts_ms"]
    return {
        "protocol": row["protocol"],
        "source": row["source"],
        "shipper": row["shipper"],
        "requests": row["requests"],
        "accepted": row["accepted"],
        "duplicates": row["duplicates"],
        "refused": sum(row["refused"].values()),
        "refused_by": dict(sorted(row["refused"].items())),
        "bytes": row["bytes"],
        "rate": rate,
        "last_seen": format_ts(row["last_seen_ms"]) if row["last_seen_ms"] else None,
        "newest_event": format_ts(newest) if newest is not None else None,
        "newest_event_age_s": round((now_ms - newest) / 1000, 1) if newest is not None else None,
        "lag": lag_percentiles(row["lag"], now_s),
    }


def lag_percentiles(lag: dict[int, list[int]], now_s: int) -> dict:
    floor = now_s - LAG_WINDOW_S
    counts = [0] * (len(LAG_BOUNDS_MS) + 1)
    for start, bucket in lag.items():
        if start + 60 > floor:
            for i, n in enumerate(bucket[: len(counts)]):
                counts[i] += n
    total = sum(counts)
    return {
        "window_s": LAG_WINDOW_S,
        "samples": total,
        "p50_ms": _percentile(counts, total, 0.50),
        "p95_ms": _percentile(counts, total, 0.95),
    }


def _percentile(counts: list[int], total: int, q: float) -> int | None:
    if not total:
        return None
    rank, seen = q * total, 0
    for i, n in enumerate(counts):
        seen += n
        if seen >= rank and n:
            # the bucket's upper bound; past the last bound, the last bound itself ("over 30 days")
            return LAG_BOUNDS_MS[i] if i < len(LAG_BOUNDS_MS) else LAG_BOUNDS_MS[-1] + 1
    return LAG_BOUNDS_MS[-1] + 1


def lag_text(ms: int | None) -> str:
    """A lag percentile as text: "≤ 5 s" (the upper bound of its bucket)."""
    from ..search.figures import duration_text

    if ms is None:
        return "—"
    if ms > LAG_BOUNDS_MS[-1]:
        return f"over {duration_text(LAG_BOUNDS_MS[-1])}"
    return "≤ 0 ms" if ms <= 0 else f"≤ {duration_text(ms)}"
