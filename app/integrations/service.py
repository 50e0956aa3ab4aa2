"""Integration health, the service the pages, the JSON API and the status tracker share:
`overview` (one tile per provider, grouped by kind, worst first), `detail` (one provider over a
range: figures, charts, incidents, uptime against its SLO, MTTR), `status_now` and `annotate`.

Numbers come from ProviderRows (rows.py: the store's rollups, or the exact fallback over raw
events) and are computed by compute.py's pure functions. No Flask here."""

from __future__ import annotations

import weakref
from datetime import UTC

from ..events.convert import format_ts
from ..events.failures import INTEGRATION_FAILURE_QUERY, INTEGRATION_FAILURE_STATUSES
from ..meta.providers import ProviderNotes, check_annotation
from ..query.quoting import term
from ..rollups.model import MINUTE_MS
from . import compute as C
from .config import Thresholds, thresholds
from .registry import GROUP_ORDER, Provider, annotated, discover, kind_group
from .rows import EventRollups, MemoryRollups, by_provider

HOUR_MS = C.HOUR_MS
DAY_MS = 24 * HOUR_MS
WEEK_MS = 7 * DAY_MS
MAX_RANGE_MS = 90 * DAY_MS
CHART_STEPS = (MINUTE_MS, 5 * MINUTE_MS, 15 * MINUTE_MS, HOUR_MS, 6 * HOUR_MS, DAY_MS)
CHART_POINTS = 360
RECENT_MS = DAY_MS  # a tile shows an incident that ended this recently


def minute_floor(ms: int) -> int:
    return ms // MINUTE_MS * MINUTE_MS


def reader(store, start_ms: int, end_ms: int, scope=None):
    """The store's rollups; without them, the raw events of [start, end) reduced once to minute
    rows held in memory for the rest of the request."""
    rollups = getattr(store, "rollups", None)
    if rollups is not None:
        return rollups
    return MemoryRollups(EventRollups(store, scope).providers(start_ms, end_ms, MINUTE_MS))


def minute_series(read, start_ms: int, end_ms: int, names: list[str] | None = None) -> dict[str, tuple[list, list]]:
    """{provider: (calls, failures)} per minute of [start, end): the reader's own dense read when it
    has one (SQLite rollups: no object per row), else its minute rows through C.series."""
    fast = getattr(read, "minute_calls", None)
    if fast is not None:
        return fast(start_ms, end_ms, names)
    rows = by_provider(read.providers(start_ms, end_ms, MINUTE_MS, names, latency=False))
    return {name: C.series(found, start_ms, end_ms) for name, found in rows.items()}


def search_link(provider: str, start_ms: int, end_ms: int, failures: bool = False, code: str | None = None) -> dict:
    """Arguments of the search page for this provider's calls (or failures, or one status)."""
    q = term("integration.provider", provider)
    if code is not None:
        q += f" AND {term('integration.status', code)}"
    elif failures:
        q += f" AND {INTEGRATION_FAILURE_QUERY}"
    return {"q": q, "from": format_ts(start_ms), "to": format_ts(end_ms)}


# -- the status now --------------------------------------------------------------------------

_BASELINES: dict = {}  # id(reader) -> (weakref to it, hour, thresholds, {provider: (baseline, last span)})


def _baselines(read, base_start: int, hour_now: int, t: Thresholds, names: list[str], cache: bool) -> dict:
    """Per provider, its baseline and the end of its last span with calls before `hour_now`. They
    change once an hour: with `cache` (a store's own rollups, long-lived) they are kept per
    process until the hour turns."""
    key = id(read)
    if cache:
        hit = _BASELINES.get(key)
        if hit and hit[0]() is read and hit[1] == hour_now and hit[2] == t and set(names) <= hit[3].keys():
            return hit[3]
    span = t.span_minutes * MINUTE_MS
    spans = by_provider(read.providers(base_start, hour_now, span, latency=False))
    out = {}
    for name in names:
        rows = spans.get(name, [])
        last = [r.start_ms for r in rows if r.calls]
        out[name] = (C.baseline(rows, base_start, hour_now, span), max(last) + span - 1 if last else None)
    if cache:
        try:
            _BASELINES.clear()  # one store per process: the newest hour only
            _BASELINES[key] = (weakref.ref(read), hour_now, t, out)
        except TypeError:  # a reader that takes no weak reference: not cached
            pass
    return out


def status_now(read, now_ms: int, t: Thresholds, providers: list[Provider], cache: bool = False) -> dict[str, dict]:
    """Per provider: status, why and last call, at `now_ms`."""
    end = minute_floor(now_ms) + MINUTE_MS
    hour_now = now_ms // HOUR_MS * HOUR_MS
    base_start = hour_now - t.baseline_weeks * WEEK_MS
    recent_start = min(end - (t.warmup_minutes + t.window_minutes) * MINUTE_MS, hour_now)
    minute = by_provider(read.providers(recent_start, end, MINUTE_MS, latency=False))
    bases = _baselines(read, base_start, hour_now, t, [p.name for p in providers], cache)
    out = {}
    for p in providers:
        rows_m = minute.get(p.name, [])
        calls, failures = C.series(rows_m, recent_start, end)
        st = C.states(calls, failures, t)
        base, last_span = bases[p.name]
        if base is None and any(calls):  # new: no whole hour yet, its recent minutes are the baseline
            base = C.baseline(rows_m, recent_start, end, MINUTE_MS)
        recent = [r.start_ms for r in rows_m if r.calls]
        last = max(recent) + MINUTE_MS - 1 if recent else last_span
        status, why = C.judge(st[-1] if st else C.UP, last, now_ms, base, t, p.quiet_at_night)
        out[p.name] = {"status": status, "why": why, "last_call_ms": last}
    return out


# -- one tile per provider --------------------------------------------------------------------


def _spark(calls: list[int], failures: list[int], per: int) -> list[dict]:
    out = []
    for i in range(0, len(calls), per):
        c, f = sum(calls[i : i + per]), sum(failures[i : i + per])
        out.append({"calls": c, "failures": f})
    return out


def _tile_order(tile: dict) -> tuple:
    """Worst first: by status, then a recent incident, then the lowest uptime."""
    return (
        C.SEVERITY.get(tile["status"], 99),
        not tile["recent"],
        tile["uptime"] if tile["uptime"] is not None else 101.0,
        tile["provider"],
    )


def providers(store, meta, scope=None) -> list[Provider]:
    return annotated(discover(store, scope), ProviderNotes(meta).all())


def overview(store, meta, now_ms: int, scope=None, t: Thresholds | None = None, read=None) -> dict:
    """The manager's dashboard: per provider its status, uptime this week against its SLO, a
    week's sparkline (per hour) and incidents; grouped by kind, worst first."""
    t = t or thresholds()
    end = minute_floor(now_ms) + MINUTE_MS
    week_start = end - WEEK_MS
    origin = week_start - t.warmup_minutes * MINUTE_MS
    known = providers(store, meta, scope)
    read = read or reader(store, min(origin, now_ms // HOUR_MS * HOUR_MS - t.baseline_weeks * WEEK_MS), end, scope)
    now = status_now(read, now_ms, t, known, cache=read is getattr(store, "rollups", None))
    minute = minute_series(read, origin, end)
    tiles = []
    for p in known:
        calls, failures = minute.get(p.name) or C.series([], origin, end)
        st = C.states(calls, failures, t)
        found = C.incidents(st, calls, failures, origin, t, t.warmup_minutes)
        up = C.uptime(found, week_start, end)
        target = p.slo_target if p.slo_target is not None else t.default_target
        w = t.warmup_minutes
        tiles.append(
            {
                "provider": p.name,
                "kind": p.kind,
                "group": p.group,
                **now[p.name],
                "uptime": up["uptime"],
                "down_minutes": up["down_minutes"],
                "slo_target": target,
                "slo_met": up["uptime"] is None or up["uptime"] >= target,
                "calls": sum(calls[w:]),
                "failures": sum(failures[w:]),
                "incidents": len(found),
                "open_incident": bool(st and st[-1] != C.UP),
                "owner": p.owner,
                "last_seen_ms": p.last_seen_ms,
                "last_incident": None
                if not found
                else {
                    "start_ms": found[-1].start_ms,
                    "end_ms": found[-1].end_ms,
                    "duration_ms": found[-1].duration_ms,
                    "severity": found[-1].severity,
                    "ago_ms": now_ms - found[-1].end_ms,
                },
                "recent": bool(found) and now_ms - found[-1].end_ms <= RECENT_MS,
                "spark": _spark(calls[w:], failures[w:], 60),
            }
        )
    groups: dict[str, list] = {}
    for tile in tiles:
        groups.setdefault(tile["group"], []).append(tile)
    ordered = []
    for name, items in groups.items():
        items.sort(key=_tile_order)
        ordered.append({"group": name, "worst": items[0]["status"], "tiles": items})
    ordered.sort(
        key=lambda g: (*_tile_order(g["tiles"][0])[:2], GROUP_ORDER.index(g["group"]) if g["group"] in GROUP_ORDER else 99)
    )
    counts = {s: sum(1 for x in tiles if x["status"] == s) for s in C.STATUSES}
    return {
        "now_ms": now_ms,
        "week_start_ms": week_start,
        "end_ms": end,
        "groups": ordered,
        "counts": counts,
        "providers": len(tiles),
        "worst": C.worst(x["status"] for x in tiles),
        "recent_incidents": sum(1 for x in tiles if x["recent"] and x["status"] == C.UP),
    }


# -- one provider over a range ----------------------------------------------------------------


def chart_step(span_ms: int) -> int:
    for step in CHART_STEPS:
        if span_ms / step <= CHART_POINTS:
            return step
    return CHART_STEPS[-1]


def incident_json(i: C.Incident, provider: str, alerts: list[dict]) -> dict:
    return {
        "start_ms": i.start_ms,
        "end_ms": i.end_ms,
        "start": format_ts(i.start_ms),
        "end": format_ts(i.end_ms),
        "duration_ms": i.duration_ms,
        "severity": i.severity,
        "peak_rate": i.peak_rate,
        "calls": i.calls,
        "failures": i.failures,
        "search": search_link(provider, i.start_ms, i.end_ms, failures=True),
        "alerts": [
            a
            for a in alerts
            if a["fired_ms"] <= i.end_ms + 15 * MINUTE_MS and (a["resolved_ms"] is None or a["resolved_ms"] >= i.start_ms)
        ],
    }


def detail(
    store, meta, name: str, start_ms: int, end_ms: int, now_ms: int, scope=None, t: Thresholds | None = None, read=None
) -> dict | None:
    """One provider over [start, end) (at most 90 days): None when the store never saw it."""
    t = t or thresholds()
    known = {p.name: p for p in providers(store, meta, scope)}
    p = known.get(name)
    if p is None:
        return None
    start, end = minute_floor(start_ms), minute_floor(end_ms - 1) + MINUTE_MS
    origin = start - t.warmup_minutes * MINUTE_MS
    base_start = now_ms // HOUR_MS * HOUR_MS - t.baseline_weeks * WEEK_MS
    read = read or reader(store, min(origin, base_start), max(end, minute_floor(now_ms) + MINUTE_MS), scope)
    calls, failures = minute_series(read, origin, end, [name]).get(name) or C.series([], origin, end)  # the minutes
    st = C.states(calls, failures, t)
    w = t.warmup_minutes
    found = C.incidents(st, calls, failures, origin, t, w)
    up = C.uptime(found, start, end)
    target = p.slo_target if p.slo_target is not None else t.default_target
    # the range's figures (latency too) in one step over it: day rows where whole days, minutes at its edges
    fig = C.figures(read.providers(start, end, -(-end // DAY_MS) * DAY_MS, [name]))
    for e in fig["errors"]:
        e["search"] = search_link(name, start, end, code=e["code"])
    fig["codes"] = [
        {
            "code": code,
            "calls": n,
            "failure": code in INTEGRATION_FAILURE_STATUSES,
            "search": search_link(name, start, end, code=code),
        }
        for code, n in fig["statuses"].items()
    ]
    step = chart_step(end - start)
    chart_rows = read.providers(start, end, step, [name])
    points: dict[int, dict] = {}
    for r in chart_rows:
        pt = points.setdefault(r.start_ms, {"t": r.start_ms, "rows": []})
        pt["rows"].append(r)
    chart = []
    for at in range(start // step * step, end, step):
        f = C.figures(points[at]["rows"]) if at in points else C.figures([])
        overlapping = [i.severity for i in found if i.start_ms < at + step and i.end_ms > at]
        chart.append(
            {
                "t": at,
                "calls": f["calls"],
                "failures": f["failures"],
                "timeouts": f["timeouts"],
                "rate": None if not f["calls"] else f["failures"] / f["calls"],
                "p50": f["p50"],
                "p95": f["p95"],
                "p99": f["p99"],
                "state": C.worst(overlapping) if overlapping else C.UP,
            }
        )
    alerts = fired_alerts(meta, name, start - DAY_MS, end)
    now = status_now(read, now_ms, t, [p], cache=read is getattr(store, "rollups", None))[name]
    allowed_budget = (100.0 - target) / 100.0 * up["minutes"]
    return {
        "provider": name,
        "kind": p.kind,
        "group": kind_group(p.kind),
        "owner": p.owner,
        "note": p.note,
        "quiet_at_night": p.quiet_at_night,
        "slo_target": target,
        "slo_own": p.slo_target is not None,
        "first_seen_ms": p.first_seen_ms,
        "last_seen_ms": p.last_seen_ms,
        "start_ms": start,
        "end_ms": end,
        "now": now,
        "figures": fig,
        **up,
        "slo_met": up["uptime"] is None or up["uptime"] >= target,
        "budget_left_minutes": allowed_budget - up["down_minutes"],
        "incidents": [incident_json(i, name, alerts) for i in reversed(found)],
        "mttr_ms": C.mttr(found),
        "step_ms": step,
        "chart": chart,
        "search": search_link(name, start, end),
        "failures_search": search_link(name, start, end, True),
    }


def fired_alerts(meta, provider: str, start_ms: int, end_ms: int) -> list[dict]:
    """Alerts grouped by this provider that fired in [start, end)."""
    from datetime import datetime

    from sqlalchemy import select

    from ..meta.alert_tables import AlertInstance

    until = datetime.fromtimestamp(end_ms / 1000, tz=UTC)
    with meta.Session() as s:
        found = s.scalars(
            select(AlertInstance)
            .where(
                AlertInstance.group_key == provider[:512],
                AlertInstance.fired_at.is_not(None),
                AlertInstance.fired_at < until,
            )
            .limit(500)
        ).all()
    out = []
    for a in found:
        resolved = int(a.resolved_at.timestamp() * 1000) if a.resolved_at else None
        if resolved is not None and resolved < start_ms:
            continue
        out.append(
            {
                "id": a.id,
                "rule_id": a.rule_id,
                "severity": a.severity,
                "state": a.state,
                "fired_ms": int(a.fired_at.timestamp() * 1000),
                "resolved_ms": resolved,
            }
        )
    return out


def annotate(meta, provider: str, fields: dict, by: str) -> dict:
    """Set a provider's owner, SLO target, quiet-at-night and note; ValueError names the field."""
    a = check_annotation(
        provider, fields.get("owner"), fields.get("slo_target"), fields.get("quiet_at_night", False), fields.get("note")
    )
    return ProviderNotes(meta).annotate(provider, a, by).as_dict()
