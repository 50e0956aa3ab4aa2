"""Dashboards people make in the back office (issue 14 item 3): the one service the pages, the
JSON API (and any CLI) call. Same format and validation as the shipped files
(definitions.validate_dashboard, read through yamltext.read_yaml); the "file" of an error is
the dashboard's id.

    StoredDashboards(meta, shipped_ids, record)
        .all()                        -> (list[Dashboard], list[DashboardError])  every stored one that validates
        .get(id)                      -> StoredDashboard row or None
        .check(id, text)              -> Dashboard (validated, not stored: the form's preview)
        .create(user, id, text)       -> Dashboard
        .update(user, id, text)       -> Dashboard
        .delete(user, id)

Policy, once: creating, changing and deleting need `build_dashboards`; a user changes only
their own dashboards; an administrator may also delete anyone's; ids never collide with a
shipped dashboard's (those are read-only: "copy to my dashboards" starts a new one from their
text). Each change is recorded through `record(action, message, target=, changes=)` — the web
layer passes app/audit.py's record, so changes land in the event store as admin actions."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from ..access import can
from ..meta.dashboards import DashboardRows, StoredDashboard, Taken
from .definitions import ID_PATTERN, Dashboard, DashboardError, validate_dashboard
from .yamltext import read_yaml

PERMISSION = "build_dashboards"
RESERVED = {"new"}  # /dashboards/new is the form
AUDIT_KEEP = 4000  # characters of a dashboard's YAML written into its audit event


class NotAllowed(Exception):
    """A change this user may not make: `status` 403 (not theirs, no permission), 404 (no such
    stored dashboard) or 409 (the id is taken)."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


def _actor(user) -> tuple[int, str, str]:
    return user.id, user.username, user.role


class StoredDashboards:
    def __init__(self, meta, shipped_ids: Callable[[], Iterable[str]], record: Callable[..., None] | None = None):
        self.rows = DashboardRows(meta)
        self.shipped_ids = shipped_ids
        self.record = record or (lambda *a, **k: None)

    # -- reading -------------------------------------------------------------------------------

    def all(self) -> tuple[list[Dashboard], list[DashboardError]]:
        """Every stored dashboard that validates (a row that no longer does — the field list
        changed since — is named in the errors, like a bad file); each carries its owner."""
        found, errors = [], []
        shipped = set(self.shipped_ids())
        for row in self.rows.all():
            if row.id in shipped:  # a file shipped later with a stored dashboard's id: the file wins
                errors.append(
                    DashboardError("a shipped dashboard now has this id; copy it under another id", "id", file=row.id)
                )
                continue
            try:
                found.append(self._parse(row.id, row.yaml_text, owner=row.owner_name))
            except DashboardError as exc:
                errors.append(exc)
        return found, errors

    def get(self, dashboard_id: str) -> StoredDashboard | None:
        return self.rows.get(dashboard_id)

    def dashboard(self, dashboard_id: str) -> Dashboard | None:
        row = self.rows.get(dashboard_id)
        if row is None or dashboard_id in set(self.shipped_ids()):
            return None
        try:
            return self._parse(row.id, row.yaml_text, owner=row.owner_name)
        except DashboardError:
            return None

    def check(self, dashboard_id: str, text: str) -> Dashboard:
        """The dashboard `text` defines under `dashboard_id`, validated like a file (not stored);
        DashboardError names the id as the file, the panel and the field."""
        if not isinstance(dashboard_id, str) or not ID_PATTERN.match(dashboard_id):
            raise DashboardError(
                "an id is required: lower-case letters, digits, '_' or '-' (at most 80), starting with a letter or digit",
                "id",
                file=str(dashboard_id)[:80] or None,
            )
        if dashboard_id in RESERVED:
            raise DashboardError(
                f"{dashboard_id!r} names a page of the back office: choose another", "id", file=dashboard_id
            )
        return self._parse(dashboard_id, text)

    @staticmethod
    def _parse(dashboard_id: str, text: str, owner: str | None = None) -> Dashboard:
        data = read_yaml(text, dashboard_id)
        try:
            board = validate_dashboard(data, dashboard_id)
        except DashboardError as exc:
            exc.file = dashboard_id
            raise
        return Dashboard(**{**board.__dict__, "file": dashboard_id, "owner": owner})

    # -- changing ------------------------------------------------------------------------------

    def _may_build(self, user) -> None:
        if user is None or not can(getattr(user, "role", None), PERMISSION):
            raise NotAllowed(403, f"your role may not build dashboards ({PERMISSION})")

    def create(self, user, dashboard_id: str, text: str) -> Dashboard:
        self._may_build(user)
        board = self.check(dashboard_id, text)
        if dashboard_id in set(self.shipped_ids()):
            raise NotAllowed(409, f"{dashboard_id!r} is a shipped dashboard's id: choose another")
        owner_id, owner, _ = _actor(user)
        try:
            self.rows.add(dashboard_id, owner_id, owner, board.title, text)
        except Taken:
            raise NotAllowed(409, f"a dashboard with id {dashboard_id!r} exists already: choose another") from None
        self.record(
            "dashboard_created",
            f"{owner} created dashboard {dashboard_id} ({board.title})",
            target={"type": "dashboard", "id": dashboard_id, "name": board.title},
            changes=[{"field": "yaml", "old": None, "new": text[:AUDIT_KEEP]}],
        )
        return Dashboard(**{**board.__dict__, "owner": owner})

    def _own(self, user, dashboard_id: str) -> StoredDashboard:
        row = self.rows.get(dashboard_id)
        if row is None:
            if dashboard_id in set(self.shipped_ids()):
                raise NotAllowed(403, f"{dashboard_id!r} is a shipped dashboard: read-only (copy it to change it)")
            raise NotAllowed(404, f"no dashboard with id {str(dashboard_id)[:80]!r} made in the back office")
        return row

    def update(self, user, dashboard_id: str, text: str) -> Dashboard:
        self._may_build(user)
        row = self._own(user, dashboard_id)
        if row.owner_id != user.id:
            raise NotAllowed(403, f"dashboard {dashboard_id!r} is {row.owner_name}'s: only its owner changes it")
        board = self.check(dashboard_id, text)
        if self.rows.change(dashboard_id, board.title, text) is None:
            raise NotAllowed(404, f"dashboard {dashboard_id!r} was deleted meanwhile")
        if text != row.yaml_text:
            self.record(
                "dashboard_changed",
                f"{user.username} changed dashboard {dashboard_id} ({board.title})",
                target={"type": "dashboard", "id": dashboard_id, "name": board.title},
                changes=[{"field": "yaml", "old": row.yaml_text[:AUDIT_KEEP], "new": text[:AUDIT_KEEP]}],
            )
        return Dashboard(**{**board.__dict__, "owner": row.owner_name})

    def delete(self, user, dashboard_id: str) -> None:
        self._may_build(user)
        row = self._own(user, dashboard_id)
        if row.owner_id != user.id and user.role != "administrator":
            raise NotAllowed(
                403, f"dashboard {dashboard_id!r} is {row.owner_name}'s: only its owner (or an administrator) deletes it"
            )
        if not self.rows.remove(dashboard_id):
            raise NotAllowed(404, f"dashboard {dashboard_id!r} was deleted meanwhile")
        self.record(
            "dashboard_deleted",
            f"{user.username} deleted dashboard {dashboard_id} ({row.title})"
            + (f", made by {row.owner_name}" if row.owner_id != user.id else ""),
            target={"type": "dashboard", "id": dashboard_id, "name": row.title},
            changes=[{"field": "yaml", "old": row.yaml_text[:AUDIT_KEEP], "new": None}],
        )
