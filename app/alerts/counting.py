"""The counting plumbing of alert evaluation (evaluate.py): the window, bounded counts, value
counts per group and evidence, as generators that yield the searches they need (see
evaluate.py's docstring) — and the words findings are written with."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..query import And, MatchAll, Node, Term
from ..query.fields import resolve
from ..query.quoting import quote
from ..storage import SearchRequest, StoreError
from .model import Finding, Rule

WEEK_MS = 7 * 86_400_000
SAMPLES = 5  # evidence: event ids per finding, newest first
COUNT_BOUND = 10_000_000  # totals are exact up to here
FACET_SIZE = 10_000  # group values listed per count; more distinct values -> exact counts per candidate
FACET_BOUND = 10_000_000  # the embedded store counts values over the newest this many matches
BUDGET_MS = 30_000  # time allowed to one value count before the rule is "unknown"
MAX_CANDIDATES = 500  # groups checked one by one when the value counts were not exact
LAST_SEEN_MS = WEEK_MS  # absence: how far back to look for the group's last event (evidence)
HABIT_WEEKS = 2  # absence without a list: weeks of history needed before a group is expected


def conjoin(*nodes: Node | None) -> Node:
    """AND of the nodes, without None and MatchAll, and with nested ANDs flattened."""
    items: list[Node] = []
    for node in nodes:
        if node is None or isinstance(node, MatchAll):
            continue
        items.extend(node.items if isinstance(node, And) else (node,))
    if not items:
        return MatchAll()
    return items[0] if len(items) == 1 else And(tuple(items))


def evidence_query(rule: Rule, group: str | None, failures: bool = False) -> str:
    """A query string for the search page that shows a finding's events (the time range is the
    finding's window: window_start_ms .. window_end_ms)."""
    parts = [q.strip() for q in (rule.query, rule.failure_query if failures else None) if q and q.strip() not in ("", "*")]
    term = f"{rule.group_by}:{quote(group)}" if group is not None and rule.group_by else None
    if len(parts) + (term is not None) <= 1:
        return parts[0] if parts else (term or "")
    return " AND ".join([f"({p})" if any(c.isspace() for c in p) else p for p in parts] + ([term] if term else []))


def duration(seconds: int) -> str:
    for unit, size in (("d", 86_400), ("h", 3600), ("min", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds // size} {unit}"
    return f"{seconds} s"


def number(x: float) -> str:
    return f"{x:,.0f}" if float(x).is_integer() else f"{x:,.2f}"


@dataclass
class Counts:
    """Events per group value over one window; `complete` when every value is listed with its exact count."""

    values: dict[str, int]
    complete: bool


class Run:
    """One evaluation: the rule, its parsed queries, the window, and the counting helpers. The
    helpers that search are generators (`yield from` them): they yield the list of requests they
    need and return what the results say."""

    def __init__(self, rule: Rule, now_ms: int, query: Node, failures: Node | None):
        self.rule, self.now = rule, now_ms
        self.query, self.failures = query, failures
        self.end = now_ms
        self.start = now_ms - rule.window_s * 1000
        self.boolean = bool(rule.group_by and resolve(rule.group_by).type == "boolean")

    @property
    def group_by(self) -> str:
        """The field a grouped rule counts by (only the grouped rules' steps ask)."""
        if not self.rule.group_by:
            raise ValueError(f"rule {self.rule.id} counts no groups (no group_by)")
        return self.rule.group_by

    # counting

    def request(
        self,
        node: Node,
        start: int | None = None,
        end: int | None = None,
        size: int = 0,
        total_bound: int = COUNT_BOUND,
        **more,
    ) -> SearchRequest:
        return SearchRequest(
            query=node,
            start_ms=self.start if start is None else start,
            end_ms=self.end if end is None else end,
            size=size,
            total_bound=total_bound,
            now_ms=self.now,
            **more,
        )

    @staticmethod
    def ask(requests: list[SearchRequest]):
        """The results of several searches, asked at once."""
        return (yield list(requests)) if requests else []

    def count_request(self, node: Node, start=None, end=None, samples: int = 0) -> SearchRequest:
        return self.request(node, start, end, size=samples)

    @staticmethod
    def counted(result) -> tuple[int, tuple[str, ...]]:
        """(exact count up to COUNT_BOUND, ids of the newest matches asked for)."""
        return result.total, tuple(event_id_of(h) for h in result.hits)

    def count(self, node: Node, start: int | None = None, end: int | None = None, samples: int = 0):
        results = yield from self.ask([self.count_request(node, start, end, samples)])
        return self.counted(results[0])

    def counts(self, nodes_windows: list[tuple[Node, int | None, int | None]], samples: int = 0):
        """count() of several (node, start, end) at once."""
        results = yield from self.ask([self.count_request(n, s, e, samples) for n, s, e in nodes_windows])
        return [self.counted(r) for r in results]

    def groups_request(self, node: Node, start=None, end=None) -> SearchRequest:
        return self.request(
            node,
            start,
            end,
            total_bound=0,
            facets=(self.group_by,),
            facet_size=FACET_SIZE,
            facet_bound=FACET_BOUND,
            budget_ms=BUDGET_MS,
        )

    def grouped(self, result) -> Counts:
        name = self.group_by
        facet = result.facets[name]
        if facet.timed_out:
            raise StoreError(f"counting the values of {name} took longer than {BUDGET_MS // 1000} s")
        values: dict[str, int] = {}
        for item in facet.values:
            key = self.key(item.value)
            values[key] = values.get(key, 0) + item.count
        return Counts(values, complete=not facet.approximate and len(facet.values) < FACET_SIZE)

    def groups(self, node: Node, start: int | None = None, end: int | None = None):
        results = yield from self.ask([self.groups_request(node, start, end)])
        return self.grouped(results[0])

    def key(self, value) -> str:
        if self.boolean:
            return "true" if value in (True, 1, "true", "1") else "false"
        return str(value)

    def term(self, group: str) -> Node:
        return Term(self.group_by, group)

    def group_counts(self, asks: Sequence[tuple[Node, Counts, str, int | None, int | None]]):
        """Each (node, counts, group, start, end)'s count: from the value counts when they are
        complete, else counted exactly (all those searches at once)."""
        exact = [
            (conjoin(node, self.term(group)), start, end) for node, counts, group, start, end in asks if not counts.complete
        ]
        found = iter((yield from self.counts(exact)))
        return [counts.values.get(group, 0) if counts.complete else next(found)[0] for _, counts, group, _, _ in asks]

    def group_count(self, node: Node, counts: Counts, group: str, start=None, end=None):
        return (yield from self.group_counts([(node, counts, group, start, end)]))[0]

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

    def history_counts(self, node: Node, fallback: bool):
        """Counts of `node` in each earlier week's window that the store has data for — or, with
        `fallback` and no such week, in the recent windows that have data. And which it was."""
        for basis, windows in (("weeks", self.weeks()), ("recent", self.recent() if fallback else [])):
            found = [n for n, _ in (yield from self.counts([(node, s, e) for s, e in windows]))]
            data = yield from self.has_data([w for w, n in zip(windows, found, strict=True) if not n])
            out = [n for w, n in zip(windows, found, strict=True) if n or data[w]]
            if out:
                return out, basis
        return [], "none"

    def history_groups(self, node: Node, fallback: bool):
        """Value counts per window, chosen as in history_counts."""
        for basis, windows in (("weeks", self.weeks()), ("recent", self.recent() if fallback else [])):
            results = yield from self.ask([self.groups_request(node, s, e) for s, e in windows])
            found = [self.grouped(r) for r in results]
            data = yield from self.has_data([w for w, past in zip(windows, found, strict=True) if not past.values])
            out = [(past, s, e) for (s, e), past in zip(windows, found, strict=True) if past.values or data[(s, e)]]
            if out:
                return out, basis
        return [], "none"

    def baselines(self, node: Node, history: list[tuple[Counts, int, int]], groups: list[str]):
        """Each group's counts in the history's windows."""
        flat = yield from self.group_counts([(node, past, g, s, e) for g in groups for past, s, e in history])
        return {g: flat[i * len(history) : (i + 1) * len(history)] for i, g in enumerate(groups)}

    def has_data(self, windows: list[tuple[int, int]]):
        """Did the store hold any event at all in each [start, end)? (A week before the store began
        is no evidence of a quiet week.)"""
        results = yield from self.ask([self.request(MatchAll(), s, e, total_bound=1) for s, e in windows])
        return {w: r.total > 0 for w, r in zip(windows, results, strict=True)}

    # findings

    def finding(
        self,
        group: str | None,
        state: str,
        value: float | None,
        detail: str,
        samples: tuple[str, ...] = (),
        failures: bool = False,
    ) -> Finding:
        return Finding(
            rule_id=self.rule.id,
            group=group,
            state=state,
            value=value,
            threshold=self.rule.threshold,
            detail=detail,
            sample_ids=tuple(samples[:SAMPLES]),
            search_query=evidence_query(self.rule, group, failures),
            window_start_ms=self.start,
            window_end_ms=self.end,
        )

    def unknown(self, reason: str) -> list[Finding]:
        rule = self.rule
        groups = rule.expected_groups if rule.kind == "absence" and rule.expected_groups else (None,)
        return [self.finding(g, "unknown", None, f"unknown: {reason}") for g in groups]

    @property
    def span(self) -> str:
        return duration(self.rule.window_s)


def event_id_of(hit: dict) -> str:
    return str((hit.get("event") or {}).get("id", ""))
