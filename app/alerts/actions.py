"""People's actions on alerts, the service every caller goes through — a page, the JSON API or the
command line: acknowledge and withdraw it, mute and unmute, maintenance windows, the rules made in
the back office, notification destinations. Each method makes the change (the alert tables and
their history: changes.py, notify.py) and records it as an admin action (app/audit.py, component
`admin_action`, type permission_change — the Admin operations view shows its before/after), so
no caller can change alerting without leaving that trail.

Who acts is an `Actor`: the name written into the alert history, and the actor and source of the
admin-action event. Group values written into an event — which every role that searches can read
— are masked when the rule's group field is personal (or the rule is unknown), whoever acts.

Errors: LookupError (nothing with that id: 404), changes.Conflict (the alert or window is not in a
state the action applies to: 409), ValueError (bad input: 400)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import NamedTuple

from .. import audit
from ..meta.alert_tables import OPEN, iso
from ..search import masking
from . import notify
from .catalog import Catalog, load_catalog
from .changes import Conflict
from .common import now_ms
from .lifecycle import Alerts
from .model import Rule
from .rules import validate_rule

# The event schema has no type for configuration changes; permission_change (users, roles, keys)
# is the closest, and what the Admin operations view shows with its before/after values.
AUDIT_TYPE = "permission_change"


@dataclass(frozen=True)
class Actor:
    """Who acts: `name` goes into the alert history (1-64 characters), `audit` and `source` into
    the admin-action event (audit.actor() / audit.request_source() for a request,
    audit.operator() / audit.host_source() for the command line)."""

    name: str
    audit: dict
    source: dict | None = None

    @classmethod
    def of(cls, who: dict, source: dict | None = None, name: str | None = None) -> Actor:
        """`name` defaults to the actor's id (an employee's username, `cli:<os user>`); an API key
        is named `key:<its name>` by its caller."""
        return cls(str(name or who.get("id") or "anonymous")[:64], who, source)

    @classmethod
    def command_line(cls) -> Actor:
        return cls.of(audit.operator(), audit.host_source())


class Lifted(NamedTuple):
    """Mutes lifted: of the rule, for the group (None: every group), how many."""

    rule_id: str
    group: str | None
    mutes: int


def shown_target(kind: str, target: str) -> str:
    """A destination's target as shown and recorded: a Slack incoming-webhook URL is itself a
    secret, only its host is shown."""
    return notify._shown_target(kind, target)


class AlertActions:
    """`AlertActions(services, actor, rules_dir)`: `services` has `meta` and the ingestors audit
    writes to; `rules_dir` is where the rule files are (the catalog: which rules exist, whose
    group values are personal)."""

    def __init__(self, services, actor: Actor, rules_dir: Path | str | None = None):
        self.services, self.actor, self.rules_dir = services, actor, rules_dir
        self.alerts = Alerts(services.meta)

    @cached_property
    def catalog(self) -> Catalog:
        return load_catalog(self.services.meta, self.rules_dir)

    def _record(
        self, action: str, message: str, target: dict, changes: list | None = None, labels: dict | None = None
    ) -> None:
        audit.write(
            self.services,
            self.actor.audit,
            self.actor.source,
            action,
            f"{self.actor.name} {message}",
            event_type=AUDIT_TYPE,
            target=target,
            changes=changes,
            labels=labels,
        )

    def _rule(self, rule_id: str) -> Rule | None:
        entry = self.catalog.by_id.get(rule_id)
        return entry.rule if entry else None

    def recorded_group(self, rule_id: str, group: str | None) -> str | None:
        """A group's value as written into an admin-action event."""
        if group is None:
            return None
        rule = self._rule(rule_id)
        if rule is None:
            return masking.mask_value("", group)
        if rule.group_by and masking.is_personal(rule.group_by):
            return masking.mask_value(rule.group_by, group)
        return group

    def _what(self, rule_id: str, group: str | None) -> str:
        return f"rule {rule_id}" + ("" if group is None else f", group {self.recorded_group(rule_id, group)}")

    def _open(self, instance_id: int):
        inst = self.alerts.instance(instance_id)
        if inst is None:
            raise LookupError(f"No alert #{instance_id}.")
        if inst.state not in OPEN:
            raise Conflict(f"Alert #{instance_id} is {inst.state}: nothing to change.")
        return inst

    # -- an alert ---------------------------------------------------------------------------------

    def acknowledge(self, instance_id: int, owner: str | None = None, comment: str = ""):
        """`owner` (a user; default: whoever acts — an API key too) takes the alert: no reminders
        until it resolves."""
        inst = self._open(instance_id)
        owner = (owner or "").strip() or self.actor.name
        if owner != self.actor.name and self.services.meta.user_by_name(owner) is None:
            raise ValueError(f"owner: no user named {owner!r}.")
        inst = self.alerts.acknowledge(instance_id, owner, comment, by=self.actor.name)
        self._record(
            "alert_acknowledged",
            f"acknowledged alert #{instance_id} ({self._what(inst.rule_id, inst.group)})"
            f" for {owner}" + (f": {comment}" if comment else ""),
            {"type": "alert", "id": str(instance_id)},
            [{"field": "ack_owner", "old": None, "new": owner}],
            {"rule_id": inst.rule_id, "comment": comment or None},
        )
        return inst

    def unacknowledge(self, instance_id: int, comment: str = ""):
        inst = self._open(instance_id)
        owner = inst.ack_owner
        inst = self.alerts.unacknowledge(instance_id, by=self.actor.name, comment=comment)
        self._record(
            "alert_unacknowledged",
            f"withdrew the acknowledgement of alert #{instance_id} "
            f"({self._what(inst.rule_id, inst.group)})" + (f": {comment}" if comment else ""),
            {"type": "alert", "id": str(instance_id)},
            [{"field": "ack_owner", "old": owner, "new": None}],
            {"rule_id": inst.rule_id, "comment": comment or None},
        )
        return inst

    def mute_alert(
        self, instance_id: int, until_ms: int, *, whole_rule: bool = False, comment: str = "", at_ms: int | None = None
    ):
        """Mute the alert's group (or its whole rule) until `until_ms`."""
        inst = self._open(instance_id)
        group = None if whole_rule else inst.group
        at_ms = at_ms if at_ms is not None else now_ms()
        mute = self.alerts.mute(inst.rule_id, group, until_ms, by=self.actor.name, comment=comment, at_ms=at_ms)
        self._record(
            "alert_muted",
            f"muted {self._what(inst.rule_id, group)} until {iso(mute.until)}" + (f": {comment}" if comment else ""),
            {"type": "alert_rule", "id": inst.rule_id},
            [{"field": "muted_until", "old": None, "new": iso(mute.until)}],
            {"alert_id": inst.id, "comment": comment or None},
        )
        return mute

    def unmute_alert(self, instance_id: int, *, whole_rule: bool = False, comment: str = "") -> Lifted:
        inst = self._open(instance_id)
        return self.unmute(inst.rule_id, None if whole_rule or inst.group is None else inst.group, comment)

    def lift_mute(self, mute_id: int, comment: str = "") -> Lifted:
        """Lift a mute in force by its id: a rule-wide mute lifts every mute of the rule, a
        group's mute that group's mutes."""
        mute = next((m for m in self.alerts.mutes() if m.id == mute_id), None)
        if mute is None:
            raise LookupError(f"No mute #{mute_id} in force.")
        return self.unmute(mute.rule_id, mute.group_key, comment)

    def unmute(self, rule_id: str, group: str | None, comment: str = "") -> Lifted:
        count = self.alerts.unmute(rule_id, group, by=self.actor.name, comment=comment)
        if not count:
            raise Conflict(f"No mute in force for {self._what(rule_id, group)}.")
        self._record(
            "alert_unmuted",
            f"lifted {count} mute(s) of {self._what(rule_id, group)}" + (f": {comment}" if comment else ""),
            {"type": "alert_rule", "id": rule_id},
            [{"field": "muted", "old": True, "new": False}],
        )
        return Lifted(rule_id, group, count)

    # -- maintenance windows --------------------------------------------------------------------

    def add_maintenance(
        self, *, rule_id: str | None, group_pattern: str | None, start: int, end: int, reason: str, at_ms: int | None = None
    ):
        if rule_id is not None and rule_id not in self.catalog.by_id:
            raise ValueError(f"rule: no rule {rule_id!r}")
        window = self.alerts.add_maintenance(
            rule_id=rule_id,
            group_pattern=group_pattern,
            start=start,
            end=end,
            reason=reason,
            by=self.actor.name,
            at_ms=at_ms,
        )
        self._record(
            "maintenance_window_added",
            f"added maintenance window #{window.id} ({rule_id or 'every rule'}, groups "
            f"{window.group_pattern or '*'}) {iso(window.starts_at)} - {iso(window.ends_at)}: {window.reason}",
            {"type": "maintenance_window", "id": str(window.id)},
            [
                {"field": "rule_id", "old": None, "new": rule_id},
                {"field": "group_pattern", "old": None, "new": window.group_pattern},
                {"field": "starts_at", "old": None, "new": iso(window.starts_at)},
                {"field": "ends_at", "old": None, "new": iso(window.ends_at)},
                {"field": "reason", "old": None, "new": window.reason},
            ],
        )
        return window

    def end_maintenance(self, window_id: int, at_ms: int | None = None) -> str:
        """End a window in force now, or cancel one not started: "ended" or "cancelled"."""
        at_ms = at_ms if at_ms is not None else now_ms()
        before = next((w for w in self.alerts.maintenance_windows() if w.id == window_id), None)
        outcome = self.alerts.end_maintenance(window_id, by=self.actor.name, at_ms=at_ms)
        if outcome == "missing":
            raise LookupError(f"No maintenance window #{window_id}.")
        if outcome == "ended already":
            raise Conflict(f"Maintenance window #{window_id} has already ended.")
        self._record(
            "maintenance_window_ended" if outcome == "ended" else "maintenance_window_cancelled",
            f"{outcome} maintenance window #{window_id}",
            {"type": "maintenance_window", "id": str(window_id)},
            [
                {
                    "field": "ends_at",
                    "old": iso(before.ends_at) if before else None,
                    "new": iso(at_ms) if outcome == "ended" else None,
                }
            ],
        )
        return outcome

    # -- rules made in the back office -------------------------------------------------------------

    def save_ui_rule(self, definition: dict, *, creating: bool) -> tuple[Rule, list[dict]]:
        """Create (`creating`) or replace a rule made here; the rule and the changed fields
        ([] for a replacement that changes nothing: then nothing is written)."""
        rule = validate_rule(definition, source="ui")
        if creating and rule.id in self.catalog.ids():
            raise Conflict(f"id {rule.id!r} is already used; choose another id")
        old = {} if creating else self._stored(rule.id)
        changes = [
            {"field": k, "old": old.get(k), "new": definition.get(k)}
            for k in sorted(set(old) | set(definition))
            if old.get(k) != definition.get(k)
        ]
        if not changes:
            return rule, []
        self.alerts.save_ui_rule(definition, by=self.actor.name, validate=lambda d: validate_rule(d, source="ui"))
        if creating:
            self._record(
                "alert_rule_created",
                f"created alert rule {rule.id} ({rule.name})",
                {"type": "alert_rule", "id": rule.id, "name": rule.name},
                changes,
            )
        else:
            self._record(
                "alert_rule_changed",
                f"changed alert rule {rule.id}: " + ", ".join(c["field"] for c in changes),
                {"type": "alert_rule", "id": rule.id, "name": rule.name},
                changes,
            )
        self.__dict__.pop("catalog", None)
        return rule, changes

    def _stored(self, rule_id: str) -> dict:
        """The stored definition of a rule made here (LookupError: none)."""
        entry = self.catalog.ui(rule_id)
        if entry is None or entry.row is None:
            raise LookupError(f"no rule {rule_id!r} made in the back office")
        return entry.row.data

    def delete_ui_rule(self, rule_id: str) -> None:
        old = self._stored(rule_id)
        if not self.alerts.delete_ui_rule(rule_id, by=self.actor.name):
            raise LookupError(f"no rule {rule_id!r} made in the back office")
        self._record(
            "alert_rule_deleted",
            f"deleted alert rule {rule_id}",
            {"type": "alert_rule", "id": rule_id, "name": str(old.get("name", ""))},
            [{"field": k, "old": v, "new": None} for k, v in sorted(old.items())],
        )
        self.__dict__.pop("catalog", None)

    # -- destinations --------------------------------------------------------------------------------

    def save_destination(self, name: str, kind: str, target: str, *, secret: str | None = None, replace: bool = False):
        """Create a destination (or replace one, with `replace`): the row, the generated secret of
        a webhook given none (shown once) or None, and whether one was replaced."""
        existing = notify.destination(self.alerts, name) if name else None
        if existing is not None and not replace:
            raise Conflict(
                f"name: a destination named {name!r} exists; tick “replace it” to change it, or choose another name"
            )
        old = {"kind": existing.kind, "target": shown_target(existing.kind, existing.target)} if existing else {}
        row, generated = notify.save_destination(self.alerts, name, kind, target, secret=secret or None, by=self.actor.name)
        changes = [
            {"field": "kind", "old": old.get("kind"), "new": row.kind},
            {"field": "target", "old": old.get("target"), "new": shown_target(row.kind, row.target)},
        ]
        if row.secret:
            changes.append({"field": "secret"})  # that it was set, never the value
        self._record(
            "alert_destination_" + ("updated" if existing else "created"),
            f"{'replaced' if existing else 'created'} alert destination {row.name} ({row.kind})",
            {"type": "alert_destination", "id": row.name, "name": row.name},
            changes,
        )
        return row, generated, existing is not None

    def delete_destination(self, name: str) -> None:
        row = notify.destination(self.alerts, name)
        if row is None or not notify.delete_destination(self.alerts, name, by=self.actor.name):
            raise LookupError(f"No destination named {name!r}.")
        self._record(
            "alert_destination_deleted",
            f"deleted alert destination {name} ({row.kind})",
            {"type": "alert_destination", "id": name, "name": name},
            [
                {"field": "kind", "old": row.kind, "new": None},
                {"field": "target", "old": shown_target(row.kind, row.target), "new": None},
            ],
        )
