"""Sign-in (flask-login over server-side sessions, app/meta/sessions.py) and API keys, and the
decorators every route uses to declare who may call it.

An API key is presented as `Authorization: Bearer <key>` anywhere, and on machine-facing requests
(app/machine.py) also as the Elasticsearch clients and shippers send credentials:
`Authorization: ApiKey <key>` (the key itself, or base64 of `<anything>:<key>`, as Elasticsearch's
`id:api_key` pair) and `Authorization: Basic` with the key as the password (any user name).
A request that presents a key is authenticated by that key alone: its cookies are ignored (no
signed-in user), so a key never lends its request a person's session and a cookie never rescues
a bad key. Keys authenticate API routes only; CSRF (app/__init__.py) is skipped only on
machine-facing paths. A refusal there is JSON: 401 with `WWW-Authenticate`, or 403."""

from __future__ import annotations

import base64
import binascii
from functools import wraps

from flask import Flask, current_app, g, redirect, request, url_for
from flask_login import LoginManager, current_user

from .access import API_READER, can, declare, permissions_of, scopes_giving
from .errors import ApiError
from .machine import machine_request
from .meta import MetaDB, key_grants
from .meta.db import KEY_PREFIX

MAX_KEY_CHARS = 256


def init_auth(app: Flask, meta: MetaDB) -> None:
    # one manager per app: its user loader is bound to this app's meta database (a module-level
    # manager would follow whichever app was created last in the process)
    login_manager = LoginManager()
    login_manager.login_view = "web.login"
    login_manager.session_protection = "strong"
    login_manager.init_app(app)

    @login_manager.user_loader
    def _load(token: str):
        # the cookie (or a remember-me cookie) holds a session token: live on the server, or nobody
        if _bearer() is not None:
            return None  # key-authenticated: cookies do not count
        return meta.session_user(token)

    @app.after_request
    def _challenge(response):
        # a refused machine request says how to authenticate (RFC 9110); Basic only where a
        # browser's fetch cannot meet it (a Basic challenge opens the browser's password dialog)
        if response.status_code == 401 and "WWW-Authenticate" not in response.headers and machine_request():
            response.headers["WWW-Authenticate"] = challenge()
        return response


def challenge() -> str:
    """The WWW-Authenticate value of a 401 on this (machine-facing) request."""
    realm = 'realm="Platform Logs"'
    schemes = [f"Bearer {realm}", f"ApiKey {realm}"]
    scheme = request.headers.get("Authorization", "").partition(" ")[0].lower()
    if scheme == "basic" or not request.path.startswith(("/api/", "/v1/")):
        schemes.append(f'Basic {realm}, charset="UTF-8"')
    return ", ".join(schemes)


def sign_in(meta: MetaDB, user) -> None:
    """Start a new server-side session for `user` in this browser: whatever the session cookie
    held before is dropped (session fixation, and a fresh CSRF token)."""
    from flask import session
    from flask_login import login_user

    session.clear()
    user.session_token = meta.start_session(user.id, request.headers.get("User-Agent"), request.remote_addr)
    login_user(user)


def sign_out(meta: MetaDB) -> None:
    """End this browser's session, on the server first."""
    from flask import session
    from flask_login import logout_user

    token = session.get("_user_id")
    if token:
        meta.end_token_session(token, "logout")
    session.clear()
    logout_user()  # after clear(): it marks a remember-me cookie, if any, for deletion


def current_session_id() -> str | None:
    """The stored id of the signed-in user's current session."""
    return getattr(current_user, "session_id", None) if current_user.is_authenticated else None


def _meta() -> MetaDB:
    return current_app.extensions["platlogs"].meta


def uses_bearer() -> bool:
    """True when this request presents an API key (in any form read here): it is then
    authenticated by that key alone."""
    return _bearer() is not None


uses_key = uses_bearer


def request_key():
    """The live API key this request presents (looked up once per request), or None."""
    token = _bearer()
    if token is None:
        return None
    if "_bearer_key" not in g:
        g._bearer_key = _meta().key_for(token) if 0 < len(token) <= MAX_KEY_CHARS else None
    return g._bearer_key


def _bearer() -> str | None:
    """The key this request presents: `Bearer` anywhere; `ApiKey` and `Basic` on machine-facing
    requests only, and Basic only when its password is one of our keys (`plk_…`): a proxy's Basic
    sign-in in front of the back office must not log people out, nor fail its pages' API calls.
    "" for a credential that holds no key (refused as a bad key, never ignored)."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    scheme, token = scheme.lower(), token.strip()
    if scheme == "bearer":
        return token or None
    if scheme not in ("apikey", "basic") or not machine_request():
        return None
    if scheme == "apikey" and _looks_like_key(token):
        return token
    try:
        decoded = base64.b64decode(token, validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        return ""
    if scheme == "apikey" and _looks_like_key(decoded):
        return decoded  # base64 of the key alone
    _user, colon, secret = decoded.partition(":")  # id:api_key, user:password
    if scheme == "basic" and not _looks_like_key(secret):
        return None  # not a key: a proxy's sign-in in front of us (then a signed-in session counts)
    return secret if colon else ""


def _looks_like_key(token: str) -> bool:
    return token.startswith(KEY_PREFIX)


def current_role() -> str | None:
    """The role the current request acts with: the user's, or API_READER for a key acting as it
    (a key may act as several key roles: `may` asks about all of them)."""
    key = getattr(g, "api_key", None)
    if key is not None:
        return API_READER if API_READER in key.acts_as else None
    return current_user.role if current_user.is_authenticated else None


def _key_grant(key) -> key_grants.KeyGrant:
    if "_key_grant" not in g:
        g._key_grant = key_grants.key_grant(current_app.extensions["platlogs"], key)
    return g._key_grant


def may(permission: str) -> bool:
    """Whether the current request may do what `permission` (app/roles.yaml) allows: a signed-in
    user by their role; an API key by its key roles, never beyond its creator's role
    (app/meta/key_grants.py)."""
    key = getattr(g, "api_key", None)
    if key is not None:
        return permission in _key_grant(key).permissions
    return can(current_user.role if current_user.is_authenticated else None, permission)


def _refusal(permission: str) -> str:
    key = getattr(g, "api_key", None)
    if key is None:
        return f"your role may not do this ({permission})"
    limited_by = _key_grant(key).limited_by
    if limited_by and permission in permissions_of(*key.acts_as):
        return (
            f"this API key may no longer do this ({permission}): {limited_by}, who created it, may not "
            "(a key never does more than its creator)"
        )
    giving = scopes_giving(permission)
    return f"this API key may not do this ({permission})" + (
        f": a key created with scope {' or '.join(giving)} may" if giving else ""
    )


def api_access(scope: str | tuple[str, ...], permission: str | None = None):
    """An API route: an API key with `scope` (or one of several) whose key roles hold
    `permission` (app/roles.yaml; never beyond its creator's role); for any scope but `ingest`, a
    signed-in user whose role holds it also qualifies (a write from a session needs the CSRF token:
    app/__init__.py). A read route without a permission needs `search`."""
    scopes = (scope,) if isinstance(scope, str) else tuple(scope)
    sessions = "ingest" not in scopes
    if sessions and permission is None:
        permission = "search"

    def decorator(view):
        @wraps(view)
        def wrapper(*args, **kwargs):
            if uses_bearer():
                key = request_key()
                if key is None:
                    raise ApiError(401, "invalid or revoked API key")
                if not key.scope_set.intersection(scopes):
                    raise ApiError(403, f"this API key lacks the {' or '.join(map(repr, scopes))} scope")
                g.api_key = key
            elif sessions and current_user.is_authenticated and not current_user.must_change_password:
                g.api_key = None
            else:
                raise ApiError(
                    401,
                    f"authentication required: send an API key with scope {' or '.join(map(repr, scopes))} "
                    "('Authorization: Bearer <key>', 'ApiKey <key>' or Basic with the key as password)"
                    + (" or sign in" if sessions else ""),
                )
            if permission and not may(permission):
                raise ApiError(403, _refusal(permission))
            return view(*args, **kwargs)

        return declare(wrapper, permission, scopes)

    return decorator


def page_access(permission: str | None = "search"):
    """A page: a signed-in user whose role has `permission` (None: any signed-in user);
    first sign-in must change the password."""

    def decorator(view):
        @wraps(view)
        def wrapper(*args, **kwargs):
            if not current_user.is_authenticated:
                return current_app.login_manager.unauthorized()  # type: ignore[attr-defined]  # set by flask-login
            if current_user.must_change_password:
                return redirect(url_for("web.change_password", next=request.full_path))
            if permission and not can(current_user.role, permission):
                raise ApiError(403, "your role may not open this page")
            return view(*args, **kwargs)

        return declare(wrapper, permission)

    return decorator
