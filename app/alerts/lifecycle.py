"""Alert instances and their lifecycle, kept in the meta database (SQLite or PostgreSQL).

One instance per rule and group (`group_key`: the group's value, "" for an ungrouped rule) is
open at a time: pending -> firing -> resolved. The scheduler feeds every rule run's findings
to `Alerts.apply`; people act through `acknowledge`, `mute`, `unmute` and maintenance windows.
No Flask here: the pages call these methods.

The rules
- "alert" for a group with no open instance opens one in `pending`. It turns `firing` once the
  condition has held for rule.pending_s (0: at once, in the same run). Entering `firing`
  notifies the rule's destinations — unless the alert is acknowledged, muted, or inside a
  maintenance window: then the suppression and its reason are recorded (once per reason, not
  at every run), and the notification goes out when the suppression ends while it still fires.
- Firing and still "alert": no new notification unless rule.renotify_s (> 0) has passed since
  the last one, and it is not acknowledged, muted or in maintenance (dedupe). While catching up
  on missed runs, only the latest moment may re-notify (no burst of reminders about the past).
- "ok" resolves an open instance: a firing one notifies its resolution, once, to the
  destinations it was notified to (not when muted or in maintenance: recorded as suppressed);
  a pending one closes without notification. An open group a successful evaluation no longer
  lists counts as "ok" (a count rule grouped by player stops listing a quiet player).
- "unknown" (the store could not answer) changes nothing and records nothing.
- Acknowledge (owner, comment) holds until the instance resolves; a mute covers a rule, or one
  group of it, until a time (it outlives instances); a maintenance window covers a rule and/or
  groups matching a glob pattern (e.g. a provider's announced maintenance) during [start, end).
- Every change is in the history (`alert_history`): who ("scheduler" or a username), when,
  from, to, comment.

Concurrency: a rule run is claimed (`alert_rule_runs`, unique on rule and moment) so two
schedulers never both run it; applying findings first writes the rule's row in
`alert_rule_state`, which serialises appliers of one rule (a row lock on PostgreSQL, the write
lock on SQLite) and lets a run older than the last applied one be skipped (`Applied.stale`).
Notifications are written to `alert_deliveries` in the same transaction as the state change
(an outbox): `notify.deliver_due` sends them, retrying with backoff.

Times: the scheduler passes epoch milliseconds (the run's moment); the database keeps aware
UTC datetimes (`UTCDateTime`)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import delete, or_, select, update
from sqlalchemy.exc import IntegrityError

from ..meta.alert_tables import (
    FIRING,
    OPEN,
    PENDING,
    RESOLVED,
    AlertDelivery,
    AlertInstance,
    AlertMute,
    MaintenanceWindow,
    RuleRun,
    RuleState,
    iso,
)
from . import history
from .changes import AlertChanges, moment
from .common import (
    _number,
    group_key,
    to_ms,
)
from .model import Evaluation, Finding, Rule
from .queries import AlertQueries

# -- applying findings -------------------------------------------------------------------------


@dataclass
class Transition:
    rule_id: str
    group: str | None
    instance_id: int
    from_state: str | None
    to_state: str


@dataclass
class Applied:
    """What one rule run changed."""

    rule_id: str
    moment_ms: int
    stale: bool = False  # a later run of the rule was applied first: nothing done
    transitions: list[Transition] = field(default_factory=list)
    enqueued: int = 0  # notifications written to the outbox
    suppressed: list[tuple[int, str]] = field(default_factory=list)  # (instance id, reason)


class _Run:
    """The state of one `apply`: the session, the rule, the moment, the suppressions in force."""

    def __init__(self, s, rule: Rule, moment_ms: int, catching_up: bool, result: Applied):
        self.s, self.rule, self.moment_ms, self.catching_up, self.result = s, rule, moment_ms, catching_up, result
        self.at = moment(moment_ms)
        self.mutes = s.scalars(
            select(AlertMute).where(AlertMute.rule_id == rule.id, AlertMute.lifted_at.is_(None), AlertMute.until > self.at)
        ).all()
        self.windows = s.scalars(
            select(MaintenanceWindow).where(
                or_(MaintenanceWindow.rule_id == rule.id, MaintenanceWindow.rule_id.is_(None)),
                MaintenanceWindow.starts_at <= self.at,
                MaintenanceWindow.ends_at > self.at,
            )
        ).all()

    def record(self, inst: AlertInstance, action: str, from_state, to_state, comment: str = "") -> None:
        history.transition(self.s, inst, action, from_state, to_state, self.at, comment)

    def mute_for(self, key: str) -> AlertMute | None:
        covering = [m for m in self.mutes if m.covers(self.rule.id, key, self.at)]
        return max(covering, key=lambda m: m.until) if covering else None

    def suppression(self, inst: AlertInstance, kind: str) -> str | None:
        for window in self.windows:
            if window.covers(self.rule.id, inst.group_key, self.at):
                return f"maintenance window #{window.id} until {iso(window.ends_at)}: {window.reason}"
        mute = self.mute_for(inst.group_key)
        if mute is not None:
            return f"muted by {mute.created_by} until {iso(mute.until)}"
        if kind != "resolved" and inst.acked_at is not None:
            return f"acknowledged by {inst.ack_owner}"
        return None


def _payload(rule: Rule, inst: AlertInstance, kind: str, moment_ms: int) -> str:
    """The evidence a notification carries, as of this change (samples are fetched when sent)."""
    return json.dumps(
        {
            "event": kind,
            "moment": iso(moment_ms),
            "rule": {
                "id": rule.id,
                "name": rule.name,
                "kind": rule.kind,
                "severity": rule.severity,
                "query": rule.query,
                "window_s": rule.window_s,
                "group_by": rule.group_by,
                "description": rule.description,
            },
            "alert": {
                "id": inst.id,
                "group": inst.group,
                "state": inst.state,
                "value": inst.value,
                "threshold": inst.threshold,
                "detail": inst.detail,
                "first_seen_at": iso(inst.first_seen_at),
                "fired_at": iso(inst.fired_at),
                "resolved_at": iso(inst.resolved_at),
                "acknowledged_by": inst.ack_owner,
            },
            "evidence": {
                "sample_ids": inst.samples[:5],
                "search_query": inst.search_query,
                "window_start_ms": inst.window_start_ms,
                "window_end_ms": inst.window_end_ms,
            },
        },
        default=str,
    )


class Alerts(AlertQueries, AlertChanges):
    """The lifecycle service over a MetaDB (`Alerts(services.meta)`): the state machine here, the
    read side in queries.py, people's changes in changes.py (called through the service in actions.py)."""

    def __init__(self, meta):
        self.meta = meta
        self.Session = meta.Session

    # -- rule runs ----------------------------------------------------------------------------

    def claim_run(self, rule_id: str, moment_ms: int, claimed_by: str, at_ms: int | None = None) -> bool:
        """True when this caller won the run of `rule_id` at `moment_ms` (the unique constraint
        decides: a second claimant, in any process, gets False)."""
        with self.Session() as s:
            s.add(
                RuleRun(
                    rule_id=rule_id,
                    moment_ms=moment_ms,
                    claimed_by=claimed_by[:128],
                    claimed_at=moment(at_ms if at_ms is not None else moment_ms),
                )
            )
            try:
                s.commit()
                return True
            except IntegrityError:
                s.rollback()
                return False

    def finish_run(self, rule_id: str, moment_ms: int, outcome: str, at_ms: int) -> None:
        with self.Session() as s:
            s.execute(
                update(RuleRun)
                .where(RuleRun.rule_id == rule_id, RuleRun.moment_ms == moment_ms)
                .values(finished_at=moment(at_ms), outcome=outcome[:1024])
            )
            s.commit()

    def prune_runs(self, before_ms: int) -> int:
        """Forget claims of moments before `before_ms` (older than any catch-up reaches)."""
        with self.Session() as s:
            count = s.execute(delete(RuleRun).where(RuleRun.moment_ms < before_ms)).rowcount
            s.commit()
            return count

    def _ensure_state(self, rule_id: str) -> None:
        with self.Session() as s:
            if s.get(RuleState, rule_id) is not None:
                return
            s.add(RuleState(rule_id=rule_id, version=0))
            try:
                s.commit()
            except IntegrityError:  # another scheduler made it first
                s.rollback()

    def apply(self, rule: Rule, evaluation: Evaluation, moment_ms: int, *, catching_up: bool = False) -> Applied:
        """Turn one run's findings into state changes, history and queued notifications (one
        transaction). `catching_up`: a moment before the latest one (no re-notifications)."""
        result = Applied(rule.id, moment_ms)
        self._ensure_state(rule.id)
        with self.Session() as s:
            # written first: serialises the appliers of this rule (see the module's docstring)
            s.execute(
                update(RuleState)
                .where(RuleState.rule_id == rule.id)
                .values(version=RuleState.version + 1)
                .execution_options(synchronize_session=False)
            )
            state = s.scalars(select(RuleState).where(RuleState.rule_id == rule.id)).one()
            if state.last_moment_ms is not None and state.last_moment_ms >= moment_ms:
                s.rollback()
                result.stale = True
                return result
            state.last_moment_ms, state.last_run_at = moment_ms, moment(moment_ms)
            state.last_error = evaluation.error[:1024] if evaluation.error else None
            run = _Run(s, rule, moment_ms, catching_up, result)
            open_instances = {
                i.group_key: i
                for i in s.scalars(
                    select(AlertInstance).where(AlertInstance.rule_id == rule.id, AlertInstance.state.in_(OPEN))
                )
            }
            seen: set[str] = set()
            for finding in evaluation.findings:
                key = group_key(finding.group)
                if key in seen:
                    continue
                seen.add(key)
                inst = open_instances.get(key)
                if finding.state == "alert":
                    self._on_alert(run, inst, finding)
                elif finding.state == "ok" and inst is not None:
                    self._resolve(run, inst, finding.detail)
            if evaluation.error is None:
                for key, inst in open_instances.items():
                    if key not in seen:
                        self._resolve(run, inst, "no longer reported by the evaluation")
            s.commit()
        return result

    def _on_alert(self, run: _Run, inst: AlertInstance | None, finding: Finding) -> None:
        rule, at = run.rule, run.at
        if inst is None:
            key = group_key(finding.group)
            mute = run.mute_for(key)
            inst = AlertInstance(
                rule_id=rule.id,
                group_key=key,
                state=PENDING,
                severity=rule.severity,
                first_seen_at=at,
                last_seen_at=at,
                notify_count=0,
                muted_until=mute.until if mute else None,
            )
            self._take_finding(inst, finding, at)
            run.s.add(inst)
            run.s.flush()
            run.record(inst, "opened", None, PENDING, finding.detail or _describe(finding))
            run.result.transitions.append(Transition(rule.id, inst.group, inst.id, None, PENDING))
        else:
            self._take_finding(inst, finding, at)
        if inst.state == PENDING:
            if run.moment_ms - (to_ms(inst.first_seen_at) or run.moment_ms) >= rule.pending_s * 1000:
                inst.state, inst.fired_at = FIRING, at
                held = f" (held {rule.pending_s} s)" if rule.pending_s else ""
                run.record(inst, "fired", PENDING, FIRING, (finding.detail or _describe(finding)) + held)
                run.result.transitions.append(Transition(rule.id, inst.group, inst.id, PENDING, FIRING))
                self._notify(run, inst, "firing", rule.notify)
            return
        # firing, still alerting: a first notification (held back until now) or a reminder
        if inst.last_notified_at is None:
            self._notify(run, inst, "firing", rule.notify)
        elif (
            rule.renotify_s > 0
            and not run.catching_up
            and run.moment_ms - (to_ms(inst.last_notified_at) or run.moment_ms) >= rule.renotify_s * 1000
        ):
            self._notify(run, inst, "renotify", rule.notify)

    @staticmethod
    def _take_finding(inst: AlertInstance, finding: Finding, at: datetime) -> None:
        inst.value, inst.threshold = _number(finding.value), _number(finding.threshold)
        inst.detail = (finding.detail or "")[:1024]
        inst.sample_ids = json.dumps(list(finding.sample_ids[:5]))
        inst.search_query = (finding.search_query or "")[:4096]
        inst.window_start_ms = finding.window_start_ms or None
        inst.window_end_ms = finding.window_end_ms or None
        inst.last_seen_at = at

    def _resolve(self, run: _Run, inst: AlertInstance, detail: str) -> None:
        was = inst.state
        inst.state, inst.resolved_at = RESOLVED, run.at
        run.record(inst, "resolved", was, RESOLVED, detail if was == FIRING else f"cleared before firing. {detail}")
        run.result.transitions.append(Transition(run.rule.id, inst.group, inst.id, was, RESOLVED))
        if was == FIRING:
            told = run.s.scalars(
                select(AlertDelivery.destination)
                .where(AlertDelivery.instance_id == inst.id, AlertDelivery.kind.in_(("firing", "renotify")))
                .distinct()
            ).all()
            if told:
                self._notify(run, inst, "resolved", tuple(sorted(told)))

    def _notify(self, run: _Run, inst: AlertInstance, kind: str, destinations: tuple[str, ...]) -> None:
        reason = run.suppression(inst, kind)
        if reason is None and not destinations:
            reason = "the rule names no destinations"
        if reason is not None:
            if inst.suppressed != reason:  # recorded once per reason, not at every run
                run.record(inst, "notification_suppressed", inst.state, inst.state, f"{kind}: {reason}")
                run.result.suppressed.append((inst.id, reason))
            inst.suppressed = reason[:512]
            return
        payload = _payload(run.rule, inst, kind, run.moment_ms)
        for name in dict.fromkeys(destinations):
            run.s.add(
                AlertDelivery(
                    instance_id=inst.id,
                    destination=name,
                    kind=kind,
                    payload=payload,
                    status="pending",
                    attempts=0,
                    next_attempt_at=run.at,
                    created_at=run.at,
                )
            )
            run.result.enqueued += 1
        inst.last_notified_at, inst.notify_count, inst.suppressed = run.at, inst.notify_count + 1, None
        run.record(inst, "notified", inst.state, inst.state, f"{kind} to {', '.join(dict.fromkeys(destinations))}")


def _describe(finding: Finding) -> str:
    return f"value {finding.value} against threshold {finding.threshold}"
