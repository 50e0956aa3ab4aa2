"""The read side of the alert lifecycle: instances, history, deliveries, rule runs and states,
mutes and maintenance windows in force, and the rules made in the back office. A mixin of
`lifecycle.Alerts` (it needs `self.Session`); nothing here writes."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from sqlalchemy import select

from ..meta.alert_tables import (
    FIRING,
    OPEN,
    AlertDelivery,
    AlertHistory,
    AlertInstance,
    AlertMute,
    MaintenanceWindow,
    RuleRun,
    RuleState,
    UIRule,
    to_dt,
)
from .common import group_key, now_ms
from .model import Rule


class AlertQueries:
    """Reading the alert tables (`Alerts` inherits these)."""

    Session: Callable

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

    # -- reading -------------------------------------------------------------------------------

    def instance(self, instance_id: int) -> AlertInstance | None:
        with self.Session() as s:
            return s.get(AlertInstance, instance_id)

    def open_instance(self, rule_id: str, group: str | None = None) -> AlertInstance | None:
        with self.Session() as s:
            return s.scalar(
                select(AlertInstance).where(
                    AlertInstance.rule_id == rule_id,
                    AlertInstance.group_key == group_key(group),
                    AlertInstance.state.in_(OPEN),
                )
            )

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

    def mutes(self, at_ms: int | None = None) -> list[AlertMute]:
        """Mutes in force at `at_ms` (default: now)."""
        at = to_dt(at_ms if at_ms is not None else now_ms())
        with self.Session() as s:
            return list(
                s.scalars(
                    select(AlertMute).where(AlertMute.lifted_at.is_(None), AlertMute.until > at).order_by(AlertMute.until)
                )
            )

    def maintenance_windows(self, active_at_ms: int | None = None) -> list[MaintenanceWindow]:
        """Every window, or those in force at `active_at_ms`."""
        with self.Session() as s:
            query = select(MaintenanceWindow)
            if active_at_ms is not None:
                at = to_dt(active_at_ms)
                query = query.where(MaintenanceWindow.starts_at <= at, MaintenanceWindow.ends_at > at)
            return list(s.scalars(query.order_by(MaintenanceWindow.starts_at)))

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


def _validate_rule() -> Callable[[dict], Rule]:
    from .rules import validate_rule  # the rule loader (imported when first needed)

    return validate_rule
