"""evaluate(rule, store, now_ms): what a rule says about the store's content at one moment.

A pure function of the store's content and `now_ms` (nothing reads the clock), so tests drive
windows and baselines by choosing `now_ms`. It only counts — bounded totals, facets (value counts)
and, for the groups that cross the line, one small search that also fetches the evidence — and
never reads all matching events:

    threshold  count(query, window) > threshold                                  (per group)
    ratio      count(query AND failure_query) / count(query) > threshold,
               only when count(query) >= min_count                               (per group)
    spike      the window against the same window 1..baseline_periods weeks ago (hour-of-week aware)
    absence    count(query, window) < threshold, per expected group (listed, or usual at this hour
               of the week: the same window of every earlier week had >= max(min_count, threshold))

The window is [now_ms - window_s * 1000, now_ms). The exact formulas are in alerts/README.md.

What comes back (an Evaluation):
- an ungrouped rule: exactly one Finding, state "alert" or "ok";
- a grouped threshold / ratio / spike rule: one "alert" Finding per offending group — a group
  without a finding is ok (there can be millions of quiet players);
- an absence rule: one Finding per expected group, "alert" or "ok";
- the store failing (StoreError, or a count that ran out of time): `error` says why and the
  findings are "unknown" — one per expected group of an absence rule, otherwise a single finding
  with group None standing for every group of the rule. Never "ok", never "alert";
- a query that does not compile (or that the store refuses): `error` set, no findings.

Batched: `evaluate_many(rules, store, now_ms)` gives for each rule exactly what `evaluate` gives,
with the searches of all rules sent together, step by step: each rule's evaluation is a
generator that yields the searches it needs next (a list: those it can ask at once) and gets
their results back; a store with `search_many` (OpenSearch: one `_msearch`) answers every
rule's step in one request. A rule failing in any way never sinks the others.
"""

from __future__ import annotations

import logging
import math
import statistics

from ..query import MatchAll, QueryError, parse
from ..storage import SearchRequest, StoreError
from .counting import (  # noqa: F401 (names imported from here too)
    HABIT_WEEKS,
    LAST_SEEN_MS,
    MAX_CANDIDATES,
    SAMPLES,
    WEEK_MS,
    Run,
    conjoin,
    duration,
    event_id_of,
    evidence_query,
    number,
)
from .model import Evaluation, Finding, Rule

log = logging.getLogger(__name__)


def evaluate(rule: Rule, store, now_ms: int) -> Evaluation:
    """The findings of `rule` over `store` at `now_ms` (epoch ms). Never raises for a bad query or a
    failing store: those are reported in the Evaluation (see the module's docstring)."""
    steps = _steps(rule, now_ms)
    try:
        asked = next(steps)
        while True:
            try:
                answers = [store.search(request) for request in asked]
            except (QueryError, StoreError) as exc:
                asked = steps.throw(exc)
            else:
                asked = steps.send(answers)
    except StopIteration as done:
        return done.value


def evaluate_many(rules: list[Rule], store, now_ms: int) -> list[Evaluation]:
    """`evaluate` of every rule at `now_ms`, in the rules' order, the searches of all rules sent
    together step by step (`store.search_many` when the store has it). An exception a rule's
    evaluation raises becomes that rule's error; the others go on."""
    return evaluate_runs([(rule, now_ms) for rule in rules], store)


def evaluate_runs(runs: list[tuple[Rule, int]], store) -> list[Evaluation]:
    """`evaluate(rule, store, moment)` of every (rule, moment), in order, their searches sent
    together step by step, as evaluate_many (which is this at one moment). The rule test
    (preview.py) runs one rule at many moments this way."""
    out: dict[int, Evaluation] = {}
    steps = {i: _steps(rule, moment) for i, (rule, moment) in enumerate(runs)}
    asked: dict[int, list[SearchRequest]] = {}

    def advance(i: int, answers=None, failure: Exception | None = None) -> None:
        try:
            if failure is not None:
                asked[i] = steps[i].throw(failure)
            elif answers is None:
                asked[i] = next(steps[i])
            else:
                asked[i] = steps[i].send(answers)
            return
        except StopIteration as done:
            out[i] = done.value
        except Exception as exc:  # a broken rule never stops the others (logged with its trace)
            rule, moment = runs[i]
            log.exception("rule %s at %s", rule.id, moment)
            out[i] = Evaluation(rule=rule, now_ms=moment, findings=[], error=f"{type(exc).__name__}: {exc}")
        asked.pop(i, None)

    for i in steps:
        advance(i)
    search_many = getattr(store, "search_many", None) or (lambda requests: _one_by_one(store, requests))
    while asked:
        order = sorted(asked)
        flat = [request for i in order for request in asked[i]]
        try:
            answers = search_many(flat)
        except (QueryError, StoreError) as exc:
            answers = [exc] * len(flat)
        at = 0
        for i in order:
            mine, at = answers[at : at + len(asked[i])], at + len(asked[i])
            failure = next((a for a in mine if isinstance(a, Exception)), None)
            advance(i, mine, failure)
    return [out[i] for i in range(len(runs))]


def search_each(store, requests: list[SearchRequest]) -> list:
    """Each request's SearchResult or the QueryError / StoreError it met: one `_msearch` on a
    store that has `search_many`, else one by one."""
    search_many = getattr(store, "search_many", None)
    if search_many is None:
        return _one_by_one(store, requests)
    try:
        return search_many(requests)
    except (QueryError, StoreError) as exc:
        return [exc] * len(requests)


def _one_by_one(store, requests: list[SearchRequest]) -> list:
    out = []
    for request in requests:
        try:
            out.append(store.search(request))
        except (QueryError, StoreError) as exc:
            out.append(exc)
    return out


def _steps(rule: Rule, now_ms: int):
    """One rule's evaluation as a generator: yields lists of SearchRequests, is sent their
    results (or thrown the QueryError / StoreError of the first that failed); returns the
    Evaluation."""
    evaluation = Evaluation(rule=rule, now_ms=now_ms)
    try:
        query = parse(rule.query or "")
        failures = parse(rule.failure_query or "") if rule.kind == "ratio" else None
        if isinstance(failures, MatchAll):  # a ratio rule without a failure_query (None, empty or *)
            raise QueryError("a ratio rule needs a failure_query")
    except QueryError as exc:
        where = f" at position {exc.position}" if exc.position is not None else ""
        evaluation.error = f"the rule's query does not compile: {exc.message}{where}"
        return evaluation
    try:
        run = Run(rule, now_ms, query, failures)
        kind = _KINDS[rule.kind]
    except (QueryError, KeyError) as exc:  # a rule made without validate_rule: unknown group_by or kind
        evaluation.error = f"the rule cannot run: {getattr(exc, 'message', exc)}"
        return evaluation
    try:
        evaluation.findings = yield from kind(run)
    except QueryError as exc:  # the store refused the search (e.g. a field it cannot count values of)
        evaluation.error = f"the store refused the rule's search: {exc.message}"
        evaluation.findings = []
    except StoreError as exc:
        evaluation.error = f"the store could not answer: {exc}"
        evaluation.findings = run.unknown(str(exc))
    return evaluation


# -- threshold -------------------------------------------------------------------------------


def _threshold(run: Run):
    rule = run.rule

    def judge(group, counted) -> Finding:
        n, samples = counted
        state = "alert" if n > rule.threshold else "ok"
        word = "more than" if state == "alert" else "not more than"
        return run.finding(group, state, float(n), f"{n:,} events in {run.span} ({word} {number(rule.threshold)})", samples)

    if not rule.group_by:
        return [judge(None, (yield from run.count(run.query, samples=SAMPLES)))]
    counts = yield from run.groups(run.query)
    groups = run.candidates(counts, lambda n: n > rule.threshold)
    counted = yield from run.counts([(conjoin(run.query, run.term(g)), None, None) for g in groups], samples=SAMPLES)
    findings = [judge(g, c) for g, c in zip(groups, counted, strict=True)]
    return [f for f in findings if f.state == "alert"]


# -- ratio -----------------------------------------------------------------------------------


def _ratio(run: Run):
    rule = run.rule
    failing = conjoin(run.query, run.failures)

    def judge(group, total: int, counted) -> Finding:
        failed, samples = counted
        share = failed / total if total else 0.0
        state = "alert" if total >= rule.min_count and total > 0 and share > rule.threshold else "ok"
        volume = "" if total >= rule.min_count else f"; below the minimum of {rule.min_count:,} events"
        detail = (
            f"{failed:,} of {total:,} failed ({share:.1%}) in {run.span} "
            f"({'above' if state == 'alert' else 'alert above'} {rule.threshold:.0%}{volume})"
        )
        return run.finding(group, state, share, detail, samples, failures=True)

    if not rule.group_by:
        both = yield from run.ask([run.count_request(run.query), run.count_request(failing, samples=SAMPLES)])
        return [judge(None, run.counted(both[0])[0], run.counted(both[1]))]
    totals, fails = (
        run.grouped(r) for r in (yield from run.ask([run.groups_request(run.query), run.groups_request(failing)]))
    )
    groups = run.candidates(fails, lambda n: True)
    both = yield from run.group_counts(
        [(run.query, totals, g, None, None) for g in groups] + [(failing, fails, g, None, None) for g in groups]
    )
    over = [
        (g, total)
        for g, total, failed in zip(groups, both[: len(groups)], both[len(groups) :], strict=True)
        if total >= rule.min_count and total > 0 and failed / total > rule.threshold
    ]
    counted = yield from run.counts([(conjoin(failing, run.term(g)), None, None) for g, _ in over], samples=SAMPLES)
    findings = [judge(g, total, c) for (g, total), c in zip(over, counted, strict=True)]
    return [f for f in findings if f.state == "alert"]


# -- spike -----------------------------------------------------------------------------------


def spike_score(rule: Rule, current: int, baseline: list[int]) -> float:
    """The figure a spike rule compares with its threshold (alerts/README.md):
    relative: (current - mean) / max(mean, 1);  zscore: (current - mean) / max(stdev, sqrt(mean), 1)."""
    mean = statistics.fmean(baseline) if baseline else 0.0
    if rule.spike_mode == "zscore":
        stdev = statistics.pstdev(baseline) if len(baseline) > 1 else 0.0
        return (current - mean) / max(stdev, math.sqrt(mean), 1.0)
    return (current - mean) / max(mean, 1.0)


def _windows(run: Run, n: int, basis: str) -> str:
    plural = "s" if n > 1 else ""
    if basis == "weeks":
        return f"the same {run.span} of {n} earlier week{plural}"
    return f"the {n} window{plural} of {run.span} just before (no earlier week in the store)"


def _against(run: Run, baseline: list[int], basis: str) -> str:
    if not baseline:
        return "with nothing earlier in the store to compare with"
    return f"against {number(round(statistics.fmean(baseline), 2))} on average in {_windows(run, len(baseline), basis)}"


def _spike(run: Run):
    """The window against the same window of earlier weeks; with no earlier week in the store
    (a new installation), against the windows just before it."""
    rule = run.rule

    def judge(group, current: int, baseline: list[int], basis: str, samples=()) -> Finding:
        score = spike_score(rule, current, baseline)
        state = "alert" if current >= rule.min_count and score > rule.threshold else "ok"
        if not baseline:
            return run.finding(
                group,
                state,
                score,
                f"{current:,} events in {run.span}, {_against(run, baseline, basis)} "
                f"(baseline 0: alert from {max(rule.min_count, int(rule.threshold) + 1):,} events)",
                samples,
            )
        figure = f"z = {score:.1f}" if rule.spike_mode == "zscore" else f"{score:+.0%}"
        limit = f"z > {number(rule.threshold)}" if rule.spike_mode == "zscore" else f"+{rule.threshold:.0%}"
        volume = f"; below the minimum of {rule.min_count:,} events" if current < rule.min_count else ""
        detail = f"{current:,} events in {run.span} {_against(run, baseline, basis)}: {figure} (alert above {limit}{volume})"
        return run.finding(group, state, score, detail, samples)

    if not rule.group_by:
        current, samples = yield from run.count(run.query, samples=SAMPLES)
        baseline, basis = yield from run.history_counts(run.query, fallback=True)
        return [judge(None, current, baseline, basis, samples)]

    counts = yield from run.groups(run.query)
    floor = max(rule.min_count, 1)
    groups = run.candidates(counts, lambda n: n >= floor and n > rule.threshold)
    if not groups:
        return []
    history, basis = yield from run.history_groups(run.query, fallback=True)
    currents = yield from run.group_counts([(run.query, counts, g, None, None) for g in groups])
    baselines = yield from run.baselines(run.query, history, groups)
    over = [
        (g, current, baselines[g])
        for g, current in zip(groups, currents, strict=True)
        if current >= rule.min_count and spike_score(rule, current, baselines[g]) > rule.threshold
    ]
    counted = yield from run.counts([(conjoin(run.query, run.term(g)), None, None) for g, _, _ in over], samples=SAMPLES)
    return [judge(g, current, baseline, basis, c[1]) for (g, current, baseline), c in zip(over, counted, strict=True)]


# -- absence ---------------------------------------------------------------------------------


def _absence(run: Run):
    """Fewer than `threshold` events where events are expected. Expected: every group listed in
    expected_groups; without a list, the groups (or, ungrouped with min_count, the rule itself) that
    had at least max(min_count, threshold) events in the same window of each earlier week the store
    has — at least two of them (or baseline_periods, if that is 1)."""
    rule = run.rule
    bar = max(rule.min_count, rule.threshold)

    def usual(baseline: list[int]) -> str:
        return f"usually {number(min(baseline))} or more: {_windows(run, len(baseline), 'weeks')}"

    def judge(items: list[tuple[str | None, int, list[int] | None]]):
        """Findings for (group, count, baseline); an alert's evidence: the group's last events,
        and when it was last heard of (those searches at once)."""
        alerting = [group for group, n, _ in items if n < rule.threshold]
        since = run.end - max(LAST_SEEN_MS, rule.window_s * 1000)
        results = yield from run.ask(
            [
                run.request(
                    run.query if g is None else conjoin(run.query, run.term(g)), since, run.end, size=SAMPLES, total_bound=0
                )
                for g in alerting
            ]
        )
        evidence = iter(results)
        out = []
        for group, n, baseline in items:
            state = "alert" if n < rule.threshold else "ok"
            detail = f"{n:,} events in {run.span} (expected at least {number(rule.threshold)}"
            detail += f"; {usual(baseline)})" if baseline else ")"
            samples: tuple[str, ...] = ()
            if state == "alert":
                result = next(evidence)
                samples = tuple(event_id_of(h) for h in result.hits)
                last = result.hits[0].get("@timestamp") if result.hits else None
                detail += f"; last event {last}" if last else f"; none in the last {duration(LAST_SEEN_MS // 1000)}"
            out.append(run.finding(group, state, float(n), detail, samples))
        return out

    if not rule.group_by:
        n = (yield from run.count(run.query))[0]
        if not rule.min_count:
            return (yield from judge([(None, n, None)]))
        baseline, _ = yield from run.history_counts(run.query, fallback=False)
        if len(baseline) >= min(HABIT_WEEKS, rule.baseline_periods) and min(baseline) >= bar:
            return (yield from judge([(None, n, baseline)]))
        return [
            run.finding(
                None,
                "ok",
                float(n),
                f"{n:,} events in {run.span}; none expected: not "
                f"{number(bar)} or more in each of the earlier weeks at this time",
            )
        ]
    counts = yield from run.groups(run.query)
    if rule.expected_groups:
        found = yield from run.group_counts([(run.query, counts, g, None, None) for g in rule.expected_groups])
        return (yield from judge([(g, n, None) for g, n in zip(rule.expected_groups, found, strict=True)]))
    history, _ = yield from run.history_groups(run.query, fallback=False)
    if not history or len(history) < min(HABIT_WEEKS, rule.baseline_periods):
        return []  # a new installation: nothing is a habit yet
    # candidates: the groups present in every earlier week (a complete count lists every group present)
    listed = [set(past.values) for past, _, _ in history]
    candidates = set.intersection(*listed) if all(past.complete for past, _, _ in history) else set.union(*listed)
    groups = sorted(candidates)[:MAX_CANDIDATES]
    baselines = yield from run.baselines(run.query, history, groups)
    expected = [g for g in groups if min(baselines[g]) >= bar]
    found = yield from run.group_counts([(run.query, counts, g, None, None) for g in expected])
    return (yield from judge([(g, n, baselines[g]) for g, n in zip(expected, found, strict=True)]))


_KINDS = {"threshold": _threshold, "ratio": _ratio, "spike": _spike, "absence": _absence}
