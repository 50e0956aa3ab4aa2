"""Signing in and out, and changing one's password."""
from __future__ import annotations

from urllib.parse import urlsplit

from flask import current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_user, logout_user

from . import web


def _services():
    return current_app.extensions["platlogs"]


def _safe_next(target: str | None) -> str:
    """Only same-site relative paths: never an open redirect."""
    if target and target.startswith("/") and not target.startswith("//") and not urlsplit(target).netloc:
        return target
    return url_for("web.index")


@web.route("/login", methods=["GET", "POST"])
def login():
    error = None
    if request.method == "POST":
        user = _services().meta.user_by_name(request.form.get("username", ""))
        if user is not None and user.active and user.check_password(request.form.get("password", "")):
            login_user(user)
            _services().meta.record_login(user.id)
            if user.must_change_password:
                return redirect(url_for("web.change_password", next=request.args.get("next")))
            return redirect(_safe_next(request.args.get("next")))
        error = "Wrong username or password."
    return render_template("login.html", error=error), 401 if error else 200


@web.post("/logout")
def logout():
    logout_user()
    return redirect(url_for("web.login"))


@web.route("/account/password", methods=["GET", "POST"])
def change_password():
    if not current_user.is_authenticated:
        return redirect(url_for("web.login"))
    error = None
    if request.method == "POST":
        new, repeat = request.form.get("new_password", ""), request.form.get("repeat_password", "")
        if not current_user.check_password(request.form.get("current_password", "")):
            error = "The current password is wrong."
        elif new != repeat:
            error = "The new passwords differ."
        elif len(new) < 10:
            error = "Choose at least 10 characters."
        else:
            _services().meta.set_password(current_user.id, new)
            flash("Password changed.")
            return redirect(_safe_next(request.args.get("next")))
    return render_template("password.html", error=error, forced=current_user.must_change_password)
