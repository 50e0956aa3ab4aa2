"""Pages. Thin: parse input, call a service, render."""
from __future__ import annotations

import orjson
from flask import current_app, render_template, request

from ..auth import page_access
from ..errors import ApiError
from ..query import QueryError
from ..search.params import search_params

from . import web


def _services():
    return current_app.extensions["platlogs"]


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
