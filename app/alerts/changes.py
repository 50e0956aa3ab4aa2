"""The changes people make to the alert tables: acknowledge, mute and unmute, maintenance windows,
and the rules made in the back office. A mixin of `lifecycle.Alerts` (it needs `self.Session`);
every change is written to the alert history with who made it (history.py; see lifecycle.py for
the rules they follow). Pages, the JSON API and the command line call these through the service
in actions.py, which also records each as an admin action (audit)."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import select

from ..meta.alert_tables import OPEN, AlertInstance, AlertMute, MaintenanceWindow, UIRule, iso, to_dt
from . import history
from .common import _comment, _who, group_key, now_ms
from .model import Rule
from .queries import _validate_rule


def moment(value: int | datetime | None = None) -> datetime:
    """An aware UTC datetime of `value` (epoch ms or a datetime), or of now when it is None: when
    an action happens. (tables.to_dt keeps None as None, for stored values that may be empty.)"""
    at = to_dt(now_ms() if value is None else value)
    assert at is not None  # to_dt answers None only for None
    return at


class Conflict(ValueError):
    """The change does not apply to the alert or window as it is now (resolved, not acknowledged,
    already ended): a 409 for a page or the API."""


class AlertChanges:
    """What people do to alerts and rules (`Alerts` inherits these)."""

    Session: Callable
    instance: Callable[[int], AlertInstance | None]  # queries.AlertQueries

    def _open_for_update(self, s, instance_id: int) -> AlertInstance:
        inst = s.scalar(select(AlertInstance).where(AlertInstance.id == instance_id).with_for_update())
        if inst is None:
            raise LookupError(f"no alert #{instance_id}")
        if inst.state not in OPEN:
            raise Conflict(f"alert #{instance_id} is {inst.state}")
        return inst

    def acknowledge(
        self, instance_id: int, owner: str, comment: str = "", *, by: str | None = None, at_ms: int | None = None
    ) -> AlertInstance:
        """`owner` takes the alert (no reminders until it resolves); `by` acts (default: the owner)."""
        owner, who, comment = _who(owner), _who(by or owner), _comment(comment)
        at = moment(at_ms)
        with self.Session() as s:
            inst = self._open_for_update(s, instance_id)
            inst.ack_owner, inst.ack_comment, inst.acked_by, inst.acked_at = owner, comment, who, at
            history.action(s, "acknowledged", who, at, f"owner {owner}" + (f": {comment}" if comment else ""), inst=inst)
            s.commit()
            return inst

    def unacknowledge(self, instance_id: int, *, by: str, comment: str = "", at_ms: int | None = None) -> AlertInstance:
        who, comment = _who(by), _comment(comment)
        at = moment(at_ms)
        with self.Session() as s:
            inst = self._open_for_update(s, instance_id)
            if inst.acked_at is None:
                raise Conflict(f"alert #{instance_id} is not acknowledged")
            inst.ack_owner = inst.ack_comment = inst.acked_by = inst.acked_at = None
            history.action(s, "unacknowledged", who, at, comment, inst=inst)
            s.commit()
            return inst

    def mute(
        self, rule_id: str, group: str | None, until: int | datetime, *, by: str, comment: str = "", at_ms: int | None = None
    ) -> AlertMute:
        """Hold back the notifications of a rule (group None: all its groups) until `until`."""
        who, comment = _who(by), _comment(comment)
        at, ends = moment(at_ms), moment(until)
        if ends <= at:
            raise ValueError("until: must be in the future")
        key = None if group is None else group_key(group)
        with self.Session() as s:
            mute = AlertMute(rule_id=rule_id, group_key=key, until=ends, comment=comment, created_by=who, created_at=at)
            s.add(mute)
            touched = self._matching_open(s, rule_id, key)
            for inst in touched:
                inst.muted_until = max(ends, inst.muted_until) if inst.muted_until and inst.muted_until > at else ends
            text_ = f"until {iso(ends)}" + (f": {comment}" if comment else "")
            affected: list[AlertInstance | None] = [*touched] or [None]  # none open: the rule's entry
            for target in affected:
                history.action(s, "muted", who, at, text_, inst=target, rule_id=rule_id, group_key=key)
            s.commit()
            return mute

    def mute_instance(
        self, instance_id: int, until: int | datetime, *, by: str, comment: str = "", at_ms: int | None = None
    ) -> AlertMute:
        inst = self.instance(instance_id)
        if inst is None:
            raise LookupError(f"no alert #{instance_id}")
        return self.mute(
            inst.rule_id, inst.group_key if inst.group_key else None, until, by=by, comment=comment, at_ms=at_ms
        )

    def unmute(self, rule_id: str, group: str | None = None, *, by: str, comment: str = "", at_ms: int | None = None) -> int:
        """Lift the mutes in force for the rule (group None: every mute of the rule; a group:
        that group's mutes). Returns how many were lifted."""
        who, comment = _who(by), _comment(comment)
        at = moment(at_ms)
        key = None if group is None else group_key(group)
        with self.Session() as s:
            query = select(AlertMute).where(
                AlertMute.rule_id == rule_id, AlertMute.lifted_at.is_(None), AlertMute.until > at
            )
            if key is not None:
                query = query.where(AlertMute.group_key == key)
            mutes = s.scalars(query).all()
            for mute in mutes:
                mute.lifted_at, mute.lifted_by = at, who
            if mutes:
                touched = self._matching_open(s, rule_id, key)
                for inst in touched:
                    inst.muted_until = None
                affected: list[AlertInstance | None] = [*touched] or [None]
                for target in affected:
                    history.action(s, "unmuted", who, at, comment, inst=target, rule_id=rule_id, group_key=key)
            s.commit()
            return len(mutes)

    @staticmethod
    def _matching_open(s, rule_id: str, key: str | None) -> list[AlertInstance]:
        query = select(AlertInstance).where(AlertInstance.rule_id == rule_id, AlertInstance.state.in_(OPEN))
        if key is not None:
            query = query.where(AlertInstance.group_key == key)
        return list(s.scalars(query.order_by(AlertInstance.id)))  # id order, as the scheduler's flush: no deadlock

    def add_maintenance(
        self,
        *,
        rule_id: str | None,
        group_pattern: str | None,
        start: int | datetime,
        end: int | datetime,
        reason: str,
        by: str,
        at_ms: int | None = None,
    ) -> MaintenanceWindow:
        """A window [start, end) during which notifications of the matching alerts are held back.
        At least one of rule_id and group_pattern (`*` matches every group)."""
        who, reason = _who(by), _comment(reason)
        starts, ends = moment(start), moment(end)
        if rule_id is None and not group_pattern:
            raise ValueError("a maintenance window needs a rule, a group pattern, or both (`*`: every group)")
        if not reason.strip():
            raise ValueError("reason: say why (e.g. the provider's announced maintenance)")
        if ends <= starts:
            raise ValueError("end: must be after start")
        if group_pattern is not None and (len(group_pattern) > 512 or "\x00" in group_pattern):
            raise ValueError("group_pattern: at most 512 characters")
        at = moment(at_ms)
        with self.Session() as s:
            window = MaintenanceWindow(
                rule_id=rule_id,
                group_pattern=group_pattern or None,
                starts_at=starts,
                ends_at=ends,
                reason=reason.strip(),
                created_by=who,
                created_at=at,
            )
            s.add(window)
            s.flush()
            history.action(
                s,
                "maintenance_added",
                who,
                at,
                f"#{window.id} {iso(starts)} - {iso(ends)}, groups {group_pattern or '*'}: {reason}",
                rule_id=rule_id,
                group_key=group_pattern,
            )
            s.commit()
            return window

    def delete_maintenance(self, window_id: int, *, by: str, at_ms: int | None = None) -> bool:
        who = _who(by)
        at = moment(at_ms)
        with self.Session() as s:
            window = s.get(MaintenanceWindow, window_id)
            if window is None:
                return False
            history.action(
                s,
                "maintenance_deleted",
                who,
                at,
                f"#{window.id}: {window.reason}",
                rule_id=window.rule_id,
                group_key=window.group_pattern,
            )
            s.delete(window)
            s.commit()
            return True

    def end_maintenance(self, window_id: int, *, by: str, at_ms: int | None = None) -> str:
        """End a window now: one in force ends at `at_ms` (kept, with its new end, and recorded in
        the alert history); one not started yet is deleted (delete_maintenance records that); an
        ended one stays as it was. Returns "ended", "cancelled", "ended already" or "missing"."""
        who = _who(by)
        at_ms = at_ms if at_ms is not None else now_ms()
        at = moment(at_ms)
        with self.Session() as s:
            window = s.get(MaintenanceWindow, window_id, with_for_update=True)
            if window is None:
                return "missing"
            if window.ends_at <= at:
                return "ended already"
            if window.starts_at <= at:
                old_end, window.ends_at = window.ends_at, at
                history.action(
                    s,
                    "maintenance_ended",
                    who,
                    at,
                    f"#{window.id} ended early (was until {iso(old_end)}): {window.reason}",
                    rule_id=window.rule_id,
                    group_key=window.group_pattern,
                )
                s.commit()
                return "ended"
        self.delete_maintenance(window_id, by=who, at_ms=at_ms)
        return "cancelled"

    # -- rules made in the back office ------------------------------------------------------------

    def save_ui_rule(
        self, definition: dict, *, by: str, validate: Callable[[dict], Rule] | None = None, at_ms: int | None = None
    ) -> Rule:
        """Create or replace a rule from its definition (ValueError when `validate` refuses it)."""
        who = _who(by)
        validate = validate or _validate_rule()
        rule = dataclasses.replace(validate(definition), source="ui")
        stored = json.dumps(definition, sort_keys=True, default=str)
        at = moment(at_ms)
        with self.Session() as s:
            row = s.get(UIRule, rule.id)
            if row is None:
                s.add(
                    UIRule(rule_id=rule.id, definition=stored, created_by=who, created_at=at, updated_by=who, updated_at=at)
                )
                action, comment = "rule_created", rule.name
            else:
                old = row.data
                changed = sorted(k for k in set(old) | set(definition) if old.get(k) != definition.get(k))
                row.definition, row.updated_by, row.updated_at = stored, who, at
                action, comment = "rule_updated", "changed: " + (", ".join(changed) or "nothing")
            history.action(s, action, who, at, comment, rule_id=rule.id)
            s.commit()
        return rule

    def delete_ui_rule(self, rule_id: str, *, by: str, at_ms: int | None = None) -> bool:
        who = _who(by)
        at = moment(at_ms)
        with self.Session() as s:
            row = s.get(UIRule, rule_id)
            if row is None:
                return False
            s.delete(row)
            history.action(s, "rule_deleted", who, at, "", rule_id=rule_id)
            s.commit()
            return True
