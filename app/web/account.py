"""Signing in and out, and changing one's password.

Failed sign-ins are counted in the meta database (shared by every worker process): past
MAX_FAILURES_PER_USERNAME failures for one username, or MAX_FAILURES_PER_ADDRESS from one address,
within LOGIN_WINDOW, attempts are answered 429 with Retry-After and the password is not even
checked (so the lock cannot be used to go on guessing). Every sign-in, failed or not, is recorded
as an event of type `login`. Those policies live in the account service (app/meta/accounts.py
`sign_in`, `change_own_password`); the views here parse the form, call it and render."""

from __future__ import annotations

import math
from urllib.parse import urlsplit

from flask import current_app, flash, make_response, redirect, render_template, request, url_for
from flask_login import current_user

from .. import audit
from ..auth import current_session_id, page_access, sign_in, sign_out
from ..meta import accounts
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


LANDING = {"manager": "web.health"}  # where a role lands after signing in (default: the search page)


def landing() -> str:
    endpoint = LANDING.get(str(getattr(current_user, "role", "")), "web.index")
    return url_for(endpoint if endpoint in current_app.view_functions else "web.index")


def _too_many(retry_after: int, template: str, **context):
    minutes = max(1, math.ceil(retry_after / 60))
    error = (
        f"Too many failed attempts for this account or from your network address. "
        f"Try again in {minutes} minute{'s' if minutes > 1 else ''}."
    )
    response = make_response(render_template(template, error=error, **context), 429)
    response.headers["Retry-After"] = str(retry_after)
    return response


@web.route("/login", methods=["GET", "POST"])
def login():
    if request.method != "POST":
        return render_template("login.html", error=None)
    attempt = accounts.sign_in(
        _services(),
        request.form.get("username", ""),
        request.form.get("password", ""),
        address=request.remote_addr,
        secret=str(current_app.secret_key),
    )
    if attempt.retry_after is not None:
        return _too_many(attempt.retry_after, "login.html")
    if attempt.user is None:
        return render_template("login.html", error="Wrong username or password."), 401
    sign_in(_services().meta, attempt.user)
    if attempt.user.must_change_password:
        return redirect(url_for("web.change_password", next=request.args.get("next")))
    return redirect(_safe_next(request.args.get("next")))


@web.post("/logout")
def logout():
    if current_user.is_authenticated:
        accounts.signed_out(_services(), current_user, address=request.remote_addr)
    sign_out(_services().meta)
    return redirect(url_for("web.login"))


@web.route("/account/password", methods=["GET", "POST"])
def change_password():
    if not current_user.is_authenticated:
        return redirect(url_for("web.login"))
    error = None
    forced = current_user.must_change_password
    if request.method == "POST":
        form = request.form
        try:  # the other sessions end
            accounts.change_own_password(
                _services(),
                _acting(),
                current_user,
                form.get("current_password", ""),
                form.get("new_password", ""),
                form.get("repeat_password", ""),
                address=request.remote_addr,
                keep_session=current_session_id(),
                forced=forced,
            )
        except accounts.Throttled as exc:
            return _too_many(exc.retry_after, "password.html", forced=forced)
        except ValueError as exc:
            error = str(exc)
        else:
            flash("Password changed.")
            return redirect(_safe_next(request.args.get("next")))
    return render_template("password.html", error=error, forced=forced)


# -- one's own sessions -----------------------------------------------------------------------


def _sessions_page(status: int = 200):
    meta = _services().meta
    response = make_response(
        render_template("sessions.html", sessions=meta.sessions_of(current_user.id), current=current_session_id()), status
    )
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
