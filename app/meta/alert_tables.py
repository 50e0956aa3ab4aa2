"""The alert tables of the meta database (SQLite or PostgreSQL): instances and their history,
mutes, maintenance windows, rule runs and state, rules made in the back office, destinations and
the delivery outbox — with the states and the time helpers the rows need to describe themselves.

Declared here, on meta's Base, so the meta package owns every table (and its migrations) without
importing the alerting code; app/alerts/ writes and reads them (lifecycle.py, actions.py,
queries.py). Nothing here opens a session."""

from __future__ import annotations

import fnmatch
import json
from datetime import UTC, datetime

from sqlalchemy import BigInteger, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, UTCDateTime

PENDING, FIRING, RESOLVED = "pending", "firing", "resolved"
OPEN = (PENDING, FIRING)


def to_dt(value: int | datetime | None) -> datetime | None:
    """An aware UTC datetime from epoch milliseconds (or a datetime)."""
    if value is None or isinstance(value, datetime):
        return value if value is None or value.tzinfo else value.replace(tzinfo=UTC)
    return datetime.fromtimestamp(value / 1000, UTC)


def iso(value: int | datetime | None) -> str | None:
    value = to_dt(value)
    from ..events.convert import format_ts

    return None if value is None else format_ts(value)


class AlertInstance(Base):
    __tablename__ = "alert_instances"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    rule_id: Mapped[str] = mapped_column(String(128), nullable=False)
    group_key: Mapped[str] = mapped_column(String(512), nullable=False, default="")
    state: Mapped[str] = mapped_column(String(16), nullable=False)
    severity: Mapped[str] = mapped_column(String(16), nullable=False, default="warning")
    value: Mapped[float | None] = mapped_column(Float)  # the last "alert" value
    threshold: Mapped[float | None] = mapped_column(Float)
    detail: Mapped[str] = mapped_column(String(1024), nullable=False, default="")
    sample_ids: Mapped[str] = mapped_column(Text, nullable=False, default="[]")  # JSON list, newest first
    search_query: Mapped[str] = mapped_column(String(4096), nullable=False, default="")
    window_start_ms: Mapped[int | None] = mapped_column(BigInteger)
    window_end_ms: Mapped[int | None] = mapped_column(BigInteger)
    first_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)  # the last "alert" finding
    fired_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_notified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    notify_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    suppressed: Mapped[str | None] = mapped_column(String(512))  # why the last due notification was held back
    ack_owner: Mapped[str | None] = mapped_column(String(64))
    ack_comment: Mapped[str | None] = mapped_column(String(1024))
    acked_by: Mapped[str | None] = mapped_column(String(64))
    acked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    muted_until: Mapped[datetime | None] = mapped_column(UTCDateTime)  # shown; the mutes table decides
    last_delivery_error: Mapped[str | None] = mapped_column(String(1024))  # a permanent delivery failure

    __table_args__ = (
        # at most one open instance per rule and group
        Index(
            "ux_alert_instances_open",
            "rule_id",
            "group_key",
            unique=True,
            sqlite_where=text("state != 'resolved'"),
            postgresql_where=text("state != 'resolved'"),
        ),
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
        return {
            "id": self.id,
            "rule_id": self.rule_id,
            "group": self.group,
            "state": self.state,
            "severity": self.severity,
            "value": self.value,
            "threshold": self.threshold,
            "detail": self.detail,
            "sample_ids": self.samples,
            "search_query": self.search_query,
            "window_start_ms": self.window_start_ms,
            "window_end_ms": self.window_end_ms,
            "first_seen_at": iso(self.first_seen_at),
            "last_seen_at": iso(self.last_seen_at),
            "fired_at": iso(self.fired_at),
            "resolved_at": iso(self.resolved_at),
            "last_notified_at": iso(self.last_notified_at),
            "notify_count": self.notify_count,
            "suppressed": self.suppressed,
            "ack_owner": self.ack_owner,
            "ack_comment": self.ack_comment,
            "acked_by": self.acked_by,
            "acked_at": iso(self.acked_at),
            "muted_until": iso(self.muted_until),
            "last_delivery_error": self.last_delivery_error,
        }


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

    __table_args__ = (
        Index("ix_alert_history_instance", "instance_id", "id"),
        Index("ix_alert_history_rule", "rule_id", "at"),
        Index("ix_alert_history_at", "at"),
    )

    def as_dict(self) -> dict:
        return {
            "id": self.id,
            "instance_id": self.instance_id,
            "rule_id": self.rule_id,
            "group": self.group_key or None,
            "at": iso(self.at),
            "actor": self.actor,
            "action": self.action,
            "from": self.from_state,
            "to": self.to_state,
            "comment": self.comment,
        }


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
        return (
            self.rule_id == rule_id
            and (self.group_key is None or self.group_key == key)
            and self.lifted_at is None
            and at < self.until
        )


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
        return (
            self.starts_at <= at < self.ends_at
            and (self.rule_id is None or self.rule_id == rule_id)
            and (self.group_pattern is None or fnmatch.fnmatchcase(key, self.group_pattern))
        )

    def as_dict(self) -> dict:
        return {
            "id": self.id,
            "rule_id": self.rule_id,
            "group_pattern": self.group_pattern,
            "starts_at": iso(self.starts_at),
            "ends_at": iso(self.ends_at),
            "reason": self.reason,
            "created_by": self.created_by,
            "created_at": iso(self.created_at),
        }


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

    __table_args__ = (
        UniqueConstraint("rule_id", "moment_ms", name="uq_alert_rule_runs_moment"),
        Index("ix_alert_rule_runs_moment", "moment_ms"),
    )


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

    def as_dict(self) -> dict:  # never the secret
        return {
            "id": self.id,
            "name": self.name,
            "kind": self.kind,
            "target": self.target,
            "has_secret": bool(self.secret),
            "created_by": self.created_by,
            "created_at": iso(self.created_at),
        }


class AlertDelivery(Base):
    """One notification to one destination (the outbox): pending -> sending -> sent | pending
    (retry at next_attempt_at) | failed (permanent). `payload` is the evidence as of the change."""

    __tablename__ = "alert_deliveries"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("alert_instances.id", ondelete="CASCADE"), nullable=False)
    destination: Mapped[str] = mapped_column(String(64), nullable=False)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)  # firing, renotify, resolved
    payload: Mapped[str] = mapped_column(Text, nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="pending")
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    claimed_by: Mapped[str | None] = mapped_column(String(128))
    last_error: Mapped[str | None] = mapped_column(String(1024))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (
        Index("ix_alert_deliveries_due", "status", "next_attempt_at"),
        Index("ix_alert_deliveries_instance", "instance_id", "destination", "id"),
    )

    @property
    def data(self) -> dict:
        return json.loads(self.payload)

    def as_dict(self) -> dict:
        return {
            "id": self.id,
            "instance_id": self.instance_id,
            "destination": self.destination,
            "kind": self.kind,
            "status": self.status,
            "attempts": self.attempts,
            "next_attempt_at": iso(self.next_attempt_at),
            "last_error": self.last_error,
            "created_at": iso(self.created_at),
            "sent_at": iso(self.sent_at),
        }
