"""Administration pages: users and roles, API keys (permission `manage_users`).

Every change is recorded as an event of type `permission_change` with its before/after values
(`changes`: field, old, new) — never a password or a key. One-time passwords and new keys are
shown once, in the answer to the form that made them (never put in the session cookie, which is
signed but readable), with `Cache-Control: no-store`."""
from __future__ import annotations

from datetime import datetime

from flask import current_app, flash, make_response, redirect, render_template, request, url_for
from flask_login import current_user

from .. import accounts, audit
from ..access import roles
from ..auth import current_session_id, page_access
from ..meta.db import SCOPES, LockoutError

from . import web

SCOPE_HELP = {
    "ingest": "send events (POST /api/v1/events, /api/v1/events/bulk)",
    "read": "search and read events through the API, as the api_reader role (personal data masked)",
}


def _meta():
    return current_app.extensions["platlogs"].meta


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment else "—"


def _page(template: str, status: int = 200, **context):
    response = make_response(render_template(template, when=_when, **context), status)
    response.headers["Cache-Control"] = "no-store"
    return response


def _users_page(status: int = 200, **context):
    return _page("admin/users.html", status, users=_meta().users(), roles=roles(),
                 sessions=_meta().live_session_counts(), **context)


def _keys_page(status: int = 200, **context):
    names = {u.id: u.username for u in _meta().users()}
    return _page("admin/keys.html", status, keys=_meta().keys(), creators=names, scopes=SCOPES,
                 scope_help=SCOPE_HELP, **context)


def _employee(username: str) -> dict:
    return {"type": "employee", "id": username, "name": username}


# -- users --------------------------------------------------------------------------------

@web.get("/admin/users")
@page_access("manage_users")
def users():
    return _users_page()


@web.post("/admin/users")
@page_access("manage_users")
def create_user():
    username, role = request.form.get("username", "").strip(), request.form.get("role", "")
    try:
        user, password = _meta().create_user(username, role, must_change_password=True)
    except ValueError as exc:
        return _users_page(400, error=str(exc), draft={"username": username, "role": role})
    audit.record("user_created", f"{current_user.username} created employee {user.username} ({user.role})",
                 event_type="permission_change", target=_employee(user.username),
                 changes=[{"field": "role", "old": None, "new": user.role},
                          {"field": "active", "old": None, "new": True}])
    return _users_page(secret={"username": user.username, "password": password, "what": "created"})


@web.post("/admin/users/<int:user_id>/role")
@page_access("manage_users")
def set_user_role(user_id: int):
    return _update_user(user_id, "role_changed", role=request.form.get("role", ""))


@web.post("/admin/users/<int:user_id>/active")
@page_access("manage_users")
def set_user_active(user_id: int):
    value = request.form.get("active")
    if value not in ("0", "1"):
        return _users_page(400, error="active: expected 0 (deactivate) or 1 (reactivate)")
    return _update_user(user_id, "user_reactivated" if value == "1" else "user_deactivated", active=value == "1")


def _update_user(user_id: int, action: str, **change):
    try:
        user, changes = _meta().update_user(user_id, acting_id=current_user.id, **change)
    except LookupError:
        return _users_page(404, error="No such user.")
    except LockoutError as exc:
        return _users_page(409, error=str(exc))
    except ValueError as exc:
        return _users_page(400, error=str(exc))
    if not changes:
        flash(f"{user.username}: nothing to change.")
        return redirect(url_for("web.users"))
    words = [f"role {c['old']} → {c['new']}" if c["field"] == "role" else "reactivated" if c["new"] else "deactivated"
             for c in changes]
    audit.record(action, f"{current_user.username} changed employee {user.username}: {', '.join(words)}",
                 event_type="permission_change", target=_employee(user.username), changes=changes)
    flash(f"{user.username}: {', '.join(words)}.")
    return redirect(url_for("web.users"))


@web.post("/admin/users/<int:user_id>/password")
@page_access("manage_users")
def reset_user_password(user_id: int):
    before = _meta().user(user_id)
    if before is None:
        return _users_page(404, error="No such user.")
    try:
        user, password = _meta().reset_password(user_id)
    except LookupError:
        return _users_page(404, error="No such user.")
    changes = [{"field": "password"}]   # that it changed, never the value
    if not before.must_change_password:
        changes.append({"field": "must_change_password", "old": False, "new": True})
    audit.record("password_reset", f"{current_user.username} reset the password of employee {user.username}",
                 event_type="permission_change", target=_employee(user.username), changes=changes)
    return _users_page(secret={"username": user.username, "password": password, "what": "reset"})


@web.post("/admin/users/<int:user_id>/sessions/revoke")
@page_access("manage_users")
def revoke_user_sessions(user_id: int):
    """Sign a user out everywhere (a lost laptop, a suspected stolen cookie). An administrator's
    own current session stays: they sign themselves out with "Sign out"."""
    user = _meta().user(user_id)
    if user is None:
        return _users_page(404, error="No such user.")
    keep = current_session_id() if user.id == current_user.id else None
    ended = accounts.sign_out_everywhere(current_app.extensions["platlogs"], user, who=audit.actor(), keep=keep)
    flash(f"{user.username}: {ended} session{'s' if ended != 1 else ''} signed out.")
    return redirect(url_for("web.users"))


# -- API keys -----------------------------------------------------------------------------

@web.get("/admin/keys")
@page_access("manage_users")
def keys():
    return _keys_page()


@web.post("/admin/keys")
@page_access("manage_users")
def create_key():
    name, scopes = request.form.get("name", "").strip(), request.form.getlist("scope")
    if not name:
        return _keys_page(400, error="Name the key after what will use it (e.g. the shipper's host).",
                          draft={"name": name, "scopes": scopes})
    try:
        row, key = _meta().create_key(name, scopes, created_by=current_user.id)
    except ValueError as exc:
        return _keys_page(400, error=str(exc), draft={"name": name, "scopes": scopes})
    audit.record("api_key_created", f"{current_user.username} created API key {row.id} ({row.name}: {row.scopes})",
                 event_type="permission_change", target={"type": "api_key", "id": str(row.id), "name": row.name},
                 changes=[{"field": "scopes", "old": None, "new": row.scopes.split(",")}])
    return _keys_page(secret={"name": row.name, "key": key})


@web.post("/admin/keys/<int:key_id>/revoke")
@page_access("manage_users")
def revoke_key(key_id: int):
    row = _meta().key(key_id)
    if row is None:
        return _keys_page(404, error="No such API key.")
    if not _meta().revoke_key(key_id):
        return _keys_page(409, error=f"API key {row.name!r} was already revoked.")
    audit.record("api_key_revoked", f"{current_user.username} revoked API key {row.id} ({row.name})",
                 event_type="permission_change", target={"type": "api_key", "id": str(row.id), "name": row.name},
                 changes=[{"field": "revoked", "old": False, "new": True}])
    flash(f"API key {row.name!r} revoked: it is refused from now on.")
    return redirect(url_for("web.keys"))

