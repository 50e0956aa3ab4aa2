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
"""
from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

from ..query import And, MatchAll, Node, QueryError, Term, parse
from ..query.fields import resolve
from ..storage import SearchRequest, StoreError
from .model import Evaluation, Finding, Rule

WEEK_MS = 7 * 86_400_000
SAMPLES = 5                 # evidence: event ids per finding, newest first
COUNT_BOUND = 10_000_000    # totals are exact up to here
FACET_SIZE = 10_000         # group values listed per count; more distinct values -> exact counts per candidate
FACET_BOUND = 10_000_000    # the embedded store counts values over the newest this many matches
BUDGET_MS = 30_000          # time allowed to one value count before the rule is "unknown"
MAX_CANDIDATES = 500        # groups checked one by one when the value counts were not exact
LAST_SEEN_MS = WEEK_MS      # absence: how far back to look for the group's last event (evidence)
HABIT_WEEKS = 2             # absence without a list: weeks of history needed before a group is expected


def evaluate(rule: Rule, store, now_ms: int) -> Evaluation:
    """The findings of `rule` over `store` at `now_ms` (epoch ms). Never raises for a bad query or a
    failing store: those are reported in the Evaluation (see the module's docstring)."""
    evaluation = Evaluation(rule=rule, now_ms=now_ms)
    try:
        query = parse(rule.query or "")
        failures = parse(rule.failure_query) if rule.kind == "ratio" else None
        if rule.kind == "ratio" and (failures is None or isinstance(failures, MatchAll)):
            raise QueryError("a ratio rule needs a failure_query")
    except QueryError as exc:
        where = f" at position {exc.position}" if exc.position is not None else ""
        evaluation.error = f"the rule's query does not compile: {exc.message}{where}"
        return evaluation
    try:
        run = _Run(rule, store, now_ms, query, failures)
    except (QueryError, KeyError) as exc:   # a rule made without validate_rule: unknown group_by or kind
        evaluation.error = f"the rule cannot run: {getattr(exc, 'message', exc)}"
        return evaluation
    try:
        evaluation.findings = run.kind(run)
    except QueryError as exc:   # the store refused the search (e.g. a field it cannot count values of)
        evaluation.error = f"the store refused the rule's search: {exc.message}"
        evaluation.findings = []
    except StoreError as exc:
        evaluation.error = f"the store could not answer: {exc}"
        evaluation.findings = run.unknown(str(exc))
    return evaluation


# -- the plumbing: counts, value counts, evidence ------------------------------------------

def conjoin(*nodes: Node) -> Node:
    """AND of the nodes, without MatchAll and with nested ANDs flattened."""
    items: list[Node] = []
    for node in nodes:
        if node is None or isinstance(node, MatchAll):
            continue
        items.extend(node.items if isinstance(node, And) else (node,))
    if not items:
        return MatchAll()
    return items[0] if len(items) == 1 else And(tuple(items))


def quote_value(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def evidence_query(rule: Rule, group: str | None, failures: bool = False) -> str:
    """A query string for the search page that shows a finding's events (the time range is the
    finding's window: window_start_ms .. window_end_ms)."""
    parts = [q.strip() for q in (rule.query, rule.failure_query if failures else None)
             if q and q.strip() not in ("", "*")]
    term = f"{rule.group_by}:{quote_value(group)}" if group is not None and rule.group_by else None
    if len(parts) + (term is not None) <= 1:
        return parts[0] if parts else (term or "")
    return " AND ".join([f"({p})" if any(c.isspace() for c in p) else p for p in parts] + ([term] if term else []))


def duration(seconds: int) -> str:
    for unit, size in (("d", 86_400), ("h", 3600), ("min", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds // size} {unit}"
    return f"{seconds} s"


def _number(x: float) -> str:
    return f"{x:,.0f}" if float(x).is_integer() else f"{x:,.2f}"


@dataclass
class Counts:
    """Events per group value over one window; `complete` when every value is listed with its exact count."""
    values: dict[str, int]
    complete: bool


class _Run:
    """One evaluation: the rule, its parsed queries, the window, and the counting helpers."""

    def __init__(self, rule: Rule, store, now_ms: int, query: Node, failures: Node | None):
        self.rule, self.store, self.now = rule, store, now_ms
        self.query, self.failures = query, failures
        self.end = now_ms
        self.start = now_ms - rule.window_s * 1000
        self.boolean = bool(rule.group_by) and resolve(rule.group_by).type == "boolean"
        self.kind = _KINDS[rule.kind]

    # counting

    def search(self, node: Node, start: int, end: int, size: int = 0, total_bound: int = COUNT_BOUND,
               **more) -> object:
        return self.store.search(SearchRequest(query=node, start_ms=start, end_ms=end, size=size,
                                               total_bound=total_bound, now_ms=self.now, **more))

    def count(self, node: Node, start: int | None = None, end: int | None = None,
              samples: int = 0) -> tuple[int, tuple[str, ...]]:
        """(exact count up to COUNT_BOUND, ids of the newest `samples` matches)."""
        result = self.search(node, self.start if start is None else start, self.end if end is None else end,
                             size=samples)
        return result.total, tuple(_event_id(h) for h in result.hits)

    def groups(self, node: Node, start: int | None = None, end: int | None = None) -> Counts:
        name = self.rule.group_by
        result = self.search(node, self.start if start is None else start, self.end if end is None else end,
                             total_bound=0, facets=(name,), facet_size=FACET_SIZE, facet_bound=FACET_BOUND,
                             budget_ms=BUDGET_MS)
        facet = result.facets[name]
        if facet.timed_out:
            raise StoreError(f"counting the values of {name} took longer than {BUDGET_MS // 1000} s")
        values = {}
        for item in facet.values:
            key = self.key(item.value)
            values[key] = values.get(key, 0) + item.count
        return Counts(values, complete=not facet.approximate and len(facet.values) < FACET_SIZE)

    def key(self, value) -> str:
        if self.boolean:
            return "true" if value in (True, 1, "true", "1") else "false"
        return str(value)

    def term(self, group: str) -> Node:
        return Term(self.rule.group_by, group)

    def group_count(self, node: Node, counts: Counts, group: str, start=None, end=None) -> int:
        """A group's count: from the value counts when they are complete, else counted exactly."""
        if counts.complete:
            return counts.values.get(group, 0)
        return self.count(conjoin(node, self.term(group)), start, end)[0]

    def candidates(self, counts: Counts, keep) -> list[str]:
        """Groups worth a closer look, largest first: those `keep` accepts (all listed values when
        the counts are partial, since a partial count only ever undercounts)."""
        ranked = sorted(counts.values.items(), key=lambda kv: (-kv[1], kv[0]))
        if counts.complete:
            return [g for g, n in ranked if keep(n)]
        return [g for g, _ in ranked[:MAX_CANDIDATES]]

    def weeks(self) -> list[tuple[int, int]]:
        """The same window 1..baseline_periods weeks earlier (same hours of the same weekday)."""
        return [(self.start - k * WEEK_MS, self.end - k * WEEK_MS) for k in range(1, self.rule.baseline_periods + 1)]

    def recent(self) -> list[tuple[int, int]]:
        """The baseline_periods windows just before this one."""
        width = self.end - self.start
        return [(self.start - k * width, self.end - k * width) for k in range(1, self.rule.baseline_periods + 1)]

    def history_counts(self, node: Node, fallback: bool) -> tuple[list[int], str]:
        """Counts of `node` in each earlier week's window that the store has data for — or, with
        `fallback` and no such week, in the recent windows that have data. And which it was."""
        for basis, windows in (("weeks", self.weeks()), ("recent", self.recent() if fallback else [])):
            out = []
            for start, end in windows:
                n = self.count(node, start, end)[0]
                if n or self.has_data(start, end):
                    out.append(n)
            if out:
                return out, basis
        return [], "none"

    def history_groups(self, node: Node, fallback: bool) -> tuple[list[tuple[Counts, int, int]], str]:
        """Value counts per window, chosen as in history_counts."""
        for basis, windows in (("weeks", self.weeks()), ("recent", self.recent() if fallback else [])):
            out = []
            for start, end in windows:
                past = self.groups(node, start, end)
                if past.values or self.has_data(start, end):
                    out.append((past, start, end))
            if out:
                return out, basis
        return [], "none"

    def baseline(self, node: Node, history: list[tuple[Counts, int, int]], group: str) -> list[int]:
        return [self.group_count(node, past, group, start, end) for past, start, end in history]

    def has_data(self, start: int, end: int) -> bool:
        """Did the store hold any event at all in [start, end)? (A week before the store began is
        no evidence of a quiet week.)"""
        return self.search(MatchAll(), start, end, total_bound=1).total > 0

    # findings

    def finding(self, group: str | None, state: str, value: float | None, detail: str,
                samples: tuple[str, ...] = (), failures: bool = False) -> Finding:
        return Finding(rule_id=self.rule.id, group=group, state=state, value=value, threshold=self.rule.threshold,
                       detail=detail, sample_ids=tuple(samples[:SAMPLES]),
                       search_query=evidence_query(self.rule, group, failures),
                       window_start_ms=self.start, window_end_ms=self.end)

    def unknown(self, reason: str) -> list[Finding]:
        rule = self.rule
        groups = rule.expected_groups if rule.kind == "absence" and rule.expected_groups else (None,)
        return [self.finding(g, "unknown", None, f"unknown: {reason}") for g in groups]

    @property
    def span(self) -> str:
        return duration(self.rule.window_s)


def _event_id(hit: dict) -> str:
    return str((hit.get("event") or {}).get("id", ""))


# -- threshold -------------------------------------------------------------------------------

def _threshold(run: _Run) -> list[Finding]:
    rule = run.rule

    def judge(group, node) -> Finding:
        n, samples = run.count(node, samples=SAMPLES)
        state = "alert" if n > rule.threshold else "ok"
        word = "more than" if state == "alert" else "not more than"
        return run.finding(group, state, float(n), f"{n:,} events in {run.span} ({word} {_number(rule.threshold)})",
                           samples)

    if not rule.group_by:
        return [judge(None, run.query)]
    counts = run.groups(run.query)
    out = []
    for group in run.candidates(counts, lambda n: n > rule.threshold):
        finding = judge(group, conjoin(run.query, run.term(group)))
        if finding.state == "alert":
            out.append(finding)
    return out


# -- ratio -----------------------------------------------------------------------------------

def _ratio(run: _Run) -> list[Finding]:
    rule = run.rule
    failing = conjoin(run.query, run.failures)

    def judge(group, total: int) -> Finding:
        node = failing if group is None else conjoin(failing, run.term(group))
        failed, samples = run.count(node, samples=SAMPLES)
        share = failed / total if total else 0.0
        state = "alert" if total >= rule.min_count and total > 0 and share > rule.threshold else "ok"
        volume = "" if total >= rule.min_count else f"; below the minimum of {rule.min_count:,} events"
        detail = (f"{failed:,} of {total:,} failed ({share:.1%}) in {run.span} "
                  f"({'above' if state == 'alert' else 'alert above'} {rule.threshold:.0%}{volume})")
        return run.finding(group, state, share, detail, samples, failures=True)

    if not rule.group_by:
        return [judge(None, run.count(run.query)[0])]
    totals = run.groups(run.query)
    fails = run.groups(failing)
    out = []
    for group in run.candidates(fails, lambda n: True):
        total = run.group_count(run.query, totals, group)
        failed = run.group_count(failing, fails, group)
        if total >= rule.min_count and total > 0 and failed / total > rule.threshold:
            finding = judge(group, total)
            if finding.state == "alert":
                out.append(finding)
    return out


# -- spike -----------------------------------------------------------------------------------

def spike_score(rule: Rule, current: int, baseline: list[int]) -> float:
    """The figure a spike rule compares with its threshold (alerts/README.md):
    relative: (current - mean) / max(mean, 1);  zscore: (current - mean) / max(stdev, sqrt(mean), 1)."""
    mean = statistics.fmean(baseline) if baseline else 0.0
    if rule.spike_mode == "zscore":
        stdev = statistics.pstdev(baseline) if len(baseline) > 1 else 0.0
        return (current - mean) / max(stdev, math.sqrt(mean), 1.0)
    return (current - mean) / max(mean, 1.0)


def _windows(run: _Run, n: int, basis: str) -> str:
    plural = "s" if n > 1 else ""
    if basis == "weeks":
        return f"the same {run.span} of {n} earlier week{plural}"
    return f"the {n} window{plural} of {run.span} just before (no earlier week in the store)"


def _against(run: _Run, baseline: list[int], basis: str) -> str:
    if not baseline:
        return "with nothing earlier in the store to compare with"
    return f"against {_number(round(statistics.fmean(baseline), 2))} on average in {_windows(run, len(baseline), basis)}"


def _spike(run: _Run) -> list[Finding]:
    """The window against the same window of earlier weeks; with no earlier week in the store
    (a new installation), against the windows just before it."""
    rule = run.rule

    def judge(group, current: int, baseline: list[int], basis: str, samples=()) -> Finding:
        score = spike_score(rule, current, baseline)
        state = "alert" if current >= rule.min_count and score > rule.threshold else "ok"
        if not baseline:
            return run.finding(group, state, score, f"{current:,} events in {run.span}, {_against(run, baseline, basis)} "
                               f"(baseline 0: alert from {max(rule.min_count, int(rule.threshold) + 1):,} events)",
                               samples)
        figure = f"z = {score:.1f}" if rule.spike_mode == "zscore" else f"{score:+.0%}"
        limit = f"z > {_number(rule.threshold)}" if rule.spike_mode == "zscore" else f"+{rule.threshold:.0%}"
        volume = f"; below the minimum of {rule.min_count:,} events" if current < rule.min_count else ""
        detail = (f"{current:,} events in {run.span} {_against(run, baseline, basis)}: {figure} "
                  f"(alert above {limit}{volume})")
        return run.finding(group, state, score, detail, samples)

    if not rule.group_by:
        current, samples = run.count(run.query, samples=SAMPLES)
        baseline, basis = run.history_counts(run.query, fallback=True)
        return [judge(None, current, baseline, basis, samples)]

    counts = run.groups(run.query)
    floor = max(rule.min_count, 1)
    groups = run.candidates(counts, lambda n: n >= floor and n > rule.threshold)
    if not groups:
        return []
    history, basis = run.history_groups(run.query, fallback=True)
    out = []
    for group in groups:
        current = run.group_count(run.query, counts, group)
        baseline = run.baseline(run.query, history, group)
        if current >= rule.min_count and spike_score(rule, current, baseline) > rule.threshold:
            samples = run.count(conjoin(run.query, run.term(group)), samples=SAMPLES)[1]
            out.append(judge(group, current, baseline, basis, samples))
    return out


# -- absence ---------------------------------------------------------------------------------

def _absence(run: _Run) -> list[Finding]:
    """Fewer than `threshold` events where events are expected. Expected: every group listed in
    expected_groups; without a list, the groups (or, ungrouped with min_count, the rule itself) that
    had at least max(min_count, threshold) events in the same window of each earlier week the store
    has — at least two of them (or baseline_periods, if that is 1)."""
    rule = run.rule
    bar = max(rule.min_count, rule.threshold)

    def usual(baseline: list[int]) -> str:
        return f"usually {_number(min(baseline))} or more: {_windows(run, len(baseline), 'weeks')}"

    def judge(group, n: int, baseline: list[int] | None = None) -> Finding:
        state = "alert" if n < rule.threshold else "ok"
        detail = f"{n:,} events in {run.span} (expected at least {_number(rule.threshold)}"
        detail += f"; {usual(baseline)})" if baseline else ")"
        samples: tuple[str, ...] = ()
        if state == "alert":   # evidence: the group's last events, and when it was last heard of
            node = run.query if group is None else conjoin(run.query, run.term(group))
            result = run.search(node, run.end - max(LAST_SEEN_MS, rule.window_s * 1000), run.end, size=SAMPLES,
                                total_bound=0)
            samples = tuple(_event_id(h) for h in result.hits)
            last = result.hits[0].get("@timestamp") if result.hits else None
            detail += f"; last event {last}" if last else f"; none in the last {duration(LAST_SEEN_MS // 1000)}"
        return run.finding(group, state, float(n), detail, samples)

    if not rule.group_by:
        n = run.count(run.query)[0]
        if not rule.min_count:
            return [judge(None, n)]
        baseline, _ = run.history_counts(run.query, fallback=False)
        if len(baseline) >= min(HABIT_WEEKS, rule.baseline_periods) and min(baseline) >= bar:
            return [judge(None, n, baseline)]
        return [run.finding(None, "ok", float(n), f"{n:,} events in {run.span}; none expected: not "
                            f"{_number(bar)} or more in each of the earlier weeks at this time")]
    counts = run.groups(run.query)
    if rule.expected_groups:
        return [judge(g, run.group_count(run.query, counts, g)) for g in rule.expected_groups]
    history, _ = run.history_groups(run.query, fallback=False)
    if not history or len(history) < min(HABIT_WEEKS, rule.baseline_periods):
        return []   # a new installation: nothing is a habit yet
    # candidates: the groups present in every earlier week (a complete count lists every group present)
    listed = [set(past.values) for past, _, _ in history]
    candidates = set.intersection(*listed) if all(past.complete for past, _, _ in history) else set.union(*listed)
    out = []
    for group in sorted(candidates)[:MAX_CANDIDATES]:
        baseline = run.baseline(run.query, history, group)
        if min(baseline) >= bar:
            out.append(judge(group, run.group_count(run.query, counts, group), baseline))
    return out


_KINDS = {"threshold": _threshold, "ratio": _ratio, "spike": _spike, "absence": _absence}
