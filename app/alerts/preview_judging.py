"""Judging every position of a rule's test (preview.py) without one search per position: exact
counts from fixed-bucket histograms for the kinds that allow it (`exact`), otherwise histograms
screen out the positions that cannot alert and the others are evaluated in batches (`screened`).
See preview.py's docstring for the method; nothing here writes."""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING

from ..query import MatchAll
from ..storage import SearchRequest, StoreError
from .counting import HABIT_WEEKS, MAX_CANDIDATES, WEEK_MS, Run, conjoin, duration
from .evaluate import evaluate_runs, search_each
from .model import Finding, Rule

if TYPE_CHECKING:
    from .preview import RulePreview

MAX_BUCKETS = 400_000  # more histogram buckets than this: positions are evaluated one by one
BATCH = 25  # positions (or group histograms) asked together


class _Judged:
    """What is known of each position: the alerting groups' values, errors, findings met."""

    def __init__(self, moments: list[int]):
        self.moments = moments
        self.known: set[int] = set()
        self.values: dict[str | None, dict[int, float]] = {}
        self.findings: dict[tuple[str | None, int], Finding] = {}
        self.errors: dict[int, str] = {}
        self.stopped = False

    def alert(self, group: str | None, moment: int, value: float) -> None:
        self.values.setdefault(group, {})[moment] = value


def _histograms(store, nodes: list, start: int, end: int, width: int, deadline: float) -> list[list[int]]:
    """Each node's counts per bucket of `width` ms over [start, end) (both multiples of width)."""
    budget = max(1000, int((deadline - time.monotonic()) * 1000))
    requests = [
        SearchRequest(
            query=node, start_ms=start, end_ms=end, size=0, total_bound=0, histogram_ms=width, budget_ms=budget, now_ms=end
        )
        for node in nodes
    ]
    out = []
    for answer in search_each(store, requests):
        if isinstance(answer, Exception):
            raise answer
        if answer.histogram_timed_out:
            raise StoreError(f"counting the events per {duration(width // 1000)} took longer than the test's budget")
        buckets = [0] * ((end - start) // width)
        for bucket in answer.histogram:
            i = (bucket.start_ms - start) // width
            if 0 <= i < len(buckets):
                buckets[i] += bucket.count
        out.append(buckets)
    return out


class _Sums:
    """Sliding window sums over a histogram: count(m) = events in [m - window, m)."""

    def __init__(self, buckets: list[int], start: int, width: int, window_ms: int):
        self.start, self.width, self.span = start, width, window_ms // width
        self.prefix = [0]
        for n in buckets:
            self.prefix.append(self.prefix[-1] + n)

    def __call__(self, moment: int) -> int:
        i = (moment - self.start) // self.width
        return self.prefix[i] - self.prefix[i - self.span]


def _grid(rule: Rule, moments: list[int], step_s: int) -> tuple[int, int, int] | None:
    """(start, end, bucket width) of the histograms, or None when they would be too fine."""
    width = math.gcd(step_s * 1000, rule.window_s * 1000)
    start, end = moments[0] - rule.window_s * 1000, moments[-1]
    if (end - start) // width > MAX_BUCKETS:
        return None
    return start, end, width


def _exact(result: RulePreview, run: Run, store, moments: list[int], judged: _Judged, deadline: float) -> bool:
    """Judge every position from histograms; False when the kind needs evaluations instead."""
    rule = run.rule
    grid = _grid(rule, moments, result.step_s)
    if grid is None:
        return False
    start, end, width = grid
    window = rule.window_s * 1000
    sums = lambda buckets: _Sums(buckets, start, width, window)  # noqa: E731
    if rule.kind == "absence" and (rule.expected_groups if rule.group_by else not rule.min_count):
        groups = list(rule.expected_groups) if rule.group_by else [None]
        alert = lambda n, _failed: n < rule.threshold  # noqa: E731
        result.method = "counted exactly from histograms" + (" (one per expected group)" if rule.group_by else "")
        return _judge_groups(run, store, groups, start, end, width, window, moments, judged, deadline, alert)
    if rule.kind not in ("threshold", "ratio"):
        return False
    failing = conjoin(run.query, *[f for f in (run.failures,) if f is not None]) if rule.kind == "ratio" else None
    if rule.kind == "threshold":

        def alert(n: int, _failed) -> float | None:
            return float(n) if n > rule.threshold else None
    else:

        def alert(n: int, failed: int) -> float | None:
            share = failed / n if n else 0.0
            return share if n >= rule.min_count and n > 0 and share > rule.threshold else None

    screen = sums(_histograms(store, [failing if failing is not None else run.query], start, end, width, deadline)[0])
    if not rule.group_by:
        counted: list[tuple[int, int]]
        if failing is None:
            counted = [(screen(m), 0) for m in moments]  # a threshold: no failures counted
        else:
            totals = sums(_histograms(store, [run.query], start, end, width, deadline)[0])
            counted = [(totals(m), screen(m)) for m in moments]
        for m, (n, failed) in zip(moments, counted, strict=True):
            value = alert(n, failed)
            if value is not None:
                judged.alert(None, m, value)
        judged.known.update(moments)
        result.method = "counted exactly from one histogram" + (" per query and failures" if failing is not None else "")
        return True
    # grouped: no position where the whole (or all failures) stays under the line can alert for a group
    if rule.kind == "threshold":
        hot = [m for m in moments if screen(m) > rule.threshold]
    else:
        hot = [m for m in moments if screen(m) > 0]
    if not hot:
        judged.known.update(moments)
        result.method = "counted exactly from one histogram (no window had enough events for any group)"
        return True
    answer = search_each(store, [run.groups_request(failing or run.query, start, end)])[0]
    if isinstance(answer, Exception):
        raise answer
    counts = run.grouped(answer)
    keep = (lambda n: n > rule.threshold) if rule.kind == "threshold" else (lambda n: n > 0)
    groups = run.candidates(counts, keep)
    if len(groups) > MAX_CANDIDATES or (not counts.complete and len(counts.values) > MAX_CANDIDATES):
        result.warnings.append(
            f"more than {MAX_CANDIDATES} groups could cross the line: the {MAX_CANDIDATES} "
            f"busiest over the range were tested"
        )
    groups = groups[:MAX_CANDIDATES]
    result.method = (
        f"counted exactly from histograms: the {len(groups)} group(s) that could cross the line, one histogram each"
    )
    return _judge_groups(run, store, groups, start, end, width, window, moments, judged, deadline, alert, failing=failing)


def _judge_groups(
    run: Run,
    store,
    groups: list,
    start: int,
    end: int,
    width: int,
    window: int,
    moments: list[int],
    judged: _Judged,
    deadline: float,
    alert,
    failing=None,
) -> bool:
    """Histograms per group (batched) and each position judged by `alert(n, failed)`, which gives
    the value (or True) of an alert, or None / False."""
    done = 0
    for at in range(0, len(groups), BATCH):
        if time.monotonic() > deadline:
            judged.stopped = True
            break
        chunk = groups[at : at + BATCH]
        nodes = [run.query if g is None else conjoin(run.query, run.term(g)) for g in chunk]
        if failing is not None:
            nodes += [conjoin(failing, run.term(g)) for g in chunk]
        found = _histograms(store, nodes, start, end, width, deadline)
        for i, group in enumerate(chunk):
            totals = _Sums(found[i], start, width, window)
            fails = _Sums(found[len(chunk) + i], start, width, window) if failing is not None else None
            for m in moments:
                n = totals(m)
                value = alert(n, fails(m) if fails else None)
                if value is True:
                    value = float(n)
                if value is not None and value is not False:
                    judged.alert(group, m, value)
        done += len(chunk)
    if done == len(groups):
        judged.known.update(moments)
    return True


def _screened(result: RulePreview, run: Run, store, moments: list[int], judged: _Judged, deadline: float) -> None:
    """Evaluate the positions that could alert, newest first and batched, within the budget."""
    rule = run.rule
    grid = _grid(rule, moments, result.step_s)
    candidates = list(moments)
    if grid is not None and rule.kind == "spike" and rule.threshold >= 0:
        start, end, width = grid
        total = _Sums(_histograms(store, [run.query], start, end, width, deadline)[0], start, width, rule.window_s * 1000)
        floor = max(rule.min_count, 1)
        candidates = [m for m in moments if total(m) >= floor and total(m) > rule.threshold]
        judged.known.update(set(moments) - set(candidates))
        result.method = (
            f"screened by one histogram ({len(moments) - len(candidates):,} positions cannot alert), "
            f"the other {len(candidates):,} evaluated in full"
        )
    elif grid is not None and rule.kind == "absence":
        # a group (or the rule) is only expected with min(HABIT_WEEKS, baseline_periods) earlier weeks of data
        start, end, width = grid
        weeks = [
            _Sums(buckets, start - k * WEEK_MS, width, rule.window_s * 1000)
            for k, buckets in enumerate(_histograms_shifted(store, rule, start, end, width, deadline), start=1)
        ]
        need = min(HABIT_WEEKS, rule.baseline_periods)
        candidates = [m for m in moments if sum(w(m - (k + 1) * WEEK_MS) > 0 for k, w in enumerate(weeks)) >= need]
        judged.known.update(set(moments) - set(candidates))
        result.method = (
            f"screened by the store's earlier weeks ({len(moments) - len(candidates):,} positions have "
            f"fewer than {need} weeks of history: nothing is expected there), the other "
            f"{len(candidates):,} evaluated in full"
        )
    else:
        result.method = "every position evaluated in full (its baseline needs earlier weeks)"
    candidates.reverse()
    for at in range(0, len(candidates), BATCH):
        if time.monotonic() > deadline:
            judged.stopped = True
            break
        chunk = candidates[at : at + BATCH]
        for m, evaluation in zip(chunk, evaluate_runs([(rule, m) for m in chunk], store), strict=True):
            judged.known.add(m)
            if evaluation.error:
                judged.errors[m] = evaluation.error
            for finding in evaluation.findings:
                if finding.state == "alert":
                    judged.alert(finding.group, m, finding.value if finding.value is not None else 0.0)
                    judged.findings[(finding.group, m)] = finding


def _histograms_shifted(store, rule: Rule, start: int, end: int, width: int, deadline: float) -> list[list[int]]:
    """Every event's counts (any query) over the range shifted back 1..baseline_periods weeks."""
    out = []
    for k in range(1, rule.baseline_periods + 1):
        out += _histograms(store, [MatchAll()], start - k * WEEK_MS, end - k * WEEK_MS, width, deadline)
    return out
