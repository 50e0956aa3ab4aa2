"""Signing in and out, and changing one's password.

Failed sign-ins are counted in the meta database (shared by every worker process): past
MAX_FAILURES_PER_USERNAME failures for one username, or MAX_FAILURES_PER_ADDRESS from one address,
within LOGIN_WINDOW, attempts are answered 429 with Retry-After and the password is not even
checked (so the lock cannot be used to go on guessing). Every sign-in, failed or not, is recorded
as an event of type `login`."""
from __future__ import annotations

import math
import secrets
from functools import lru_cache
from urllib.parse import urlsplit

from flask import current_app, flash, make_response, redirect, render_template, request, url_for
from flask_login import current_user
from werkzeug.security import check_password_hash, generate_password_hash

from .. import audit
from ..auth import current_session_id, page_access, sign_in, sign_out
from ..meta import accounts
from ..meta.throttle import unknown_login_name

from . import web


def _services():
    return current_app.extensions["platlogs"]


def _acting() -> accounts.Acting:
    """The signed-in user, from their address (the account service records what they do)."""
    return accounts.Acting(audit.actor(), audit.request_source(), current_user.id)


def _safe_next(target: str | None) -> str:
    """Only same-site relative paths: never an open redirect."""
    if target and target.startswith("/") and not target.startswith("//") and not urlsplit(target).netloc:
        return target
    return landing()


LANDING = {"manager": "web.health"}   # where a role lands after signing in (default: the search page)


def landing() -> str:
    endpoint = LANDING.get(getattr(current_user, "role", None), "web.index")
    return url_for(endpoint if endpoint in current_app.view_functions else "web.index")


@lru_cache(maxsize=1)
def _decoy_hash() -> str:
    return generate_password_hash(secrets.token_hex(16), method="scrypt")


def _password_matches(user, password: str) -> bool:
    """The password check, as slow for an unknown username as for a known one (no timing hint
    about which usernames exist)."""
    if user is None:
        check_password_hash(_decoy_hash(), password)
        return False
    return user.check_password(password)


def _who(username: str, role: str | None = None) -> dict:
    who = {"type": "employee", "id": username or "(empty)", "name": username or "(empty)"}
    if role:
        who["roles"] = [role]
    return who


def _too_many(retry_after: int, template: str, **context):
    minutes = max(1, math.ceil(retry_after / 60))
    error = (f"Too many failed attempts for this account or from your network address. "
             f"Try again in {minutes} minute{'s' if minutes > 1 else ''}.")
    response = make_response(render_template(template, error=error, **context), 429)
    response.headers["Retry-After"] = str(retry_after)
    return response


@web.route("/login", methods=["GET", "POST"])
def login():
    if request.method != "POST":
        return render_template("login.html", error=None)
    meta = _services().meta
    typed = request.form.get("username", "")
    user = meta.user_by_name(typed)
    # never the typed text of an unknown name (it may be a password): a pseudonym that groups alike
    name = user.username if user is not None else unknown_login_name(typed, current_app.secret_key)
    retry_after = meta.login_retry_after(name, request.remote_addr)
    if retry_after is not None:
        audit.record("login_failed", f"sign-in refused for {name!r}: too many failed attempts", event_type="login",
                     outcome="failure", who=_who(name), labels={"reason": "rate_limited"})
        return _too_many(retry_after, "login.html")
    if _password_matches(user, request.form.get("password", "")) and user.active:
        meta.clear_login_failures(user.username)
        sign_in(meta, user)
        meta.record_login(user.id)
        audit.record("login", f"{user.username} signed in", event_type="login", outcome="success",
                     who=_who(user.username, user.role))
        if user.must_change_password:
            return redirect(url_for("web.change_password", next=request.args.get("next")))
        return redirect(_safe_next(request.args.get("next")))
    meta.record_login_failure(name, request.remote_addr)
    reason = "unknown_user" if user is None else "wrong_password" if user.active else "deactivated"
    audit.record("login_failed", f"failed sign-in for {name!r}", event_type="login", outcome="failure",
                 who=_who(name), labels={"reason": reason})
    return render_template("login.html", error="Wrong username or password."), 401


@web.post("/logout")
def logout():
    if current_user.is_authenticated:
        audit.record("logout", f"{current_user.username} signed out", event_type="login", outcome="success",
                     who=_who(current_user.username, current_user.role))
    sign_out(_services().meta)
    return redirect(url_for("web.login"))


@web.route("/account/password", methods=["GET", "POST"])
def change_password():
    if not current_user.is_authenticated:
        return redirect(url_for("web.login"))
    error = None
    forced = current_user.must_change_password
    if request.method == "POST":
        meta = _services().meta
        # a wrong current password counts as a failed sign-in: a borrowed session cannot be used to guess it
        retry_after = meta.login_retry_after(current_user.username, request.remote_addr)
        if retry_after is not None:
            return _too_many(retry_after, "password.html", forced=forced)
        new, repeat = request.form.get("new_password", ""), request.form.get("repeat_password", "")
        if not current_user.check_password(request.form.get("current_password", "")):
            meta.record_login_failure(current_user.username, request.remote_addr)
            error = "The current password is wrong."
        elif new != repeat:
            error = "The new passwords differ."
        else:
            try:   # the other sessions end
                accounts.change_own_password(_services(), _acting(), current_user, new,
                                             keep_session=current_session_id(), forced=forced)
            except ValueError as exc:
                error = str(exc)
            else:
                flash("Password changed.")
                return redirect(_safe_next(request.args.get("next")))
    return render_template("password.html", error=error, forced=forced)


# -- one's own sessions -----------------------------------------------------------------------

def _sessions_page(status: int = 200):
    meta = _services().meta
    response = make_response(render_template("sessions.html", sessions=meta.sessions_of(current_user.id),
                                             current=current_session_id()), status)
    response.headers["Cache-Control"] = "no-store"
    return response


@web.get("/account/sessions")
@page_access(None)
def account_sessions():
    """Where one is signed in (browser, address, last seen), and ending the other sessions."""
    return _sessions_page()


@web.post("/account/sessions/<sid>/revoke")
@page_access(None)
def end_account_session(sid: str):
    if not accounts.end_own_sessions(_services(), _acting(), current_user, keep=current_session_id(), only=sid):
        flash("No such session of yours (sign out to end this one).")
    else:
        flash("That session is signed out.")
    return redirect(url_for("web.account_sessions"))


@web.post("/account/sessions/revoke-others")
@page_access(None)
def end_other_sessions():
    ended = accounts.end_own_sessions(_services(), _acting(), current_user, keep=current_session_id())
    flash(f"{ended} other session{'s' if ended != 1 else ''} signed out.")
    return redirect(url_for("web.account_sessions"))
