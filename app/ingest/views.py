"""Ingest endpoints. Thin: read the body, hand items to the Ingestor, answer its report."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from flask import Blueprint, current_app, jsonify, request

from ..auth import api_access
from ..errors import RETRY_AFTER_S, ApiError, error_response
from ..events.normalize import EventError
from ..server import request_rebalance
from .items import may_repeat_keys, split_array
from .logrecord import event_of_logrecord, parse_form
from .ndjson import BodyLimit, decoded_chunks, iter_lines, parse_json
from .text import text_items

api = Blueprint("ingest_api", __name__, url_prefix="/api/v1")

# A request with at least this many items ends its connection (`Connection: close` under `platlogs
# serve`), so the sender's next batch comes on a new connection, which an idle worker takes: kept-
# alive connections otherwise stay with one worker, one core (app/server.py). A new connection per
# 500 events costs well under 1 % of their ingest.
REBALANCE_ITEMS = 500


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


def _chunks():
    settings = _services().settings
    return decoded_chunks(
        request.stream, gzip=_gzip(), max_inflated=settings.max_inflated_bytes, max_ratio=settings.max_gzip_ratio
    )


def _answer(report):
    if report.accepted + report.rejected >= REBALANCE_ITEMS:
        request_rebalance(request.environ)
    response = jsonify(report.as_dict())
    response.status_code = report.status
    if report.status == 503:  # the store failed: senders hold the items and retry
        response.headers["Retry-After"] = RETRY_AFTER_S
    return response


@api.post("/events")
@api_access("ingest")
def post_events():
    """One JSON object, or a JSON array of them; or a Python logging record as the standard
    library's HTTPHandler POSTs it, a form (app/ingest/logrecord.py).

    Parsed whole (fast) when that is safe; otherwise — the body is not valid JSON as a whole, an
    item is too deep to handle, or a key may be repeated — an array is split into its items
    without recursion and each item is judged on its own, so one bad item never sinks the rest."""
    services = _services()
    settings = services.settings
    limit = settings.max_request_bytes
    body = bytearray()
    try:
        for chunk in _chunks():
            body += chunk
            if len(body) > limit:
                raise ApiError(413, f"body over {limit} bytes; send large volumes to /api/v1/events/bulk (NDJSON)")
    except BodyLimit as exc:
        raise ApiError(413, str(exc)) from None
    except ValueError as exc:
        raise ApiError(400, str(exc)) from None
    if not body.strip():
        raise ApiError(400, "empty body: send a JSON object or an array of objects")
    data = bytes(body)
    del body
    if request.mimetype == "application/x-www-form-urlencoded":  # logging.handlers.HTTPHandler
        try:
            record = event_of_logrecord(parse_form(data))
        except EventError as exc:
            raise ApiError(400, exc.reason) from None
        return _answer(services.ingestor.ingest(iter([(0, record)]), check_size=True))
    error = None
    try:
        document = parse_json(data)
    except EventError as exc:
        document, error = None, exc
    items: Iterable[tuple[int, Any]]
    if error is None and not may_repeat_keys(data, document):
        items = enumerate(document if isinstance(document, list) else [document])
    elif data.lstrip()[:1] == b"[":
        items = split_array(data, settings.max_event_bytes, settings.max_depth)
    elif error is not None:
        raise ApiError(400, error.reason)
    else:
        items = iter([(0, data)])
    report = services.ingestor.ingest(items, check_size=True)
    return _answer(report)


@api.post("/events/bulk")
@api_access("ingest")
def post_bulk():
    """NDJSON, one event per line, read as a stream: memory stays flat whatever the body size.
    With `Content-Type: text/plain`, plain log lines instead: each line an event's message.
    Batches are committed as they fill, so a dropped connection keeps what was committed;
    re-sending with client event ids is idempotent."""
    services = _services()
    # streamed: only each line is bounded. (Flask treats None as "use the app setting".)
    request.max_content_length = 1 << 62
    chunks = _chunks()
    lines: Iterator[tuple[int, Any]] = iter_lines(chunks, services.settings.max_event_bytes)
    if request.mimetype == "text/plain":  # plain log lines, one an event (app/ingest/text.py)
        lines = text_items(lines)
    return _answer(services.ingestor.ingest(lines, position="line"))
