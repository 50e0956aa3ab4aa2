"""The alerting data model shared by rule loading, evaluation, the scheduler and the pages.

A rule is data (alerts/*.yaml, or a row of the meta database for rules made in the UI): a query
in the project's query language plus a condition of one of four kinds. `evaluate(rule, store,
now_ms)` (evaluate.py) is a pure function of the store's content at `now_ms` returning one
`Finding` per group; the scheduler turns findings into alert instances with a lifecycle
(pending -> firing -> resolved) and notifications."""

from __future__ import annotations

from dataclasses import dataclass, field

KINDS = ("threshold", "ratio", "spike", "absence")
SEVERITIES = ("info", "warning", "critical")


@dataclass(frozen=True)
class Rule:
    id: str  # stable: [a-z0-9][a-z0-9_.-]*; file rules and UI rules share one namespace
    name: str
    kind: str  # one of KINDS
    query: str  # the events the rule looks at (query language)
    window_s: int  # the evaluation window, seconds
    threshold: float  # threshold: count > threshold; ratio: share > threshold (0..1);
    # spike: relative jump (2.0 = 3x the baseline) or z-score (see spike_mode);
    # absence: fewer than `threshold` events is an alert
    group_by: str | None = None  # one alert per value of this field (e.g. actor.id, integration.provider)
    failure_query: str | None = None  # ratio: which of the matching events are failures
    min_count: int = 0  # ratio/spike: no alert below this many matching events (1 of 2 does not fire)
    baseline_periods: int = 4  # spike: same window in this many previous weeks (hour-of-week aware)
    spike_mode: str = "relative"  # spike: "relative" (current > (1 + threshold) x baseline mean) or "zscore"
    expected_groups: tuple[str, ...] = ()  # absence with group_by: groups that must be present
    pending_s: int = 0  # a condition must hold this long before the alert fires (0: at once)
    renotify_s: int = 3600  # a firing alert notifies again after this long (0: never)
    severity: str = "warning"
    notify: tuple[str, ...] = ()  # destination names (configured destinations), e.g. ("ops-webhook",)
    description: str = ""
    enabled: bool = True
    source: str = "file"  # "file" (alerts/*.yaml) or "ui" (meta database)


@dataclass(frozen=True)
class Finding:
    """What `evaluate` says about one group at one moment."""

    rule_id: str
    group: str | None  # the group's value, or None for an ungrouped rule
    state: str  # "alert", "ok" or "unknown" (the store could not answer: not "no data")
    value: float | None  # the measured figure (count, share, jump or z-score)
    threshold: float
    detail: str = ""  # one line a person understands ("27 failed logins in 5 min > 20")
    sample_ids: tuple[str, ...] = ()  # up to five matching events, newest first (evidence)
    search_query: str = ""  # the query that shows the evidence
    window_start_ms: int = 0
    window_end_ms: int = 0


@dataclass
class Evaluation:
    rule: Rule
    now_ms: int
    findings: list[Finding] = field(default_factory=list)
    error: str | None = None  # the rule could not run (bad query; store unreachable -> findings are "unknown")
