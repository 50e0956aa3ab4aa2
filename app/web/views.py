"""Pages. Thin: parse input, call a service, render."""
from __future__ import annotations

from urllib.parse import urlsplit

import orjson
from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_user, logout_user

from ..auth import page_access
from ..errors import ApiError
from ..query import QueryError
from ..search.params import search_params

web = Blueprint("web", __name__, template_folder="templates", static_folder="static", static_url_path="/static")


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


RANGES = [("now-15m", "last 15 minutes"), ("now-1h", "last hour"), ("now-24h", "last 24 hours"),
          ("now-7d", "last 7 days"), ("now-30d", "last 30 days"), ("", "all time")]


@web.get("/")
@page_access()
def index():
    args = {"q": request.args.get("q", ""), "from": request.args.get("from", "now-24h"), "size": "100"}
    error = None
    try:
        params = search_params(args)
    except QueryError as exc:
        error, params = exc, search_params({"from": args["from"], "size": "100"})
    result = _services().store.search(params.request)
    return render_template("events.html", result=result, q=args["q"], time_from=args["from"], ranges=RANGES,
                           error=error)


@web.get("/events/<event_id>")
@page_access()
def event_detail(event_id: str):
    event = _services().store.get(event_id)
    if event is None:
        raise ApiError(404, "no such event")
    pretty = orjson.dumps(event, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS).decode()
    return render_template("event.html", event=event, pretty=pretty)
