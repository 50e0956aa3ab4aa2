"""Read API: schema, latest events, one event, health."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify, request

from ..apidoc import openapi_description
from ..auth import api_access
from ..errors import ApiError
from ..events.schema import get_path, json_schema
from ..search import masking
from ..search.params import search_params
from ..storage import StoreError
from . import reading
from .search_api import result_json

api = Blueprint("read_api", __name__, url_prefix="/api/v1")


def _store():
    return current_app.extensions["platlogs"].store


@api.get("/schema")
def schema():
    """The event schema as JSON Schema (public: it describes the format, not the data)."""
    return jsonify(json_schema())


@api.get("/openapi.json")
def openapi():
    """This API's OpenAPI 3.1 description (public, like the schema: it describes the API, not the data)."""
    return jsonify(openapi_description())


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
    result = _store().search(reading.scoped(params.request))
    reading.record_search("search", params.q, params.request, len(result.hits), result.total)
    return jsonify(result_json(params, result))


@api.get("/events/<event_id>")
@api_access("read")
def get_event(event_id: str):
    event = reading.visible(reading.stream(request.args.get("stream")).get(event_id))
    if event is None:
        raise ApiError(404, f"no event with id {event_id!r}")
    reading.record_view(event_id)
    return jsonify(reading.shown(event))


@api.post("/events/<event_id>/reveal")
@api_access("read", "reveal_personal")
def reveal(event_id: str):
    """One masked value of one event, for a stated reason; the reveal is recorded."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ApiError(400, "expected a JSON object {field, reason}")
    field, reason = str(body.get("field", "")), str(body.get("reason", "")).strip()
    if len(reason) < 5 or len(reason) > 500:
        raise ApiError(400, "reason: say why you need to see this value (5 to 500 characters)", field="reason")
    event = reading.visible(_store().get(event_id))
    if event is None:
        raise ApiError(404, f"no event with id {event_id!r}")
    if not masking.revealable(event, field):
        raise ApiError(400, f"field: {field!r} is not a personal field, nor holds personal data", field="field")
    value = get_path(event, field)
    reading.record_reveal(event_id, field, reason)
    return jsonify({"event_id": event_id, "field": field, "value": value})
