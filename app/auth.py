"""Sign-in (flask-login over server-side sessions, app/meta/sessions.py) and API keys
(Authorization: Bearer …), and the decorators every route uses to declare who may call it.

A request that carries `Authorization: Bearer …` is authenticated by that key alone: its cookies
are ignored (no signed-in user), so a key never lends its request a person's session and a
cookie never rescues a bad key. Keys authenticate API routes only; CSRF (app/__init__.py) is
skipped only when a valid key authenticated an API request."""
from __future__ import annotations

from functools import wraps

from flask import Flask, current_app, g, redirect, request, url_for
from flask_login import LoginManager, current_user

from .access import API_READER, can, declare
from .errors import ApiError
from .meta import MetaDB



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
            return None     # key-authenticated: cookies do not count
        return meta.session_user(token)


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
    logout_user()      # after clear(): it marks a remember-me cookie, if any, for deletion


def current_session_id() -> str | None:
    """The stored id of the signed-in user's current session."""
    return getattr(current_user, "session_id", None) if current_user.is_authenticated else None


def _meta() -> MetaDB:
    return current_app.extensions["platlogs"].meta


def uses_bearer() -> bool:
    return _bearer() is not None


def request_key():
    """The live API key of this request's bearer header (looked up once per request), or None."""
    token = _bearer()
    if token is None:
        return None
    if "_bearer_key" not in g:
        g._bearer_key = _meta().key_for(token) if len(token) <= 256 else None
    return g._bearer_key


def _bearer() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return None


def current_role() -> str | None:
    """The role the current request acts with: the user's, or API_READER for a read key."""
    if getattr(g, "api_key", None) is not None:
        return API_READER if "read" in g.api_key.scope_set else None
    return current_user.role if current_user.is_authenticated else None


def api_access(scope: str, permission: str | None = None):
    """An API route: a bearer key with `scope`; for `read`, a signed-in user also qualifies.
    `permission` (app/roles.yaml) is then checked against the caller's role."""
    if scope == "read" and permission is None:
        permission = "search"

    def decorator(view):
        @wraps(view)
        def wrapper(*args, **kwargs):
            if uses_bearer():
                key = request_key()
                if key is None:
                    raise ApiError(401, "invalid or revoked API key")
                if scope not in key.scope_set:
                    raise ApiError(403, f"this API key lacks the {scope!r} scope")
                g.api_key = key
            elif scope == "read" and current_user.is_authenticated and not current_user.must_change_password:
                g.api_key = None
            else:
                raise ApiError(401, f"authentication required: send 'Authorization: Bearer <key>' with scope {scope!r}"
                               + (" or sign in" if scope == "read" else ""))
            if permission and not can(current_role(), permission):
                raise ApiError(403, f"your role may not do this ({permission})")
            return view(*args, **kwargs)
        return declare(wrapper, permission)
    return decorator


def page_access(permission: str | None = "search"):
    """A page: a signed-in user whose role has `permission` (None: any signed-in user);
    first sign-in must change the password."""
    def decorator(view):
        @wraps(view)
        def wrapper(*args, **kwargs):
            if not current_user.is_authenticated:
                return current_app.login_manager.unauthorized()
            if current_user.must_change_password:
                return redirect(url_for("web.change_password", next=request.full_path))
            if permission and not can(current_user.role, permission):
                raise ApiError(403, "your role may not open this page")
            return view(*args, **kwargs)
        return declare(wrapper, permission)
    return decorator
