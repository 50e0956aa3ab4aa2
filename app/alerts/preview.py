"""Test a rule before saving: what it would have fired over the last hours, at every moment the
scheduler would have evaluated it — and whether its group_by field is there to group by.

One service for the rule form, the JSON API (`POST /api/v1/alerts/rules/test`) and the command
line (`platlogs alerts test`). It reads the store and writes nothing (no instance, no history, no
delivery, no reading-trail line).

The positions: the scheduler runs a rule at every multiple of its cadence (`cadence_ms`: the
scheduler's interval, 60 s, or the rule's own `interval_s`) over the window
[moment - window_s, moment). Every such moment in (end - hours, end] is a position, and every
position is judged — no sampling (a burst between two samples was missed before).

Counting without one search per position (preview_judging.py):
- threshold, ratio, and absence with expected groups or without a baseline are counted exactly
  from histograms with fixed buckets (the gcd of the cadence and the window, so every window is
  a whole number of buckets): one histogram of the query (and of its failures, for a ratio) for
  an ungrouped rule; for a grouped one, the groups that could cross the line (a value count over
  the whole range) get a histogram each, all asked together (one `_msearch` on OpenSearch). The
  window sums slide over the buckets. The peak of each run of alerts is then evaluated in full
  (`evaluate`) for its detail and evidence.
- spike, and absence that learns its groups from earlier weeks, need baselines per position:
  histograms screen out the positions that cannot alert — a spike needs more than `threshold`
  and at least `min_count` events in the window (no group has more than the whole: one
  histogram of the query); a learning absence needs min(2, baseline_periods) earlier weeks
  holding events in the window (one histogram of every event per earlier week) — and the others
  are evaluated with `evaluate_runs` (their searches batched), newest first, within the budget.

A run of consecutive alerting positions of one group is one `Window` in the result: it would
fire once the condition has held rule.pending_s (as the scheduler's lifecycle does)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from ..query import Exists, QueryError, parse
from ..storage import StoreError
from .counting import Run, conjoin, number
from .evaluate import evaluate_runs, search_each
from .model import Rule
from .preview_judging import BATCH, _exact, _Judged, _screened

DEFAULT_HOURS = 6
MAX_HOURS = 7 * 24
DEFAULT_INTERVAL_S = 60  # the scheduler's cadence (scheduler.DEFAULT_INTERVAL_S)
BUDGET_S = 20.0  # a test stops after this long, and says what it did not judge
MAX_DETAILED = 50  # windows whose peak is evaluated in full (detail, evidence), newest first


@dataclass
class Window:
    """A run of consecutive positions at which one group alerts."""

    group: str | None
    first_ms: int  # the first position (a moment: its window ends there)
    last_ms: int  # the last
    positions: int  # how many alerting positions
    peak: float  # the largest value, at peak_ms
    peak_ms: int
    threshold: float
    fires: bool  # held rule.pending_s: the scheduler would have fired (and notified)
    fires_at_ms: int | None  # the position at which it fires
    window_start_ms: int  # the events of the whole run: [first_ms - window, last_ms)
    window_end_ms: int
    detail: str = ""  # the full evaluation at the peak (or the histogram's figures)
    sample_ids: tuple[str, ...] = ()
    search_query: str = ""

    @property
    def held_ms(self) -> int:
        return self.last_ms - self.first_ms

    def as_dict(self) -> dict:
        return {
            "group": self.group,
            "first": self.first_ms,
            "last": self.last_ms,
            "positions": self.positions,
            "peak": self.peak,
            "peak_at": self.peak_ms,
            "threshold": self.threshold,
            "fires": self.fires,
            "fires_at": self.fires_at_ms,
            "held_s": self.held_ms // 1000,
            "detail": self.detail,
            "sample_ids": list(self.sample_ids),
            "search_query": self.search_query,
            "window_start": self.window_start_ms,
            "window_end": self.window_end_ms,
        }


@dataclass
class RulePreview:
    rule: Rule
    hours: int
    start_ms: int  # positions lie in (start_ms, end_ms]
    end_ms: int
    step_s: int  # between positions: the scheduler's cadence
    planned: int  # positions in the range
    evaluated: int = 0  # positions judged (the others: out of time)
    alerting: int = 0  # positions with at least one alert
    windows: list[Window] = field(default_factory=list)  # newest first
    alerting_at: dict[str | None, list[int]] = field(default_factory=dict)  # group -> its alerting positions
    errors: list[tuple[int, str]] = field(default_factory=list)  # (position, why it could not be judged)
    warnings: list[str] = field(default_factory=list)
    method: str = ""  # how the positions were judged, in words
    stopped: bool = False  # the time budget ran out
    seconds: float = 0.0

    @property
    def groups(self) -> list[str | None]:
        return list(dict.fromkeys(w.group for w in sorted(self.windows, key=lambda w: -w.peak)))

    @property
    def firing(self) -> list[Window]:
        return [w for w in self.windows if w.fires]


def cadence_s(rule: Rule, interval_s: int = DEFAULT_INTERVAL_S) -> int:
    return max(1, int(getattr(rule, "interval_s", None) or interval_s))


def positions(end_ms: int, hours: int, step_s: int) -> list[int]:
    """Every moment the scheduler evaluates in (end_ms - hours, end_ms], oldest first."""
    step = step_s * 1000
    last = end_ms // step * step
    count = max(1, hours * 3_600_000 // step)
    return [last - i * step for i in range(count - 1, -1, -1)]


def preview_rule(
    rule: Rule,
    store,
    end_ms: int,
    hours: int = DEFAULT_HOURS,
    *,
    budget_s: float = BUDGET_S,
    interval_s: int = DEFAULT_INTERVAL_S,
) -> RulePreview:
    """What `rule` would have fired at every scheduler position of the `hours` before `end_ms`."""
    started = time.monotonic()
    deadline = started + budget_s
    hours = max(1, min(int(hours), MAX_HOURS))
    step_s = cadence_s(rule, interval_s)
    moments = positions(end_ms, hours, step_s)
    result = RulePreview(
        rule=rule, hours=hours, start_ms=moments[0] - step_s * 1000, end_ms=moments[-1], step_s=step_s, planned=len(moments)
    )
    try:
        query = parse(rule.query or "")
        failures = parse(rule.failure_query) if rule.kind == "ratio" and rule.failure_query else None
        run = Run(rule, moments[-1], query, failures)
    except QueryError as exc:
        result.errors.append((moments[-1], f"the rule's query does not compile: {exc.message}"))
        return result
    judged = _Judged(moments)
    try:
        result.warnings = coverage_warnings(rule, store, run, moments[0] - rule.window_s * 1000, moments[-1])
        if not _exact(result, run, store, moments, judged, deadline):
            _screened(result, run, store, moments, judged, deadline)
    except (QueryError, StoreError) as exc:
        judged.errors[moments[-1]] = f"the store could not answer: {getattr(exc, 'message', exc)}"
    result.windows = _runs(rule, moments, judged)
    _detail(result, run, store, judged, deadline)
    result.evaluated = len(judged.known)
    result.alerting = len({m for values in judged.values.values() for m in values})
    result.alerting_at = {g: sorted(values) for g, values in judged.values.items()}
    result.errors = sorted(judged.errors.items(), reverse=True)
    result.stopped = judged.stopped
    result.seconds = round(time.monotonic() - started, 1)
    return result


# -- the group_by field ---------------------------------------------------------------------------


def coverage_warnings(rule: Rule, store, run: Run, start_ms: int, end_ms: int) -> list[str]:
    """Warnings about the rule's group_by over [start_ms, end_ms): none of the matching events has
    the field (no group can ever be counted), or only some have it (the others count in no group)."""
    if not rule.group_by:
        return []
    both = search_each(
        store,
        [run.request(run.query, start_ms, end_ms), run.request(conjoin(run.query, Exists(rule.group_by)), start_ms, end_ms)],
    )
    for answer in both:
        if isinstance(answer, Exception):
            raise answer
    total, grouped = both[0].total, both[1].total
    field_ = rule.group_by
    if total and not grouped:
        return [
            f"none of the {total:,} events the query matches in the tested range has the field {field_}: "
            f"the rule groups by a field these events do not have, so no group is ever counted"
            + (" (every expected group looks absent)" if rule.kind == "absence" else "")
            + ". Check the field's name (the event page lists an event's fields)."
        ]
    if total and grouped < total:
        return [
            (
                f"{total - grouped:,} of the {total:,} events the query matches in the tested range "
                f"({(total - grouped) / total:.0%}) have no {field_}: they are counted in no group."
            )
        ]
    return []


# -- runs of alerts -------------------------------------------------------------------------------------


def _runs(rule: Rule, moments: list[int], judged: _Judged) -> list[Window]:
    """Consecutive alerting positions of each group, as the lifecycle would see them: a judged
    position without the group's alert ends its run; an unjudged or failed one neither ends nor
    extends it."""
    out: list[Window] = []
    for group, values in judged.values.items():
        current: list[int] = []
        for m in moments:
            if m in values:
                current.append(m)
            elif m in judged.known and m not in judged.errors:
                out += _window(rule, group, values, current)
                current = []
        out += _window(rule, group, values, current)
    out.sort(key=lambda w: (-w.last_ms, str(w.group)))
    return out


def _window(rule: Rule, group: str | None, values: dict[int, float], run: list[int]) -> list[Window]:
    """The run of alerting positions `run` of `group` as a Window ([] for an empty run)."""
    if not run:
        return []
    first, last = run[0], run[-1]
    peak_ms = max(run, key=lambda m: (values[m], -m))
    fires_at = next((m for m in run if m - first >= rule.pending_s * 1000), None)
    return [
        Window(
            group=group,
            first_ms=first,
            last_ms=last,
            positions=len(run),
            peak=values[peak_ms],
            peak_ms=peak_ms,
            threshold=rule.threshold,
            fires=fires_at is not None,
            fires_at_ms=fires_at,
            window_start_ms=first - rule.window_s * 1000,
            window_end_ms=last,
        )
    ]


def _detail(result: RulePreview, run: Run, store, judged: _Judged, deadline: float) -> None:
    """Each window's detail and evidence: the finding at its peak (evaluated now when the
    histograms judged it), for the newest MAX_DETAILED windows."""
    rule = run.rule
    missing = [w for w in result.windows[:MAX_DETAILED] if (w.group, w.peak_ms) not in judged.findings]
    peaks = sorted({w.peak_ms for w in missing}, reverse=True)
    for at in range(0, len(peaks), BATCH):
        if time.monotonic() > deadline:
            break
        chunk = peaks[at : at + BATCH]
        for m, evaluation in zip(chunk, evaluate_runs([(rule, m) for m in chunk], store), strict=True):
            for finding in evaluation.findings:
                if finding.state == "alert":
                    judged.findings.setdefault((finding.group, m), finding)
    for w in result.windows:
        found = judged.findings.get((w.group, w.peak_ms))
        if found is not None:
            w.detail, w.sample_ids, w.search_query = found.detail, found.sample_ids, found.search_query
        else:
            w.detail = f"{number(w.peak)} at the peak (threshold {number(rule.threshold)})"
            w.search_query = run.finding(w.group, "alert", w.peak, "").search_query


def as_dict(preview: RulePreview) -> dict:
    """The test as JSON (times in epoch ms; the API adds ISO times and masks group values)."""
    p = preview
    return {
        "rule": p.rule.id,
        "hours": p.hours,
        "start": p.start_ms,
        "end": p.end_ms,
        "step_s": p.step_s,
        "window_s": p.rule.window_s,
        "positions": p.planned,
        "evaluated": p.evaluated,
        "alerting_positions": p.alerting,
        "stopped": p.stopped,
        "seconds": p.seconds,
        "method": p.method,
        "warnings": list(p.warnings),
        "errors": [{"at": m, "error": e} for m, e in p.errors],
        "windows": [w.as_dict() for w in p.windows],
    }
