"""Integration health, computed: pure functions over ProviderRows (app/rollups/model.py), no store.

- `figures(rows)`: calls, success rate, errors by code, timeouts, latency p50/p95/p99;
- `series` + `states`: a provider's state minute by minute (up / degraded / down), from the
  failure rate over a trailing window (thresholds in health.yaml);
- `incidents`, `uptime`, `mttr`: what those states add up to;
- `baseline`, `expected_calls`, `judge`: the status now, where silence is judged against the
  provider's own usual traffic for that hour of the week.

The same functions run on rows from the store's rollups and on rows reduced from raw events, so
the brute-force tests compare numbers, not code paths."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ..events.failures import INTEGRATION_FAILURE_STATUSES, SUCCESS_STATUSES
from ..rollups.model import MINUTE_MS, ProviderRow
from . import sketch
from .config import Thresholds

HOUR_MS = 60 * MINUTE_MS
WEEK_HOURS = 168
UP, DEGRADED, DOWN, SILENT, UNKNOWN = "up", "degraded", "down", "silent", "unknown"
STATUSES = (DOWN, DEGRADED, SILENT, UNKNOWN, UP)  # worst first
SEVERITY = {s: i for i, s in enumerate(STATUSES)}


# -- figures over a range --------------------------------------------------------------------


def figures(rows: Iterable[ProviderRow]) -> dict:
    calls = failures = timeouts = 0
    statuses: dict[str, int] = {}
    latency: dict[int, int] = {}
    for row in rows:
        calls += row.calls
        failures += row.failures
        timeouts += row.timeouts
        for k, v in row.statuses.items():
            statuses[k] = statuses.get(k, 0) + v
        for b, v in row.latency.items():
            latency[b] = latency.get(b, 0) + v
    errors = sorted(
        ((code, n, code in INTEGRATION_FAILURE_STATUSES) for code, n in statuses.items() if code not in SUCCESS_STATUSES),
        key=lambda e: (-e[1], e[0]),
    )
    return {
        "calls": calls,
        "failures": failures,
        "timeouts": timeouts,
        "success_rate": None if not calls else (calls - failures) / calls,
        "errors": [{"code": c, "count": n, "provider_failure": f} for c, n, f in errors],
        "statuses": dict(sorted(statuses.items())),
        "latency_count": sum(latency.values()),
        "p50": sketch.quantile(latency, 0.50),
        "p95": sketch.quantile(latency, 0.95),
        "p99": sketch.quantile(latency, 0.99),
    }


def series(rows: Iterable[ProviderRow], start_ms: int, end_ms: int, step_ms: int = MINUTE_MS) -> tuple[list[int], list[int]]:
    """Calls and failures per step of [start, end), dense (zeros where nothing was called)."""
    n = max(0, -(-(end_ms - start_ms) // step_ms))
    calls, failures = [0] * n, [0] * n
    for row in rows:
        i = (row.start_ms - start_ms) // step_ms
        if 0 <= i < n:
            calls[i] += row.calls
            failures[i] += row.failures
    return calls, failures


# -- state minute by minute, incidents, uptime -------------------------------------------------


def _level(calls: int, failures: int, t: Thresholds) -> str:
    if failures < t.min_failures or calls <= 0:
        return UP
    rate = failures / calls
    return DOWN if rate >= t.down_rate else DEGRADED if rate >= t.degraded_rate else UP


def states(calls: Sequence[int], failures: Sequence[int], t: Thresholds) -> list[str]:
    """The state after each minute. Over the trailing window: a provider turns degraded or down
    when its failure rate crosses the thresholds (with at least `min_failures` failures); once
    unhealthy it stays so through quiet minutes (no news is not good news) and while the minute's
    own calls still fail, and is up again when the window's rate is back under the thresholds."""
    w, few = t.window_minutes, t.min_failures
    out: list[str] = []
    state, win_calls, win_fail = UP, 0, 0
    for m in range(len(calls)):
        win_calls += calls[m]
        win_fail += failures[m]
        if m >= w:
            win_calls -= calls[m - w]
            win_fail -= failures[m - w]
        if win_fail < few and state == UP:  # _level's first test, without the call (most minutes)
            out.append(UP)
            continue
        if state != UP and calls[m] == 0:
            out.append(state)
            continue
        level = _level(win_calls, win_fail, t)
        if state != UP and level == UP and failures[m] / calls[m] >= t.degraded_rate:
            level = state
        state = level
        out.append(state)
    return out


@dataclass
class Incident:
    start_ms: int
    end_ms: int
    severity: str  # degraded or down (the worst it got)
    peak_rate: float  # the highest failure rate over the trailing window
    calls: int
    failures: int

    @property
    def duration_ms(self) -> int:
        return self.end_ms - self.start_ms


def incidents(
    st: Sequence[str], calls: Sequence[int], failures: Sequence[int], origin_ms: int, t: Thresholds, first_index: int = 0
) -> list[Incident]:
    """Each run of unhealthy minutes, from its first failing minute to the end of its last one.
    Runs that end before `first_index` (the warm-up) are left out."""
    out: list[Incident] = []
    n, w, m = len(st), t.window_minutes, 0
    while m < n:
        if st[m] == UP:
            m += 1
            continue
        run_start = m
        while m < n and st[m] != UP:
            m += 1
        run_end = m  # exclusive
        first = next((i for i in range(max(0, run_start - w + 1), run_end) if failures[i]), run_start)
        last = next((i for i in range(run_end - 1, run_start - 1, -1) if failures[i]), run_start)
        if last < first_index:
            continue
        peak = 0.0
        for i in range(run_start, run_end):
            lo = max(0, i - w + 1)
            wc, wf = sum(calls[lo : i + 1]), sum(failures[lo : i + 1])
            if wc:
                peak = max(peak, wf / wc)
        out.append(
            Incident(
                start_ms=origin_ms + first * MINUTE_MS,
                end_ms=origin_ms + (last + 1) * MINUTE_MS,
                severity=DOWN if DOWN in st[run_start:run_end] else DEGRADED,
                peak_rate=peak,
                calls=sum(calls[first : last + 1]),
                failures=sum(failures[first : last + 1]),
            )
        )
    return out


def uptime(found: Sequence[Incident], start_ms: int, end_ms: int) -> dict:
    """Uptime % of [start, end): the share of the range outside incidents that went down
    (degraded time is counted apart, not as downtime)."""

    def inside(severity: str) -> int:
        return sum(max(0, min(i.end_ms, end_ms) - max(i.start_ms, start_ms)) for i in found if i.severity == severity)

    total, down, degraded = max(0, end_ms - start_ms), inside(DOWN), inside(DEGRADED)
    return {
        "minutes": total // MINUTE_MS,
        "down_minutes": down / MINUTE_MS,
        "degraded_minutes": degraded / MINUTE_MS,
        "uptime": None if not total else 100.0 * (total - down) / total,
    }


def mttr(found: Sequence[Incident]) -> int | None:
    """Mean time to recovery (ms) over the incidents; None without any."""
    return None if not found else sum(i.duration_ms for i in found) // len(found)


# -- the usual traffic, silence and the status now ---------------------------------------------


def hour_of_week(ms: int) -> int:
    """0 = Monday 00:00 UTC (the epoch was a Thursday)."""
    return (ms // HOUR_MS + 72) % WEEK_HOURS


def baseline(rows: Iterable[ProviderRow], start_ms: int, end_ms: int, span_ms: int) -> list[float] | None:
    """The provider's usual traffic per hour of the week: the share of its `span_ms` spans
    (rows summed per span) that had calls, averaged over the whole hours of [start, end) since
    it was first seen there. Shares of spans, not calls: bursty traffic (a player's game session
    is many calls at once) would otherwise promise calls the quiet hours never had. An hour of
    the week never observed takes the mean of its hour of the day, then of every hour. None: no
    calls at all."""
    per_hour = HOUR_MS // span_ms
    active: dict[int, int] = {}
    spans: set[int] = set()
    for row in rows:
        if start_ms <= row.start_ms < end_ms and row.calls and row.start_ms not in spans:
            spans.add(row.start_ms)
            active[row.start_ms // HOUR_MS] = active.get(row.start_ms // HOUR_MS, 0) + 1
    if not active:
        return None
    first = min(active)
    sums, seen = [0.0] * WEEK_HOURS, [0] * WEEK_HOURS
    for h in range(first, end_ms // HOUR_MS):
        slot = hour_of_week(h * HOUR_MS)
        sums[slot] += active.get(h, 0) / per_hour
        seen[slot] += 1
    total_seen = sum(seen)
    overall = sum(sums) / total_seen if total_seen else 0.0
    out = []
    for slot in range(WEEK_HOURS):
        if seen[slot]:
            out.append(sums[slot] / seen[slot])
            continue
        same = [s for s in range(slot % 24, WEEK_HOURS, 24) if seen[s]]
        out.append(sum(sums[s] for s in same) / sum(seen[s] for s in same) if same else overall)
    return out


def in_night(ms: int, t: Thresholds) -> bool:
    hour = (ms // HOUR_MS) % 24
    if t.night_start_hour <= t.night_end_hour:
        return t.night_start_hour <= hour < t.night_end_hour
    return hour >= t.night_start_hour or hour < t.night_end_hour


def expected_active(
    base: Sequence[float], from_ms: int, to_ms: int, span_ms: int, t: Thresholds | None = None, skip_night: bool = False
) -> float:
    """How many spans of [from, to) the baseline expects to have calls (night hours left out
    with `skip_night`)."""
    total, at = 0.0, from_ms
    while at < to_ms:
        nxt = min(to_ms, (at // HOUR_MS + 1) * HOUR_MS)
        if not (skip_night and t is not None and in_night(at, t)):
            total += base[hour_of_week(at)] * (nxt - at) / span_ms
        at = nxt
    return total


def judge(
    state: str,
    last_call_ms: int | None,
    now_ms: int,
    base: Sequence[float] | None,
    t: Thresholds,
    quiet_at_night: bool = False,
) -> tuple[str, str]:
    """The status now and why: `state` is the minute-by-minute state at `now_ms`; silence is
    judged against the calls the provider's baseline expected since its last call."""
    if last_call_ms is None or base is None:
        return UNKNOWN, "no calls seen in the baseline period"
    if state != UP:
        return state, f"failure rate over the last {int(t.window_minutes)} min"
    if quiet_at_night and in_night(now_ms, t):
        return UP, "expected to be quiet at night"
    span = t.span_minutes * MINUTE_MS
    expected = expected_active(base, last_call_ms, now_ms, span, t, skip_night=quiet_at_night)
    if expected >= t.min_expected_spans:
        return SILENT, (
            f"no calls for {(now_ms - last_call_ms) // MINUTE_MS} min, when it usually has calls in "
            f"about {expected:.0f} of such {t.span_minutes}-minute spans"
        )
    return UP, "calls as usual for this hour of the week"


def worst(statuses: Iterable[str]) -> str:
    return min(statuses, key=lambda s: SEVERITY.get(s, 99), default=UNKNOWN)
