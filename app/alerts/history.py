"""The alert history (`alert_history`): the only writer of its rows. One function per kind of
entry; each adds the row to the caller's session, so an entry commits (or rolls back) with the
change it describes. The read side is queries.AlertQueries.history.

Kinds of entry:
- `transition`: the scheduler's changes to an alert — opened, fired, resolved, notified,
  notification_suppressed (from and to states as they were and became).
- `delivery_failed`: a notification that will not be delivered (the scheduler; the alert's state
  unchanged).
- `action`: what a person did — to an alert (acknowledged, unacknowledged, muted, unmuted: the
  alert's state on both sides) or to a rule or its groups without an alert (muted, unmuted,
  maintenance_added / _ended / _deleted, rule_created / _updated / _deleted).
- `destination_change`: a notification destination created, updated or deleted (no rule)."""

from __future__ import annotations

from datetime import datetime

from ..meta.alert_tables import AlertHistory, AlertInstance
from .common import SCHEDULER

COMMENT_MAX = 2048  # the column's length


def _add(
    s,
    *,
    at: datetime,
    actor: str,
    action: str,
    inst: AlertInstance | None = None,
    rule_id: str | None = None,
    group_key: str | None = None,
    from_state: str | None = None,
    to_state: str | None = None,
    comment: str = "",
) -> AlertHistory:
    row = AlertHistory(
        instance_id=inst.id if inst is not None else None,
        rule_id=inst.rule_id if inst is not None else rule_id,
        group_key=inst.group_key if inst is not None else group_key,
        at=at,
        actor=actor[:64],
        action=action,
        from_state=from_state,
        to_state=to_state,
        comment=(comment or "")[:COMMENT_MAX],
    )
    s.add(row)
    return row


def transition(
    s, inst: AlertInstance, action: str, from_state: str | None, to_state: str | None, at: datetime, comment: str = ""
) -> AlertHistory:
    """A change the scheduler made to an alert (it must have its id: flush a new one first)."""
    return _add(
        s, at=at, actor=SCHEDULER, action=action, inst=inst, from_state=from_state, to_state=to_state, comment=comment
    )


def delivery_failed(s, inst: AlertInstance, at: datetime, comment: str) -> AlertHistory:
    return _add(
        s,
        at=at,
        actor=SCHEDULER,
        action="delivery_failed",
        inst=inst,
        from_state=inst.state,
        to_state=inst.state,
        comment=comment,
    )


def action(
    s,
    action: str,
    who: str,
    at: datetime,
    comment: str = "",
    *,
    inst: AlertInstance | None = None,
    rule_id: str | None = None,
    group_key: str | None = None,
) -> AlertHistory:
    """A person's action: on `inst` (its rule and group; its state on both sides), or on
    `rule_id` / `group_key` (a group pattern for a maintenance window) when no alert is involved."""
    state = inst.state if inst is not None else None
    return _add(
        s,
        at=at,
        actor=who,
        action=action,
        inst=inst,
        rule_id=rule_id,
        group_key=group_key,
        from_state=state,
        to_state=state,
        comment=comment,
    )


def destination_change(s, action: str, who: str, at: datetime, comment: str) -> AlertHistory:
    return _add(s, at=at, actor=who, action=action, comment=comment)
