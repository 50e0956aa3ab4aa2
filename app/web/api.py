"""Read API: schema, latest events, one event, health."""
from __future__ import annotations

from flask import Blueprint, current_app, jsonify, request

from ..auth import api_access
from ..errors import ApiError
from ..events.schema import json_schema
from ..search.params import search_params
from ..storage import StoreError
from .search_api import result_json

api = Blueprint("read_api", __name__, url_prefix="/api/v1")


def _store():
    return current_app.extensions["platlogs"].store


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
    """The newest events matching `q` (the same parameters as /search, without facets)."""
    params = search_params({k: v for k, v in request.args.items() if k not in ("facets", "histogram")})
    return jsonify(result_json(params, _store().search(params.request)))


@api.get("/events/<event_id>")
@api_access("read")
def get_event(event_id: str):
    event = _store().get(event_id)
    if event is None:
        raise ApiError(404, f"no event with id {event_id!r}")
    return jsonify(event)
