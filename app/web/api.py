"""Read API: schema, latest events, one event, health."""
from __future__ import annotations

from flask import Blueprint, current_app, jsonify, request

from ..auth import api_access
from ..errors import ApiError
from ..events.schema import json_schema, load_schema
from ..storage import SearchRequest, StoreError

api = Blueprint("read_api", __name__, url_prefix="/api/v1")
MAX_PAGE = 1000


def _store():
    return current_app.extensions["platlogs"].store


def search_request_from_args(args) -> SearchRequest:
    """A SearchRequest from query arguments: size, text, and field=value filters on known fields."""
    try:
        size = int(args.get("size", 50))
    except ValueError:
        raise ApiError(400, "size: expected an integer") from None
    if not 1 <= size <= MAX_PAGE:
        raise ApiError(400, f"size: must be between 1 and {MAX_PAGE}")
    fields = load_schema().fields
    filters = {}
    for name, value in args.items():
        if name in ("size", "q", "order"):
            continue
        if name not in fields:
            raise ApiError(400, f"unknown parameter or field {name!r}", field=name)
        filters[name] = value
    order = args.get("order", "desc")
    if order not in ("asc", "desc"):
        raise ApiError(400, "order: asc or desc")
    return SearchRequest(filters=filters, text=args.get("q") or None, size=size, newest_first=order == "desc")


@api.get("/schema")
def schema():
    """The event schema as JSON Schema (public: it describes the format, not the data)."""
    return jsonify(json_schema())


@api.get("/health")
def health():
    try:
        count = _store().count()
    except StoreError as exc:
        return jsonify({"status": "unavailable", "store": str(exc)}), 503
    return jsonify({"status": "ok", "events": count})


@api.get("/events")
@api_access("read")
def latest_events():
    result = _store().search(search_request_from_args(request.args))
    return jsonify({"total": result.total, "total_exact": result.total_exact, "hits": result.hits})


@api.get("/events/<event_id>")
@api_access("read")
def get_event(event_id: str):
    event = _store().get(event_id)
    if event is None:
        raise ApiError(404, f"no event with id {event_id!r}")
    return jsonify(event)
