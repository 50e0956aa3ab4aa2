"""The alert scheduler: its own process (`platlogs scheduler`), never inside the web workers.

`tick(now_ms, services)` is one pass, and what the tests call: for every enabled rule, the run
moments due — multiples of the rule's cadence (the scheduler's interval, or a rule's
`interval_s` when the model grows one) on the epoch, so every scheduler computes the same
moments — are claimed; then evaluated, the rules of one moment together
(`evaluate_many(rules, store, moment)`: each rule's findings exactly as `evaluate` gives them,
their searches batched — one `_msearch` per step on OpenSearch); then applied to the lifecycle,
rule by rule and moment by moment; then the notifications due are delivered (see notify.py).

Catch-up: the last moment applied per rule is kept in the meta DB (`alert_rule_state`). When
ticks were missed (the scheduler was down, or a tick overran), the moments between it and now
are run in order, at most `catch_up_s` back (older ones are counted as skipped). Alert
instances carry their notification state, so an alert that was already notified is not
notified again; only the newest moment may send a reminder (renotify). A rule seen for the
first time starts at the current moment.

Two schedulers: a run is claimed by inserting (rule, moment) into `alert_rule_runs`, unique, so
exactly one of them runs it; findings of a moment older than the last applied one are
dropped; deliveries are claimed one by one. A scheduler that dies between claiming and applying
loses the moments it claimed in that tick (the next moment evaluates the rules again)."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC
from pathlib import Path

from .catalog import load_catalog
from .lifecycle import Alerts, Transition
from .model import Evaluation, Finding, Rule
from .notify import DeliveryReport, deliver_due
from .rules import default_rules_dir

log = logging.getLogger(__name__)

DEFAULT_INTERVAL_S = 60
DEFAULT_CATCH_UP_S = 2 * 3600
DEFAULT_RULES_DIR = default_rules_dir()  # the project's alerts/ (rules as data)
KEEP_CLAIMS_MS = 24 * 3600 * 1000  # claims are kept this long past the catch-up horizon


@dataclass
class TickReport:
    now_ms: int
    scheduler: str
    rules: int = 0  # enabled rules considered
    runs: list[tuple[str, int]] = field(default_factory=list)  # (rule id, moment) run by this scheduler
    claimed_elsewhere: int = 0  # moments another scheduler had claimed
    stale: int = 0  # runs dropped: a later moment was applied first
    skipped_moments: int = 0  # missed moments beyond the catch-up bound
    transitions: list[Transition] = field(default_factory=list)
    enqueued: int = 0  # notifications queued
    deliveries: DeliveryReport = field(default_factory=DeliveryReport)
    errors: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (
            f"{self.rules} rule(s), {len(self.runs)} run(s), {self.claimed_elsewhere} claimed elsewhere, "
            f"{len(self.transitions)} change(s), {self.enqueued} notification(s) queued, "
            f"{self.deliveries.sent} sent, {self.deliveries.retrying} to retry, {self.deliveries.failed} failed"
            + (f", {self.skipped_moments} missed moment(s) beyond the catch-up bound" if self.skipped_moments else "")
            + (f", {len(self.errors)} error(s)" if self.errors else "")
        )


def scheduler_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def cadence_ms(rule: Rule, interval_s: int) -> int:
    return max(1, int(getattr(rule, "interval_s", None) or interval_s)) * 1000


def moments_due(last_ms: int | None, now_ms: int, cadence: int, catch_up_ms: int) -> tuple[list[int], int]:
    """The moments to run (oldest first, the current one last) and how many missed ones lie
    beyond the catch-up bound."""
    current = now_ms // cadence * cadence
    if last_ms is None:
        return [current], 0
    if last_ms >= current:
        return [], 0
    first = last_ms // cadence * cadence + cadence
    horizon = -(-(current - catch_up_ms) // cadence) * cadence  # rounded up to the cadence
    start = max(first, horizon)
    return list(range(start, current + 1, cadence)), (start - first) // cadence


def _evaluate(evaluate, rule: Rule, store, moment: int) -> Evaluation:
    try:
        return evaluate(rule, store, moment)
    except Exception as exc:  # a broken rule never stops the others
        log.exception("rule %s at %s", rule.id, moment)
        return Evaluation(rule=rule, now_ms=moment, findings=[], error=f"{type(exc).__name__}: {exc}")


def _evaluate_all(runs: list[tuple[Rule, int]], store, evaluate: Callable | None) -> list[Evaluation]:
    """The evaluation of every (rule, moment), in order. By default the rules of one moment are
    evaluated together (evaluate_many: their searches batched, e.g. one `_msearch` per step); an
    `evaluate` given by the caller is called rule by rule."""
    if evaluate is not None:
        return [_evaluate(evaluate, rule, store, moment) for rule, moment in runs]
    from .evaluate import evaluate_many

    by_moment: dict[int, list[int]] = {}
    for position, (_, moment) in enumerate(runs):
        by_moment.setdefault(moment, []).append(position)
    out: list[Evaluation] = [Evaluation(rule=rule, now_ms=moment) for rule, moment in runs]  # each replaced below
    for moment, positions in sorted(by_moment.items()):
        rules = [runs[p][0] for p in positions]
        try:
            evaluations = evaluate_many(rules, store, moment)
        except Exception:  # never expected (evaluate_many reports per rule); still, one rule at a time
            log.exception("batched evaluation at %s", moment)
            from .evaluate import evaluate as one

            evaluations = [_evaluate(one, rule, store, moment) for rule in rules]
        for position, evaluation in zip(positions, evaluations, strict=True):  # one evaluation per rule
            out[position] = evaluation
    return out


def _sync_error_groups(services, now_ms: int, report) -> None:
    """The error-group registry follows the store first (app/errorgroups/sync.py): its events for
    new groups and regressions are then there for the new_error_group and regression rules."""
    if getattr(services, "ingestor", None) is None:
        return
    from ..errorgroups.sync import sync_services

    try:
        sync_services(services, now_ms)
    except Exception as exc:  # noqa: BLE001  (whatever fails there never stops the alert rules)
        log.warning("error groups: sync failed: %s", exc)
        report.errors.append(f"error groups: sync failed: {exc}")


def tick(
    now_ms: int,
    services,
    evaluate: Callable | None = None,
    rules: list[Rule] | None = None,
    *,
    interval_s: int = DEFAULT_INTERVAL_S,
    catch_up_s: int = DEFAULT_CATCH_UP_S,
    scheduler: str | None = None,
    rules_dir: Path | str | None = DEFAULT_RULES_DIR,
    notifiers: dict | None = None,
    deliver: bool = True,
) -> TickReport:
    """One pass at `now_ms` (see the module's docstring). `services`: anything with `meta`,
    `store` and `settings`; `evaluate` defaults to evaluate.evaluate (the rules of a moment
    batched through evaluate_many), `rules` to the rules in force in the catalog (catalog.py: the
    files of `rules_dir` and the back office's rules)."""
    scheduler = scheduler or scheduler_id()
    report = TickReport(now_ms=now_ms, scheduler=scheduler)
    _sync_error_groups(services, now_ms, report)
    alerts = Alerts(services.meta)
    if rules is None:
        catalog = load_catalog(services.meta, rules_dir)  # the rules the pages and the CLI list
        rules = catalog.rules()
        report.errors.extend(catalog.errors())
    last = alerts.last_moments()
    claimed: list[tuple[Rule, int, bool]] = []  # (rule, moment, catching up), rule by rule, moments in order
    for rule in rules:
        if not rule.enabled:
            continue
        report.rules += 1
        moments, skipped = moments_due(last.get(rule.id), now_ms, cadence_ms(rule, interval_s), catch_up_s * 1000)
        report.skipped_moments += skipped
        for moment in moments:
            if not alerts.claim_run(rule.id, moment, scheduler, now_ms):
                report.claimed_elsewhere += 1
                continue
            claimed.append((rule, moment, moment != moments[-1]))
    evaluations = _evaluate_all([(rule, moment) for rule, moment, _ in claimed], services.store, evaluate)
    for (rule, moment, catching_up), evaluation in zip(claimed, evaluations, strict=True):
        try:
            applied = alerts.apply(rule, evaluation, moment, catching_up=catching_up)
        except Exception as exc:
            log.exception("rule %s at %s: findings not applied", rule.id, moment)
            report.errors.append(f"rule {rule.id} at {moment}: findings not applied: {exc}")
            alerts.finish_run(rule.id, moment, f"not applied: {exc}", now_ms)
            continue
        if evaluation.error:
            report.errors.append(f"rule {rule.id} at {moment}: {evaluation.error}")
        outcome = (
            "stale"
            if applied.stale
            else f"error: {evaluation.error}"
            if evaluation.error
            else f"{_count(evaluation.findings)}; {len(applied.transitions)} change(s), {applied.enqueued} queued"
        )
        alerts.finish_run(rule.id, moment, outcome, now_ms)
        report.runs.append((rule.id, moment))
        report.stale += applied.stale
        report.transitions.extend(applied.transitions)
        report.enqueued += applied.enqueued
    if deliver:
        report.deliveries = deliver_due(
            alerts, services.store, services.settings, now_ms, claimed_by=scheduler, notifiers=notifiers
        )
        report.errors.extend(report.deliveries.errors)
    alerts.prune_runs(now_ms - catch_up_s * 1000 - KEEP_CLAIMS_MS)
    return report


def _count(findings: list[Finding]) -> str:
    states: dict[str, int] = {}
    for f in findings:
        states[f.state] = states.get(f.state, 0) + 1
    return ", ".join(f"{n} {state}" for state, n in sorted(states.items())) or "no findings"


def build_scheduler(job: Callable[[], None], interval_s: int, scheduler_cls=None):
    """An APScheduler scheduler running `job` every `interval_s` seconds, the first time at once;
    one run at a time (a tick that overruns makes the next one wait, and catch-up covers it)."""
    from datetime import datetime

    from apscheduler.schedulers.blocking import BlockingScheduler

    scheduler = (scheduler_cls or BlockingScheduler)(timezone=UTC)
    scheduler.add_job(
        job,
        "interval",
        seconds=interval_s,
        id="tick",
        max_instances=1,
        coalesce=True,
        misfire_grace_time=None,
        next_run_time=datetime.now(UTC),
    )
    return scheduler


def track_health(services, echo: Callable[[str], None] = print, now_ms: int | None = None) -> None:
    """The integration health job of a tick: each provider's status now, a change recorded as an
    `integration` event (app/integrations/tracking.py). Its failure never stops the alerts."""
    from ..integrations.tracking import track

    try:
        report = track(time.time_ns() // 1_000_000 if now_ms is None else now_ms, services)
    except Exception:
        log.exception("integration health tracking failed")
        return
    for change in report.changes:
        echo(f"  provider {change.provider}: {change.before} -> {change.after}")
    for error in report.errors:
        echo(f"  integration health: {error}")


def run(
    services,
    *,
    interval_s: int = DEFAULT_INTERVAL_S,
    catch_up_s: int = DEFAULT_CATCH_UP_S,
    rules_dir: Path | str | None = DEFAULT_RULES_DIR,
    echo: Callable[[str], None] = print,
) -> None:
    """The `platlogs scheduler` loop: tick every `interval_s` seconds until SIGTERM or Ctrl-C."""
    name = scheduler_id()

    def job() -> None:
        try:
            report = tick(
                time.time_ns() // 1_000_000,
                services,
                interval_s=interval_s,
                catch_up_s=catch_up_s,
                scheduler=name,
                rules_dir=rules_dir,
            )
        except Exception:  # the meta DB was unreachable, say: the next tick tries again
            log.exception("scheduler tick failed")
            return
        echo(f"tick: {report.summary()}")
        for error in report.errors:
            echo(f"  {error}")
        track_health(services, echo)

    scheduler = build_scheduler(job, interval_s)
    signal.signal(signal.SIGTERM, lambda *_: scheduler.shutdown(wait=False))
    echo(
        f"alert scheduler {name}: every {interval_s} s, catching up at most {catch_up_s} s; rules from "
        f"{rules_dir} and the back office"
    )
    with contextlib.suppress(KeyboardInterrupt, SystemExit):
        scheduler.start()
