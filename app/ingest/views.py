"""Ingest endpoints. Thin: read the body, hand items to the Ingestor, answer its report."""
from __future__ import annotations

from flask import Blueprint, current_app, jsonify, request

from ..auth import api_access
from ..errors import ApiError, error_response
from ..events.normalize import EventError
from .ndjson import decoded_chunks, iter_lines, parse_json

api = Blueprint("ingest_api", __name__, url_prefix="/api/v1")


def _services():
    return current_app.extensions["platlogs"]


def _gzip() -> bool:
    encoding = request.headers.get("Content-Encoding", "identity").lower()
    if encoding not in ("identity", "gzip"):
        raise ApiError(415, f"unsupported Content-Encoding {encoding!r}; send identity or gzip")
    return encoding == "gzip"


@api.errorhandler(413)
def _too_large(_exc):
    limit = _services().settings.max_request_bytes
    return error_response(413, f"body over {limit} bytes; send large volumes to /api/v1/events/bulk (NDJSON)")


def _answer(report):
    response = jsonify(report.as_dict())
    response.status_code = report.status
    return response


@api.post("/events")
@api_access("ingest")
def post_events():
    """One JSON object, or a JSON array of them."""
    services = _services()
    limit = services.settings.max_request_bytes
    body = bytearray()
    try:
        for chunk in decoded_chunks(request.stream, gzip=_gzip()):
            body += chunk
            if len(body) > limit:
                raise ApiError(413, f"body over {limit} bytes; send large volumes to /api/v1/events/bulk (NDJSON)")
    except ValueError as exc:
        raise ApiError(400, str(exc)) from None
    if not body.strip():
        raise ApiError(400, "empty body: send a JSON object or an array of objects")
    try:
        document = parse_json(bytes(body))
    except EventError as exc:
        raise ApiError(400, exc.reason) from None
    items = document if isinstance(document, list) else [document]
    report = services.ingestor.ingest(enumerate(items), check_size=True)
    return _answer(report)


@api.post("/events/bulk")
@api_access("ingest")
def post_bulk():
    """NDJSON, one event per line, read as a stream: memory stays flat whatever the body size.
    Batches are committed as they fill, so a dropped connection keeps what was committed;
    re-sending with client event ids is idempotent."""
    services = _services()
    # streamed: only each line is bounded. (Flask treats None as "use the app setting".)
    request.max_content_length = 1 << 62
    chunks = decoded_chunks(request.stream, gzip=_gzip())
    lines = iter_lines(chunks, services.settings.max_event_bytes)
    return _answer(services.ingestor.ingest(lines, position="line"))
