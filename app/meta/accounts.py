"""Accounts: the one service that owns the back office's users, their sessions and passwords, API
keys and saved searches. The pages (app/web/admin.py, app/web/account.py), the JSON API and the
command line (app/cli_accounts.py) parse their input, call these functions and show the result;
none of them writes to the meta database or records an account event itself.

Each state-changing function checks, writes (storage: app/meta/db.py, sessions.py, throttle.py)
and records what happened as an `admin_action` event (app/audit.py `write`): type
`permission_change` for an administrator's change to someone's access, `profile_change` for one's
own, with before/after values (`changes`: field, old, new) — never a password or a key. The event
is the same whoever calls, but for who acted and from where (`Acting`): a signed-in employee and
their address, or the operating-system account that ran `platlogs` and its host.

Who administers is data: the roles holding `manage_users` in app/roles.yaml
(access.administrator_roles)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from functools import lru_cache

from werkzeug.security import check_password_hash, generate_password_hash

from .. import access, audit
from . import key_grants
from .db import SCOPES, ApiKey, LockoutError, SavedSearch, User  # noqa: F401  (SCOPES, LockoutError: for the callers)
from .throttle import unknown_login_name

PERMISSION_CHANGE = "permission_change"  # an administrator's change to someone's access
PROFILE_CHANGE = "profile_change"  # a user's change to their own account
MIN_CHOSEN_PASSWORD = 10  # a password a person chooses (generated ones are longer)


class AlreadyDone(ValueError):
    """The change was made before (a key already revoked): nothing to do (a page answers 409)."""


class Throttled(Exception):
    """Too many failed sign-ins for the name or from the address (app/meta/throttle.py): refused
    without the password being checked, for `retry_after` seconds (a page answers 429)."""

    def __init__(self, retry_after: int):
        super().__init__(f"too many failed attempts: retry after {retry_after} s")
        self.retry_after = retry_after


@dataclass(frozen=True)
class Acting:
    """Who acts, and from where. `actor` and `source` go into the audit event as they are;
    `user_id` is the acting employee's (None on the command line, which no user signs into)."""

    actor: dict
    source: dict | None = None
    user_id: int | None = None

    @property
    def name(self) -> str:
        """How the events' messages name who acted: the employee's username, `cli:<os user>`…"""
        return str(self.actor.get("id", "unknown"))


def operator() -> Acting:
    """The command line: the operating-system account that runs `platlogs`, on this host."""
    return Acting(audit.operator(), audit.host_source())


def _employee(username: str) -> dict:
    return {"type": "employee", "id": username, "name": username}


def _key(row: ApiKey) -> dict:
    return {"type": "api_key", "id": str(row.id), "name": row.name}


def _record(
    services, by: Acting, action: str, message: str, *, target: dict, changes: list, event_type: str = PERMISSION_CHANGE
) -> None:
    audit.write(services, by.actor, by.source, action, message, event_type=event_type, target=target, changes=changes)


def _plural(n: int) -> str:
    return f"{n} session{'' if n == 1 else 's'}"


# -- reading ---------------------------------------------------------------------------------------


def users(services) -> list[User]:
    return services.meta.users()


def user_named(services, username: str) -> User:
    """LookupError: no such user."""
    user = services.meta.user_by_name(username)
    if user is None:
        raise LookupError(f"no user {username!r}")
    return user


def keys(services) -> list[ApiKey]:
    return services.meta.keys()


# -- users -----------------------------------------------------------------------------------------


def create_user(services, by: Acting, username: str, role: str, password: str | None = None) -> tuple[User, str]:
    """A new employee of `role` (one of app/roles.yaml's) and their password: generated when not
    given, and then a one-time password they must replace at their first sign-in. ValueError: a
    bad name or role, a short password, a name taken."""
    user, password_used = services.meta.create_user(username, role, password, must_change_password=password is None)
    _record(
        services,
        by,
        "user_created",
        f"{by.name} created employee {user.username} ({user.role})",
        target=_employee(user.username),
        changes=[{"field": "role", "old": None, "new": user.role}, {"field": "active", "old": None, "new": True}],
    )
    return user, password_used


def change_user(
    services, by: Acting, user_id: int, *, role: str | None = None, active: bool | None = None
) -> tuple[User, list[dict]]:
    """Change an employee's role and/or active flag (deactivation signs them out everywhere).
    Returns the user and what changed ([] when nothing did: nothing is recorded). LookupError: no
    such user; ValueError: unknown role; LockoutError: the change would demote or deactivate the
    one acting, or leave no active administrator."""
    user, changes = services.meta.update_user(user_id, role=role, active=active, acting_id=by.user_id)
    if changes:
        fields = {c["field"]: c for c in changes}
        action = (
            "role_changed" if "role" in fields else "user_reactivated" if fields["active"]["new"] else "user_deactivated"
        )
        _record(
            services,
            by,
            action,
            f"{by.name} changed employee {user.username}: {', '.join(describe(changes))}",
            target=_employee(user.username),
            changes=changes,
        )
    return user, changes


def describe(changes: list[dict]) -> list[str]:
    """A role or active-flag change in words: "role support → security", "deactivated"."""
    return [
        f"role {c['old']} → {c['new']}" if c["field"] == "role" else "reactivated" if c["new"] else "deactivated"
        for c in changes
    ]


def reset_password(services, by: Acting, user_id: int) -> tuple[User, str]:
    """A new one-time password (returned once, never stored in clear or recorded) that the user
    must replace at their next sign-in; every session of theirs ends and their failed sign-ins are
    forgotten (a throttled user can sign in at once). LookupError: no such user."""
    before = services.meta.user(user_id)
    if before is None:
        raise LookupError("no such user")
    user, password = services.meta.reset_password(user_id)
    changes: list[dict] = [{"field": "password"}]  # that it changed, never the value
    if not before.must_change_password:
        changes.append({"field": "must_change_password", "old": False, "new": True})
    _record(
        services,
        by,
        "password_reset",
        f"{by.name} reset the password of employee {user.username}",
        target=_employee(user.username),
        changes=changes,
    )
    return user, password


def change_own_password(
    services,
    by: Acting,
    user: User,
    current: str,
    new: str,
    repeat: str,
    *,
    address: str | None,
    keep_session: str | None,
    forced: bool,
) -> None:
    """`user` replaces their password; their other sessions end. A wrong current password counts
    as a failed sign-in (a borrowed session cannot be used to guess it). Throttled: too many
    failures; ValueError: the current password is wrong, the new ones differ or are too short."""
    meta = services.meta
    retry_after = meta.login_retry_after(user.username, address)
    if retry_after is not None:
        raise Throttled(retry_after)
    if not user.check_password(current):
        meta.record_login_failure(user.username, address)
        raise ValueError("The current password is wrong.")
    if new != repeat:
        raise ValueError("The new passwords differ.")
    if len(new) < MIN_CHOSEN_PASSWORD:
        raise ValueError(f"Choose at least {MIN_CHOSEN_PASSWORD} characters.")
    meta.set_password(user.id, new, keep_session=keep_session)
    _record(
        services,
        by,
        "password_changed",
        f"{user.username} changed their password",
        event_type=PROFILE_CHANGE,
        target={"type": "employee", "id": user.username},
        changes=[{"field": "password"}] + ([{"field": "must_change_password", "old": True, "new": False}] if forced else []),
    )


# -- signing in -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SignIn:
    """What a sign-in attempt came to: `user` signed in (the caller starts their session), or
    refused: `retry_after` seconds when throttled, else a wrong name or password, or deactivated."""

    user: User | None = None
    retry_after: int | None = None


@lru_cache(maxsize=1)
def _decoy_hash() -> str:
    return generate_password_hash(secrets.token_hex(16), method="scrypt")


def _password_matches(user: User | None, password: str) -> bool:
    """The password check, as slow for an unknown username as for a known one (no timing hint
    about which usernames exist)."""
    if user is None:
        check_password_hash(_decoy_hash(), password)
        return False
    return user.check_password(password)


def _signing_in(name: str, role: str | None = None) -> dict:
    who: dict = {"type": "employee", "id": name or "(empty)", "name": name or "(empty)"}
    if role:
        who["roles"] = [role]
    return who


def sign_in(services, typed: str, password: str, *, address: str | None, secret: str) -> SignIn:
    """Check a sign-in: throttled (not even checked), accepted (failures forgotten, last sign-in
    noted) or refused (counted). Every attempt is recorded (type `login`). The name counted and
    recorded is never the typed text of an unknown username (it may be a password): a keyed
    pseudonym (throttle.unknown_login_name, with the application's `secret`)."""
    meta = services.meta
    user = meta.user_by_name(typed)
    name = user.username if user is not None else unknown_login_name(typed, secret)
    source = {"ip": address} if address else None
    retry_after = meta.login_retry_after(name, address)
    if retry_after is not None:
        audit.write(
            services,
            _signing_in(name),
            source,
            "login_failed",
            f"sign-in refused for {name!r}: too many failed attempts",
            event_type="login",
            outcome="failure",
            labels={"reason": "rate_limited"},
        )
        return SignIn(retry_after=retry_after)
    if _password_matches(user, password) and user.active:
        meta.clear_login_failures(user.username)
        meta.record_login(user.id)
        audit.write(
            services,
            _signing_in(user.username, user.role),
            source,
            "login",
            f"{user.username} signed in",
            event_type="login",
            outcome="success",
        )
        return SignIn(user=user)
    meta.record_login_failure(name, address)
    reason = "unknown_user" if user is None else "wrong_password" if user.active else "deactivated"
    audit.write(
        services,
        _signing_in(name),
        source,
        "login_failed",
        f"failed sign-in for {name!r}",
        event_type="login",
        outcome="failure",
        labels={"reason": reason},
    )
    return SignIn()


def signed_out(services, user: User, *, address: str | None) -> None:
    """Record that `user` signed out (the caller ends the session)."""
    audit.write(
        services,
        _signing_in(user.username, user.role),
        {"ip": address} if address else None,
        "logout",
        f"{user.username} signed out",
        event_type="login",
        outcome="success",
    )


# -- sessions --------------------------------------------------------------------------------------


def sign_out_everywhere(services, by: Acting, user: User, *, keep: str | None = None) -> int:
    """End every session of `user` but `keep` (the administrator's own current one, when they
    sign themselves out elsewhere); recorded with the number of sessions before and after.
    Returns how many ended."""
    before = len(services.meta.sessions_of(user.id))
    ended = services.meta.end_sessions(user.id, "admin", keep=keep)
    _record(
        services,
        by,
        "sessions_revoked",
        f"{by.name} signed employee {user.username} out everywhere ({_plural(ended)})",
        target=_employee(user.username),
        changes=[{"field": "sessions", "old": before, "new": before - ended}],
    )
    return ended


def end_own_sessions(services, by: Acting, user: User, *, keep: str | None, only: str | None = None) -> int:
    """A user ends their other sessions (all but `keep`, the one they act from), or just `only`
    (a session id of theirs); recorded as a profile_change. Returns how many ended."""
    before = len(services.meta.sessions_of(user.id))
    if only is not None:
        ended = int(only != keep and services.meta.end_session(only, "user", user_id=user.id))
    else:
        ended = services.meta.end_sessions(user.id, "user", keep=keep)
    if ended:
        _record(
            services,
            by,
            "sessions_revoked",
            f"{user.username} ended {_plural(ended)} of their own",
            event_type=PROFILE_CHANGE,
            target=_employee(user.username),
            changes=[{"field": "sessions", "old": before, "new": before - ended}],
        )
    return ended


# -- API keys --------------------------------------------------------------------------------------


def create_key(services, by: Acting, name: str, scopes: list[str]) -> tuple[ApiKey, str]:
    """A new key and its secret (shown once; only its hash is kept). It acts as the key roles its
    scopes give (app/roles.yaml key_scopes), and never does more than the employee creating it may
    do: a scope giving a permission their role lacks is refused (the command line's operator, who
    may do everything, creates any). ValueError: no name, no or unknown scope, a name too long, a
    scope beyond the creator's role."""
    name = (name or "").strip()
    if not name:
        raise ValueError("Name the key after what will use it (e.g. the shipper's host).")
    key_grants.refuse_beyond_creator(services, by.user_id, scopes)
    row, key = services.meta.create_key(name, scopes, created_by=by.user_id)
    _record(
        services,
        by,
        "api_key_created",
        f"{by.name} created API key {row.id} ({row.name}: {row.scopes}, acting as {', '.join(row.acts_as) or 'no role'})",
        target=_key(row),
        changes=[
            {"field": "scopes", "old": None, "new": row.scopes.split(",")},
            {"field": "roles", "old": None, "new": list(row.acts_as)},
        ],
    )
    return row, key


def revoke_key(services, by: Acting, key_id: int) -> ApiKey:
    """The key is refused from now on. LookupError: no such key; AlreadyDone: revoked before."""
    row = services.meta.key(key_id)
    if row is None:
        raise LookupError("No such API key.")
    if not services.meta.revoke_key(key_id):
        raise AlreadyDone(f"API key {row.name!r} was already revoked.")
    _record(
        services,
        by,
        "api_key_revoked",
        f"{by.name} revoked API key {row.id} ({row.name})",
        target=_key(row),
        changes=[{"field": "revoked", "old": False, "new": True}],
    )
    return row


# -- saved searches --------------------------------------------------------------------------------


def saved_searches(services, user: User) -> list[SavedSearch]:
    """The user's own searches and those shared with their role."""
    return services.meta.saved_searches(user)


def save_search(
    services, user: User, name: str, query: str, time_from: str | None, time_to: str | None, shared_role: str | None
) -> SavedSearch:
    """ValueError: a bad name, query or time, or a role app/roles.yaml does not name."""
    return services.meta.save_search(user.id, name, query, time_from, time_to, shared_role)


def delete_saved_search(services, user: User, search_id: int) -> bool:
    """Only the owner deletes — or someone who administers users (app/roles.yaml: a role holding
    manage_users), any one. False: no such search, or not one this user may delete."""
    anyones = access.can(user.role, access.ADMINISTER)
    return services.meta.delete_saved_search(search_id, owner_id=None if anyones else user.id)
