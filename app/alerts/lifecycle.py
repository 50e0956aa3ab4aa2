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

import dataclasses
import fnmatch
import json
import math
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Callable

from sqlalchemy import (BigInteger, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint, delete, or_,
                        select, text, update)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column

from ..meta.db import Base, UTCDateTime
from .model import Evaluation, Finding, Rule

PENDING, FIRING, RESOLVED = "pending", "firing", "resolved"
OPEN = (PENDING, FIRING)
SCHEDULER = "scheduler"          # the actor of automatic changes
DELIVERY_KINDS = ("firing", "renotify", "resolved")


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def to_dt(value: int | datetime | None) -> datetime | None:
    """An aware UTC datetime from epoch milliseconds (or a datetime)."""
    if value is None or isinstance(value, datetime):
        return value if value is None or value.tzinfo else value.replace(tzinfo=timezone.utc)
    return datetime.fromtimestamp(value / 1000, timezone.utc)


def to_ms(value: datetime | None) -> int | None:
    return None if value is None else round(value.timestamp() * 1000)


def iso(value: int | datetime | None) -> str | None:
    value = to_dt(value)
    return None if value is None else value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def _number(value) -> float | None:
    if value is None:
        return None
    value = float(value)
    return None if math.isnan(value) else value


def _who(actor: str) -> str:
    if not isinstance(actor, str) or not actor.strip() or len(actor) > 64 or "\x00" in actor:
        raise ValueError("who: a username of 1-64 characters")
    return actor.strip()


def _comment(value: str | None, limit: int = 1024) -> str:
    value = (value or "").replace("\x00", "")
    if len(value) > limit:
        raise ValueError(f"comment: at most {limit} characters")
    return value


def group_key(group: str | None) -> str:
    return "" if group is None else str(group)[:512]


# -- tables ----------------------------------------------------------------------------------

class AlertInstance(Base):
    __tablename__ = "alert_instances"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    rule_id: Mapped[str] = mapped_column(String(128), nullable=False)
    group_key: Mapped[str] = mapped_column(String(512), nullable=False, default="")
    state: Mapped[str] = mapped_column(String(16), nullable=False)
    severity: Mapped[str] = mapped_column(String(16), nullable=False, default="warning")
    value: Mapped[float | None] = mapped_column(Float)          # the last "alert" value
    threshold: Mapped[float | None] = mapped_column(Float)
    detail: Mapped[str] = mapped_column(String(1024), nullable=False, default="")
    sample_ids: Mapped[str] = mapped_column(Text, nullable=False, default="[]")   # JSON list, newest first
    search_query: Mapped[str] = mapped_column(String(4096), nullable=False, default="")
    window_start_ms: Mapped[int | None] = mapped_column(BigInteger)
    window_end_ms: Mapped[int | None] = mapped_column(BigInteger)
    first_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)   # the last "alert" finding
    fired_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_notified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    notify_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    suppressed: Mapped[str | None] = mapped_column(String(512))   # why the last due notification was held back
    ack_owner: Mapped[str | None] = mapped_column(String(64))
    ack_comment: Mapped[str | None] = mapped_column(String(1024))
    acked_by: Mapped[str | None] = mapped_column(String(64))
    acked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    muted_until: Mapped[datetime | None] = mapped_column(UTCDateTime)   # shown; the mutes table decides
    last_delivery_error: Mapped[str | None] = mapped_column(String(1024))  # a permanent delivery failure

    __table_args__ = (
        # at most one open instance per rule and group
        Index("ux_alert_instances_open", "rule_id", "group_key", unique=True,
              sqlite_where=text("state != 'resolved'"), postgresql_where=text("state != 'resolved'")),
        Index("ix_alert_instances_state", "state"),
        Index("ix_alert_instances_rule", "rule_id", "first_seen_at"),
    )

    @property
    def group(self) -> str | None:
        return self.group_key or None

    @property
    def samples(self) -> list[str]:
        return json.loads(self.sample_ids or "[]")

    @property
    def is_open(self) -> bool:
        return self.state in OPEN

    def as_dict(self) -> dict:
        return {"id": self.id, "rule_id": self.rule_id, "group": self.group, "state": self.state,
                "severity": self.severity, "value": self.value, "threshold": self.threshold, "detail": self.detail,
                "sample_ids": self.samples, "search_query": self.search_query,
                "window_start_ms": self.window_start_ms, "window_end_ms": self.window_end_ms,
                "first_seen_at": iso(self.first_seen_at), "last_seen_at": iso(self.last_seen_at),
                "fired_at": iso(self.fired_at), "resolved_at": iso(self.resolved_at),
                "last_notified_at": iso(self.last_notified_at), "notify_count": self.notify_count,
                "suppressed": self.suppressed, "ack_owner": self.ack_owner, "ack_comment": self.ack_comment,
                "acked_by": self.acked_by, "acked_at": iso(self.acked_at), "muted_until": iso(self.muted_until),
                "last_delivery_error": self.last_delivery_error}


class AlertHistory(Base):
    """Every change: state transitions, notifications (sent, suppressed, failed), acknowledgements,
    mutes, maintenance windows, rule edits. `instance_id` is empty for rule-level entries."""
    __tablename__ = "alert_history"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    instance_id: Mapped[int | None] = mapped_column(ForeignKey("alert_instances.id", ondelete="CASCADE"))
    rule_id: Mapped[str | None] = mapped_column(String(128))
    group_key: Mapped[str | None] = mapped_column(String(512))
    at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    actor: Mapped[str] = mapped_column(String(64), nullable=False)
    action: Mapped[str] = mapped_column(String(32), nullable=False)
    from_state: Mapped[str | None] = mapped_column(String(16))
    to_state: Mapped[str | None] = mapped_column(String(16))
    comment: Mapped[str] = mapped_column(String(2048), nullable=False, default="")

    __table_args__ = (Index("ix_alert_history_instance", "instance_id", "id"),
                      Index("ix_alert_history_rule", "rule_id", "at"),
                      Index("ix_alert_history_at", "at"))

    def as_dict(self) -> dict:
        return {"id": self.id, "instance_id": self.instance_id, "rule_id": self.rule_id,
                "group": self.group_key or None, "at": iso(self.at), "actor": self.actor, "action": self.action,
                "from": self.from_state, "to": self.to_state, "comment": self.comment}


class AlertMute(Base):
    """Silence a rule (group_key NULL: every group) or one of its groups until a time."""
    __tablename__ = "alert_mutes"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    rule_id: Mapped[str] = mapped_column(String(128), nullable=False)
    group_key: Mapped[str | None] = mapped_column(String(512))
    until: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    comment: Mapped[str] = mapped_column(String(1024), nullable=False, default="")
    created_by: Mapped[str] = mapped_column(String(64), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    lifted_by: Mapped[str | None] = mapped_column(String(64))
    lifted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_alert_mutes_rule", "rule_id", "until"),)

    def covers(self, rule_id: str, key: str, at: datetime) -> bool:
        return (self.rule_id == rule_id and (self.group_key is None or self.group_key == key)
                and self.lifted_at is None and at < self.until)


class MaintenanceWindow(Base):
    """Notifications of matching alerts are held back during [starts_at, ends_at). rule_id NULL:
    every rule; group_pattern NULL: every group, else a glob (`pragmatic*`) on the group value."""
    __tablename__ = "alert_maintenance"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    rule_id: Mapped[str | None] = mapped_column(String(128))
    group_pattern: Mapped[str | None] = mapped_column(String(512))
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    reason: Mapped[str] = mapped_column(String(1024), nullable=False)
    created_by: Mapped[str] = mapped_column(String(64), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)

    __table_args__ = (Index("ix_alert_maintenance_ends", "ends_at"),)

    def covers(self, rule_id: str, key: str, at: datetime) -> bool:
        return (self.starts_at <= at < self.ends_at and (self.rule_id is None or self.rule_id == rule_id)
                and (self.group_pattern is None or fnmatch.fnmatchcase(key, self.group_pattern)))

    def as_dict(self) -> dict:
        return {"id": self.id, "rule_id": self.rule_id, "group_pattern": self.group_pattern,
                "starts_at": iso(self.starts_at), "ends_at": iso(self.ends_at), "reason": self.reason,
                "created_by": self.created_by, "created_at": iso(self.created_at)}


class RuleRun(Base):
    """A claimed rule run: whoever inserts (rule_id, moment_ms) first runs it."""
    __tablename__ = "alert_rule_runs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    rule_id: Mapped[str] = mapped_column(String(128), nullable=False)
    moment_ms: Mapped[int] = mapped_column(BigInteger, nullable=False)
    claimed_by: Mapped[str] = mapped_column(String(128), nullable=False)
    claimed_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    outcome: Mapped[str | None] = mapped_column(String(1024))

    __table_args__ = (UniqueConstraint("rule_id", "moment_ms", name="uq_alert_rule_runs_moment"),
                      Index("ix_alert_rule_runs_moment", "moment_ms"))


class RuleState(Base):
    """Per rule: the last moment whose findings were applied, and the last run's error."""
    __tablename__ = "alert_rule_state"
    rule_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    last_moment_ms: Mapped[int | None] = mapped_column(BigInteger)
    last_run_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(String(1024))
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=0)


class UIRule(Base):
    """A rule made in the back office: its definition as JSON (validated by rules.validate_rule)."""
    __tablename__ = "alert_ui_rules"
    rule_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    definition: Mapped[str] = mapped_column(Text, nullable=False)
    created_by: Mapped[str] = mapped_column(String(64), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    updated_by: Mapped[str] = mapped_column(String(64), nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)

    @property
    def data(self) -> dict:
        return json.loads(self.definition)


class Destination(Base):
    """Where notifications go: kind webhook (JSON, HMAC-signed with `secret`), email (target:
    comma-separated addresses) or slack (an incoming-webhook URL). The secret is kept as given:
    signing needs it."""
    __tablename__ = "alert_destinations"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    target: Mapped[str] = mapped_column(String(2048), nullable=False)
    secret: Mapped[str | None] = mapped_column(String(512))
    created_by: Mapped[str] = mapped_column(String(64), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)

    def as_dict(self) -> dict:   # never the secret
        return {"id": self.id, "name": self.name, "kind": self.kind, "target": self.target,
                "has_secret": bool(self.secret), "created_by": self.created_by, "created_at": iso(self.created_at)}


class AlertDelivery(Base):
    """One notification to one destination (the outbox): pending -> sending -> sent | pending
    (retry at next_attempt_at) | failed (permanent). `payload` is the evidence as of the change."""
    __tablename__ = "alert_deliveries"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("alert_instances.id", ondelete="CASCADE"), nullable=False)
    destination: Mapped[str] = mapped_column(String(64), nullable=False)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)      # firing, renotify, resolved
    payload: Mapped[str] = mapped_column(Text, nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="pending")
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    claimed_by: Mapped[str | None] = mapped_column(String(128))
    last_error: Mapped[str | None] = mapped_column(String(1024))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_alert_deliveries_due", "status", "next_attempt_at"),
                      Index("ix_alert_deliveries_instance", "instance_id", "destination", "id"))

    @property
    def data(self) -> dict:
        return json.loads(self.payload)

    def as_dict(self) -> dict:
        return {"id": self.id, "instance_id": self.instance_id, "destination": self.destination, "kind": self.kind,
                "status": self.status, "attempts": self.attempts, "next_attempt_at": iso(self.next_attempt_at),
                "last_error": self.last_error, "created_at": iso(self.created_at), "sent_at": iso(self.sent_at)}


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
    stale: bool = False               # a later run of the rule was applied first: nothing done
    transitions: list[Transition] = field(default_factory=list)
    enqueued: int = 0                 # notifications written to the outbox
    suppressed: list[tuple[int, str]] = field(default_factory=list)   # (instance id, reason)


class _Run:
    """The state of one `apply`: the session, the rule, the moment, the suppressions in force."""

    def __init__(self, s, rule: Rule, moment_ms: int, catching_up: bool, result: Applied):
        self.s, self.rule, self.moment_ms, self.catching_up, self.result = s, rule, moment_ms, catching_up, result
        self.at = to_dt(moment_ms)
        self.mutes = s.scalars(select(AlertMute).where(AlertMute.rule_id == rule.id, AlertMute.lifted_at.is_(None),
                                                       AlertMute.until > self.at)).all()
        self.windows = s.scalars(select(MaintenanceWindow).where(
            or_(MaintenanceWindow.rule_id == rule.id, MaintenanceWindow.rule_id.is_(None)),
            MaintenanceWindow.starts_at <= self.at, MaintenanceWindow.ends_at > self.at)).all()

    def record(self, inst: AlertInstance, action: str, from_state, to_state, comment: str = "") -> None:
        self.s.add(AlertHistory(instance_id=inst.id, rule_id=inst.rule_id, group_key=inst.group_key, at=self.at,
                                actor=SCHEDULER, action=action, from_state=from_state, to_state=to_state,
                                comment=comment[:2048]))

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
    return json.dumps({
        "event": kind, "moment": iso(moment_ms),
        "rule": {"id": rule.id, "name": rule.name, "kind": rule.kind, "severity": rule.severity,
                 "query": rule.query, "window_s": rule.window_s, "group_by": rule.group_by,
                 "description": rule.description},
        "alert": {"id": inst.id, "group": inst.group, "state": inst.state, "value": inst.value,
                  "threshold": inst.threshold, "detail": inst.detail, "first_seen_at": iso(inst.first_seen_at),
                  "fired_at": iso(inst.fired_at), "resolved_at": iso(inst.resolved_at),
                  "acknowledged_by": inst.ack_owner},
        "evidence": {"sample_ids": inst.samples[:5], "search_query": inst.search_query,
                     "window_start_ms": inst.window_start_ms, "window_end_ms": inst.window_end_ms},
    }, default=str)


class Alerts:
    """The lifecycle service over a MetaDB (`Alerts(services.meta)`)."""

    def __init__(self, meta):
        self.meta = meta
        self.Session = meta.Session

    # -- rule runs ----------------------------------------------------------------------------

    def claim_run(self, rule_id: str, moment_ms: int, claimed_by: str, at_ms: int | None = None) -> bool:
        """True when this caller won the run of `rule_id` at `moment_ms` (the unique constraint
        decides: a second claimant, in any process, gets False)."""
        with self.Session() as s:
            s.add(RuleRun(rule_id=rule_id, moment_ms=moment_ms, claimed_by=claimed_by[:128],
                          claimed_at=to_dt(at_ms if at_ms is not None else moment_ms)))
            try:
                s.commit()
                return True
            except IntegrityError:
                s.rollback()
                return False

    def finish_run(self, rule_id: str, moment_ms: int, outcome: str, at_ms: int) -> None:
        with self.Session() as s:
            s.execute(update(RuleRun).where(RuleRun.rule_id == rule_id, RuleRun.moment_ms == moment_ms)
                      .values(finished_at=to_dt(at_ms), outcome=outcome[:1024]))
            s.commit()

    def runs(self, rule_id: str) -> list[RuleRun]:
        with self.Session() as s:
            return list(s.scalars(select(RuleRun).where(RuleRun.rule_id == rule_id).order_by(RuleRun.moment_ms)))

    def last_moments(self) -> dict[str, int | None]:
        """rule id -> the last moment whose findings were applied."""
        with self.Session() as s:
            return dict(s.execute(select(RuleState.rule_id, RuleState.last_moment_ms)).all())

    def rule_states(self) -> dict[str, RuleState]:
        with self.Session() as s:
            return {r.rule_id: r for r in s.scalars(select(RuleState))}

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
            except IntegrityError:   # another scheduler made it first
                s.rollback()

    def apply(self, rule: Rule, evaluation: Evaluation, moment_ms: int, *, catching_up: bool = False) -> Applied:
        """Turn one run's findings into state changes, history and queued notifications (one
        transaction). `catching_up`: a moment before the latest one (no re-notifications)."""
        result = Applied(rule.id, moment_ms)
        self._ensure_state(rule.id)
        with self.Session() as s:
            # written first: serialises the appliers of this rule (see the module's docstring)
            s.execute(update(RuleState).where(RuleState.rule_id == rule.id)
                      .values(version=RuleState.version + 1).execution_options(synchronize_session=False))
            state = s.scalars(select(RuleState).where(RuleState.rule_id == rule.id)).one()
            if state.last_moment_ms is not None and state.last_moment_ms >= moment_ms:
                s.rollback()
                result.stale = True
                return result
            state.last_moment_ms, state.last_run_at = moment_ms, to_dt(moment_ms)
            state.last_error = evaluation.error[:1024] if evaluation.error else None
            run = _Run(s, rule, moment_ms, catching_up, result)
            open_instances = {i.group_key: i for i in s.scalars(select(AlertInstance).where(
                AlertInstance.rule_id == rule.id, AlertInstance.state.in_(OPEN)))}
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
            inst = AlertInstance(rule_id=rule.id, group_key=key, state=PENDING, severity=rule.severity,
                                 first_seen_at=at, last_seen_at=at, notify_count=0,
                                 muted_until=mute.until if mute else None)
            self._take_finding(inst, finding, at)
            run.s.add(inst)
            run.s.flush()
            run.record(inst, "opened", None, PENDING, finding.detail or _describe(finding))
            run.result.transitions.append(Transition(rule.id, inst.group, inst.id, None, PENDING))
        else:
            self._take_finding(inst, finding, at)
        if inst.state == PENDING:
            if (run.moment_ms - to_ms(inst.first_seen_at)) >= rule.pending_s * 1000:
                inst.state, inst.fired_at = FIRING, at
                held = f" (held {rule.pending_s} s)" if rule.pending_s else ""
                run.record(inst, "fired", PENDING, FIRING, (finding.detail or _describe(finding)) + held)
                run.result.transitions.append(Transition(rule.id, inst.group, inst.id, PENDING, FIRING))
                self._notify(run, inst, "firing", rule.notify)
            return
        # firing, still alerting: a first notification (held back until now) or a reminder
        if inst.last_notified_at is None:
            self._notify(run, inst, "firing", rule.notify)
        elif (rule.renotify_s > 0 and not run.catching_up
              and run.moment_ms - to_ms(inst.last_notified_at) >= rule.renotify_s * 1000):
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
            told = run.s.scalars(select(AlertDelivery.destination).where(
                AlertDelivery.instance_id == inst.id, AlertDelivery.kind.in_(("firing", "renotify")))
                .distinct()).all()
            if told:
                self._notify(run, inst, "resolved", tuple(sorted(told)))

    def _notify(self, run: _Run, inst: AlertInstance, kind: str, destinations: tuple[str, ...]) -> None:
        reason = run.suppression(inst, kind)
        if reason is None and not destinations:
            reason = "the rule names no destinations"
        if reason is not None:
            if inst.suppressed != reason:    # recorded once per reason, not at every run
                run.record(inst, "notification_suppressed", inst.state, inst.state, f"{kind}: {reason}")
                run.result.suppressed.append((inst.id, reason))
            inst.suppressed = reason[:512]
            return
        payload = _payload(run.rule, inst, kind, run.moment_ms)
        for name in dict.fromkeys(destinations):
            run.s.add(AlertDelivery(instance_id=inst.id, destination=name, kind=kind, payload=payload,
                                    status="pending", attempts=0, next_attempt_at=run.at, created_at=run.at))
            run.result.enqueued += 1
        inst.last_notified_at, inst.notify_count, inst.suppressed = run.at, inst.notify_count + 1, None
        run.record(inst, "notified", inst.state, inst.state, f"{kind} to {', '.join(dict.fromkeys(destinations))}")

    # -- reading -------------------------------------------------------------------------------

    def instance(self, instance_id: int) -> AlertInstance | None:
        with self.Session() as s:
            return s.get(AlertInstance, instance_id)

    def open_instance(self, rule_id: str, group: str | None = None) -> AlertInstance | None:
        with self.Session() as s:
            return s.scalar(select(AlertInstance).where(AlertInstance.rule_id == rule_id,
                                                        AlertInstance.group_key == group_key(group),
                                                        AlertInstance.state.in_(OPEN)))

    def active(self, rule_id: str | None = None) -> list[AlertInstance]:
        """Open instances, firing before pending, newest first."""
        with self.Session() as s:
            query = select(AlertInstance).where(AlertInstance.state.in_(OPEN))
            if rule_id is not None:
                query = query.where(AlertInstance.rule_id == rule_id)
            rows = s.scalars(query.order_by(AlertInstance.first_seen_at.desc(), AlertInstance.id.desc())).all()
        return sorted(rows, key=lambda i: i.state != FIRING)

    def instances(self, rule_id: str | None = None, state: str | None = None, limit: int = 100) -> list[AlertInstance]:
        with self.Session() as s:
            query = select(AlertInstance)
            if rule_id is not None:
                query = query.where(AlertInstance.rule_id == rule_id)
            if state is not None:
                query = query.where(AlertInstance.state == state)
            return list(s.scalars(query.order_by(AlertInstance.id.desc()).limit(limit)))

    def history(self, instance_id: int | None = None, rule_id: str | None = None, limit: int = 200) -> list[AlertHistory]:
        """Newest first: one instance's entries, or a rule's (rule-level ones included), or all."""
        with self.Session() as s:
            query = select(AlertHistory)
            if instance_id is not None:
                query = query.where(AlertHistory.instance_id == instance_id)
            if rule_id is not None:
                query = query.where(AlertHistory.rule_id == rule_id)
            return list(s.scalars(query.order_by(AlertHistory.id.desc()).limit(limit)))

    def deliveries(self, instance_id: int | None = None, status: str | None = None) -> list[AlertDelivery]:
        with self.Session() as s:
            query = select(AlertDelivery)
            if instance_id is not None:
                query = query.where(AlertDelivery.instance_id == instance_id)
            if status is not None:
                query = query.where(AlertDelivery.status == status)
            return list(s.scalars(query.order_by(AlertDelivery.id)))

    # -- people's actions ------------------------------------------------------------------------

    def _open_for_update(self, s, instance_id: int) -> AlertInstance:
        inst = s.scalar(select(AlertInstance).where(AlertInstance.id == instance_id).with_for_update())
        if inst is None:
            raise LookupError(f"no alert #{instance_id}")
        if inst.state not in OPEN:
            raise ValueError(f"alert #{instance_id} is {inst.state}")
        return inst

    @staticmethod
    def _history(s, inst: AlertInstance | None, action: str, who: str, at: datetime, comment: str = "",
                 rule_id: str | None = None, key: str | None = None) -> None:
        s.add(AlertHistory(instance_id=inst.id if inst else None, rule_id=inst.rule_id if inst else rule_id,
                           group_key=inst.group_key if inst else key, at=at, actor=who, action=action,
                           from_state=inst.state if inst else None, to_state=inst.state if inst else None,
                           comment=comment[:2048]))

    def acknowledge(self, instance_id: int, owner: str, comment: str = "", *, by: str | None = None,
                    at_ms: int | None = None) -> AlertInstance:
        """`owner` takes the alert (no reminders until it resolves); `by` acts (default: the owner)."""
        owner, who, comment = _who(owner), _who(by or owner), _comment(comment)
        at = to_dt(at_ms if at_ms is not None else now_ms())
        with self.Session() as s:
            inst = self._open_for_update(s, instance_id)
            inst.ack_owner, inst.ack_comment, inst.acked_by, inst.acked_at = owner, comment, who, at
            self._history(s, inst, "acknowledged", who, at, f"owner {owner}" + (f": {comment}" if comment else ""))
            s.commit()
            return inst

    def unacknowledge(self, instance_id: int, *, by: str, comment: str = "", at_ms: int | None = None) -> AlertInstance:
        who, comment = _who(by), _comment(comment)
        at = to_dt(at_ms if at_ms is not None else now_ms())
        with self.Session() as s:
            inst = self._open_for_update(s, instance_id)
            if inst.acked_at is None:
                raise ValueError(f"alert #{instance_id} is not acknowledged")
            inst.ack_owner = inst.ack_comment = inst.acked_by = inst.acked_at = None
            self._history(s, inst, "unacknowledged", who, at, comment)
            s.commit()
            return inst

    def mute(self, rule_id: str, group: str | None, until: int | datetime, *, by: str, comment: str = "",
             at_ms: int | None = None) -> AlertMute:
        """Hold back the notifications of a rule (group None: all its groups) until `until`."""
        who, comment = _who(by), _comment(comment)
        at, until = to_dt(at_ms if at_ms is not None else now_ms()), to_dt(until)
        if until <= at:
            raise ValueError("until: must be in the future")
        key = None if group is None else group_key(group)
        with self.Session() as s:
            mute = AlertMute(rule_id=rule_id, group_key=key, until=until, comment=comment, created_by=who, created_at=at)
            s.add(mute)
            touched = self._matching_open(s, rule_id, key)
            for inst in touched:
                inst.muted_until = max(until, inst.muted_until) if inst.muted_until and inst.muted_until > at else until
            text_ = f"until {iso(until)}" + (f": {comment}" if comment else "")
            for inst in touched or [None]:
                self._history(s, inst, "muted", who, at, text_, rule_id, key)
            s.commit()
            return mute

    def mute_instance(self, instance_id: int, until: int | datetime, *, by: str, comment: str = "",
                      at_ms: int | None = None) -> AlertMute:
        inst = self.instance(instance_id)
        if inst is None:
            raise LookupError(f"no alert #{instance_id}")
        return self.mute(inst.rule_id, inst.group_key if inst.group_key else None, until, by=by, comment=comment,
                         at_ms=at_ms)

    def unmute(self, rule_id: str, group: str | None = None, *, by: str, comment: str = "",
               at_ms: int | None = None) -> int:
        """Lift the mutes in force for the rule (group None: every mute of the rule; a group:
        that group's mutes). Returns how many were lifted."""
        who, comment = _who(by), _comment(comment)
        at = to_dt(at_ms if at_ms is not None else now_ms())
        key = None if group is None else group_key(group)
        with self.Session() as s:
            query = select(AlertMute).where(AlertMute.rule_id == rule_id, AlertMute.lifted_at.is_(None),
                                            AlertMute.until > at)
            if key is not None:
                query = query.where(AlertMute.group_key == key)
            mutes = s.scalars(query).all()
            for mute in mutes:
                mute.lifted_at, mute.lifted_by = at, who
            if mutes:
                touched = self._matching_open(s, rule_id, key)
                for inst in touched:
                    inst.muted_until = None
                for inst in touched or [None]:
                    self._history(s, inst, "unmuted", who, at, comment, rule_id, key)
            s.commit()
            return len(mutes)

    @staticmethod
    def _matching_open(s, rule_id: str, key: str | None) -> list[AlertInstance]:
        query = select(AlertInstance).where(AlertInstance.rule_id == rule_id, AlertInstance.state.in_(OPEN))
        if key is not None:
            query = query.where(AlertInstance.group_key == key)
        return list(s.scalars(query.order_by(AlertInstance.id)))   # id order, as the scheduler's flush: no deadlock

    def mutes(self, at_ms: int | None = None) -> list[AlertMute]:
        """Mutes in force at `at_ms` (default: now)."""
        at = to_dt(at_ms if at_ms is not None else now_ms())
        with self.Session() as s:
            return list(s.scalars(select(AlertMute).where(AlertMute.lifted_at.is_(None), AlertMute.until > at)
                                  .order_by(AlertMute.until)))

    def add_maintenance(self, *, rule_id: str | None, group_pattern: str | None, start: int | datetime,
                        end: int | datetime, reason: str, by: str, at_ms: int | None = None) -> MaintenanceWindow:
        """A window [start, end) during which notifications of the matching alerts are held back.
        At least one of rule_id and group_pattern (`*` matches every group)."""
        who, reason = _who(by), _comment(reason)
        start, end = to_dt(start), to_dt(end)
        if rule_id is None and not group_pattern:
            raise ValueError("a maintenance window needs a rule, a group pattern, or both (`*`: every group)")
        if not reason.strip():
            raise ValueError("reason: say why (e.g. the provider's announced maintenance)")
        if end <= start:
            raise ValueError("end: must be after start")
        if group_pattern is not None and (len(group_pattern) > 512 or "\x00" in group_pattern):
            raise ValueError("group_pattern: at most 512 characters")
        at = to_dt(at_ms if at_ms is not None else now_ms())
        with self.Session() as s:
            window = MaintenanceWindow(rule_id=rule_id, group_pattern=group_pattern or None, starts_at=start,
                                       ends_at=end, reason=reason.strip(), created_by=who, created_at=at)
            s.add(window)
            s.flush()
            self._history(s, None, "maintenance_added", who, at,
                          f"#{window.id} {iso(start)} - {iso(end)}, groups {group_pattern or '*'}: {reason}",
                          rule_id, group_pattern)
            s.commit()
            return window

    def delete_maintenance(self, window_id: int, *, by: str, at_ms: int | None = None) -> bool:
        who = _who(by)
        at = to_dt(at_ms if at_ms is not None else now_ms())
        with self.Session() as s:
            window = s.get(MaintenanceWindow, window_id)
            if window is None:
                return False
            self._history(s, None, "maintenance_deleted", who, at, f"#{window.id}: {window.reason}",
                          window.rule_id, window.group_pattern)
            s.delete(window)
            s.commit()
            return True

    def maintenance_windows(self, active_at_ms: int | None = None) -> list[MaintenanceWindow]:
        """Every window, or those in force at `active_at_ms`."""
        with self.Session() as s:
            query = select(MaintenanceWindow)
            if active_at_ms is not None:
                at = to_dt(active_at_ms)
                query = query.where(MaintenanceWindow.starts_at <= at, MaintenanceWindow.ends_at > at)
            return list(s.scalars(query.order_by(MaintenanceWindow.starts_at)))

    # -- rules made in the back office ------------------------------------------------------------

    def save_ui_rule(self, definition: dict, *, by: str, validate: Callable[[dict], Rule] | None = None,
                     at_ms: int | None = None) -> Rule:
        """Create or replace a rule from its definition (ValueError when `validate` refuses it)."""
        who = _who(by)
        validate = validate or _validate_rule()
        rule = dataclasses.replace(validate(definition), source="ui")
        stored = json.dumps(definition, sort_keys=True, default=str)
        at = to_dt(at_ms if at_ms is not None else now_ms())
        with self.Session() as s:
            row = s.get(UIRule, rule.id)
            if row is None:
                s.add(UIRule(rule_id=rule.id, definition=stored, created_by=who, created_at=at, updated_by=who,
                             updated_at=at))
                action, comment = "rule_created", rule.name
            else:
                old = row.data
                changed = sorted(k for k in set(old) | set(definition) if old.get(k) != definition.get(k))
                row.definition, row.updated_by, row.updated_at = stored, who, at
                action, comment = "rule_updated", "changed: " + (", ".join(changed) or "nothing")
            self._history(s, None, action, who, at, comment, rule.id)
            s.commit()
        return rule

    def delete_ui_rule(self, rule_id: str, *, by: str, at_ms: int | None = None) -> bool:
        who = _who(by)
        at = to_dt(at_ms if at_ms is not None else now_ms())
        with self.Session() as s:
            row = s.get(UIRule, rule_id)
            if row is None:
                return False
            s.delete(row)
            self._history(s, None, "rule_deleted", who, at, "", rule_id)
            s.commit()
            return True

    def ui_rule_rows(self) -> list[UIRule]:
        with self.Session() as s:
            return list(s.scalars(select(UIRule).order_by(UIRule.rule_id)))

    def ui_rules(self, validate: Callable[[dict], Rule] | None = None) -> tuple[list[Rule], list[str]]:
        """The stored rules, validated again (the validator may have grown stricter): the good
        ones, and an error line for each refused one."""
        rows = self.ui_rule_rows()
        if not rows:
            return [], []
        validate = validate or _validate_rule()
        rules, errors = [], []
        for row in rows:
            try:
                rules.append(dataclasses.replace(validate(row.data), source="ui"))
            except (ValueError, TypeError, KeyError) as exc:
                errors.append(f"rule {row.rule_id} (made in the back office): {exc}")
        return rules, errors


def _describe(finding: Finding) -> str:
    return f"value {finding.value} against threshold {finding.threshold}"


def _validate_rule() -> Callable[[dict], Rule]:
    from .rules import validate_rule   # the rule loader (imported when first needed)
    return validate_rule
