"""Administration pages: users and roles, API keys (permission `manage_users`).

Every change is recorded as an event of type `permission_change` with its before/after values
(`changes`: field, old, new) — never a password or a key. One-time passwords and new keys are
shown once, in the answer to the form that made them (never put in the session cookie, which is
signed but readable), with `Cache-Control: no-store`.

A view parses the form, calls the account service (app/meta/accounts.py: the checks, the write and
the audit event, shared with the command line) and renders."""

from __future__ import annotations

from datetime import datetime

from flask import current_app, flash, make_response, redirect, render_template, request, url_for
from flask_login import current_user

from .. import audit
from ..access import key_roles, key_scopes, permissions_of, roles
from ..auth import current_session_id, page_access
from ..meta import accounts, key_grants
from . import web

SCOPE_HELP = {
    "ingest": "send events (POST /api/v1/events, /api/v1/events/bulk, OTLP, the Elasticsearch bulk API)",
    "read": "search and read events, exports, dashboards, errors… (personal data masked) and list the open alerts",
    "alerts:write": "list, acknowledge and mute alerts (an on-call script); recorded as key:<name>",
}


def _services():
    return current_app.extensions["platlogs"]


def _acting() -> accounts.Acting:
    """The signed-in administrator, from their address."""
    return accounts.Acting(audit.actor(), audit.request_source(), current_user.id)


def _when(moment: datetime | None) -> str:
    from ..events.convert import format_ts

    return format_ts(moment, "minute") if moment else "—"


def _page(template: str, status: int = 200, **context):
    response = make_response(render_template(template, when=_when, **context), status)
    response.headers["Cache-Control"] = "no-store"
    return response


def _users_page(status: int = 200, **context):
    return _page(
        "admin/users.html",
        status,
        users=accounts.users(_services()),
        roles=roles(),
        sessions=_services().meta.live_session_counts(),
        **context,
    )


def _keys_page(status: int = 200, **context):
    names = {u.id: u.username for u in accounts.users(_services())}
    keys = accounts.keys(_services())
    held_back = {}  # key id -> (the creator holding it back, what it may no longer do)
    for key in keys:
        grant = key_grants.key_grant(_services(), key)
        if grant.limited_by and not key.revoked_at:
            held_back[key.id] = (grant.limited_by, sorted(permissions_of(*key.acts_as) - grant.permissions))
    return _page(
        "admin/keys.html",
        status,
        keys=keys,
        held_back=held_back,
        creators=names,
        scopes=key_scopes(),
        scope_help=SCOPE_HELP,
        key_roles=key_roles(),
        **context,
    )


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
        user, password = accounts.create_user(_services(), _acting(), username, role)
    except ValueError as exc:
        return _users_page(400, error=str(exc), draft={"username": username, "role": role})
    return _users_page(secret={"username": user.username, "password": password, "what": "created"})


@web.post("/admin/users/<int:user_id>/role")
@page_access("manage_users")
def set_user_role(user_id: int):
    return _change_user(user_id, role=request.form.get("role", ""))


@web.post("/admin/users/<int:user_id>/active")
@page_access("manage_users")
def set_user_active(user_id: int):
    value = request.form.get("active")
    if value not in ("0", "1"):
        return _users_page(400, error="active: expected 0 (deactivate) or 1 (reactivate)")
    return _change_user(user_id, active=value == "1")


def _change_user(user_id: int, **change):
    try:
        user, changes = accounts.change_user(_services(), _acting(), user_id, **change)
    except LookupError:
        return _users_page(404, error="No such user.")
    except accounts.LockoutError as exc:
        return _users_page(409, error=str(exc))
    except ValueError as exc:
        return _users_page(400, error=str(exc))
    if not changes:
        flash(f"{user.username}: nothing to change.")
    else:
        flash(f"{user.username}: {', '.join(accounts.describe(changes))}.")
    return redirect(url_for("web.users"))


@web.post("/admin/users/<int:user_id>/password")
@page_access("manage_users")
def reset_user_password(user_id: int):
    try:
        user, password = accounts.reset_password(_services(), _acting(), user_id)
    except LookupError:
        return _users_page(404, error="No such user.")
    return _users_page(secret={"username": user.username, "password": password, "what": "reset"})


@web.post("/admin/users/<int:user_id>/sessions/revoke")
@page_access("manage_users")
def revoke_user_sessions(user_id: int):
    """Sign a user out everywhere (a lost laptop, a suspected stolen cookie). An administrator's
    own current session stays: they sign themselves out with "Sign out"."""
    user = _services().meta.user(user_id)
    if user is None:
        return _users_page(404, error="No such user.")
    keep = current_session_id() if user.id == current_user.id else None
    ended = accounts.sign_out_everywhere(_services(), _acting(), user, keep=keep)
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
    try:
        row, key = accounts.create_key(_services(), _acting(), name, scopes)
    except ValueError as exc:
        return _keys_page(400, error=str(exc), draft={"name": name, "scopes": scopes})
    return _keys_page(secret={"name": row.name, "key": key})


@web.post("/admin/keys/<int:key_id>/revoke")
@page_access("manage_users")
def revoke_key(key_id: int):
    try:
        row = accounts.revoke_key(_services(), _acting(), key_id)
    except LookupError as exc:
        return _keys_page(404, error=str(exc))
    except accounts.AlreadyDone as exc:
        return _keys_page(409, error=str(exc))
    flash(f"API key {row.name!r} revoked: it is refused from now on.")
    return redirect(url_for("web.keys"))
