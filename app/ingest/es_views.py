"""The Elasticsearch-compatible subset: what elasticsearch-py, opensearch-py, rsyslog's
omelasticsearch, Logstash, Filebeat, Vector and Fluent Bit call to ship logs (docs/shippers.md,
"Elasticsearch-compatible _bulk"). Thin: `_bulk` bodies go through es_bulk.py into the one
Ingestor; the rest answers the start-up and health calls those clients make, minimally and
truthfully (no templates, ILM policies or data streams are kept: Platform Logs has its own schema).

Every path needs an API key with the `ingest` scope (Bearer, ApiKey or Basic with the key as
password: app/auth.py), except `/`, which any valid key may read. Every answer is JSON and
carries `X-Elastic-Product: Elasticsearch`, which the Elasticsearch clients require on their
first successful answer; errors are Elasticsearch-shaped as well as the project's own
(`{"error": {"type", "reason", "status", "message"}, "status"}`).
"""

from __future__ import annotations

import re
import time
import uuid

import orjson
from flask import Blueprint, Response, current_app, request
from werkzeug.exceptions import HTTPException

from ..auth import api_access, request_key, uses_key
from ..errors import ApiError
from ..machine import ES_BLUEPRINT, api_client
from ..server import request_rebalance
from ..storage import StoreError
from .es_bulk import answer, read_actions
from .ndjson import BodyLimit, decoded_chunks, iter_lines
from .pipeline import IngestReport
from .stats import count_refused
from .views import REBALANCE_ITEMS

es = Blueprint(ES_BLUEPRINT, __name__)

CLUSTER = "platform-logs"
DEFAULT_VERSION = "8.17.0"
MAX_BULK_BYTES = 100 << 20  # Elasticsearch's own default http.max_content_length
PRODUCT_HEADER = "X-Elastic-Product"
_CLIENT_VERSION = re.compile(r"(?:elasticsearch-py|Elastic-\w+|Logstash)/([789])\.(\d{1,3})\.(\d{1,3})\b", re.I)
_COMPATIBLE = re.compile(r"compatible-with=([789])\b")
_ERROR_TYPES = {
    400: "illegal_argument_exception",
    401: "security_exception",
    403: "security_exception",
    404: "resource_not_found_exception",
    405: "illegal_argument_exception",
    413: "content_too_long_exception",
    415: "media_type_header_exception",
    503: "unavailable_shards_exception",
}


def _services():
    return current_app.extensions["platlogs"]


def _json(body, status: int = 200) -> Response:
    return Response(
        orjson.dumps(body), status=status, mimetype="application/json", headers={PRODUCT_HEADER: "Elasticsearch"}
    )


def _es_error(status: int, message: str) -> Response:
    error = {"type": _ERROR_TYPES.get(status, "exception"), "reason": message, "status": status, "message": message}
    response = _json({"error": error, "status": status}, status)
    if status == 503:
        response.headers["Retry-After"] = "5"
    return response


@es.errorhandler(ApiError)
def _api_error(exc: ApiError):
    return _es_error(exc.status, exc.message)


@es.errorhandler(HTTPException)
def _http_error(exc: HTTPException):  # 405, a CSRF refusal of a signed-in browser, …
    return _es_error(exc.code or 400, exc.description or exc.name)


# -- GET / --------------------------------------------------------------------------------------


@es.before_app_request
def _root():
    """`/` for an API client (app/machine.py): who we are, as Elasticsearch clients read it.
    A browser still gets the back office (its sign-in)."""
    if request.path != "/" or request.method not in ("GET", "HEAD") or not api_client():
        return None
    if not uses_key():
        raise ApiError(
            401,
            "authentication required: send an API key "
            "('Authorization: Bearer <key>', 'ApiKey <key>' or Basic with the key as password)",
        )
    if request_key() is None:
        raise ApiError(401, "invalid or revoked API key")
    return _json(info())


def info() -> dict:
    settings = _services().settings
    return {
        "name": CLUSTER,
        "cluster_name": CLUSTER,
        "cluster_uuid": str(uuid.uuid5(uuid.NAMESPACE_URL, f"platform-logs:{settings.data_dir}")),
        "version": {
            "number": client_version(),
            "build_flavor": "default",
            "build_type": "platform-logs",
            "build_hash": "platform-logs",
            "build_date": "2026-01-01T00:00:00.000Z",
            "build_snapshot": False,
            "lucene_version": "9.12.0",
            "minimum_wire_compatibility_version": "7.17.0",
            "minimum_index_compatibility_version": "7.0.0",
        },
        "tagline": "You Know, for Search",
        "platform_logs": "Platform Logs, answering an Elasticsearch-compatible subset for shipping logs "
        "(_bulk); search with Platform Logs' own API",
    }


def client_version() -> str:
    """The version to claim: the client's own when it names one (Beats and Logstash refuse a
    cluster older than themselves; es-py asks for its major in Accept), else 8.17.0."""
    found = _CLIENT_VERSION.search(request.headers.get("User-Agent", ""))
    if found:
        return ".".join(found.groups())
    compatible = _COMPATIBLE.search(request.headers.get("Accept", ""))
    if compatible and compatible.group(1) != DEFAULT_VERSION[0]:
        return f"{compatible.group(1)}.0.0"
    return DEFAULT_VERSION


# -- _bulk --------------------------------------------------------------------------------------


def _chunks():
    settings = _services().settings
    encoding = request.headers.get("Content-Encoding", "identity").strip().lower()
    if encoding not in ("identity", "gzip"):
        raise ApiError(415, f"unsupported Content-Encoding {encoding!r}; send identity or gzip")
    if (request.content_length or 0) > MAX_BULK_BYTES:
        raise ApiError(413, f"_bulk body over {MAX_BULK_BYTES} bytes; send it in parts")
    return _bounded(
        decoded_chunks(
            request.stream,
            gzip=encoding == "gzip",
            max_inflated=settings.max_inflated_bytes,
            max_ratio=settings.max_gzip_ratio,
        )
    )


def _bounded(chunks):
    """The (decoded) body up to MAX_BULK_BYTES: past it, the actions read so far are answered
    and the next one is a 413 (the per-item answer is held in memory, so it is bounded too)."""
    total = 0
    for chunk in chunks:
        total += len(chunk)
        if total > MAX_BULK_BYTES:
            yield chunk[: len(chunk) - (total - MAX_BULK_BYTES)]  # its whole lines are still read
            raise BodyLimit(f"_bulk body over {MAX_BULK_BYTES} bytes decoded; send it in parts")
        yield chunk


@es.route("/_bulk", methods=["POST", "PUT"])
@es.route("/<index>/_bulk", methods=["POST", "PUT"])
@api_access("ingest")
def bulk(index: str | None = None):
    """NDJSON action/source pairs, streamed (memory stays flat but for the answer).
    ?refresh, ?pipeline, ?routing and the like are accepted and ignored."""
    started = time.monotonic()
    services = _services()
    request.max_content_length = 1 << 62  # streamed: each line is bounded instead
    actions: list = []
    items = read_actions(iter_lines(_chunks(), services.settings.max_event_bytes), index, actions)
    report = services.ingestor.ingest(
        items, position="item", check_size=True, report=IngestReport(track=True, max_errors=1 << 62)
    )
    count_refused(services.ingestor.stats, [a.kind for a in actions if a.status])
    if len(actions) >= REBALANCE_ITEMS:
        request_rebalance(request.environ)
    return _json(answer(actions, report, int((time.monotonic() - started) * 1000)))


# -- start-up and health calls ------------------------------------------------------------------


def _health() -> tuple[str, int]:
    try:
        _services().store.count()
    except StoreError:
        return "red", 503
    return "green", 200


@es.get("/_cluster/health")
@es.get("/_cluster/health/<path:_indices>")
@api_access("ingest")
def cluster_health(_indices: str | None = None):
    status, code = _health()
    return _json(
        {
            "cluster_name": CLUSTER,
            "status": status,
            "timed_out": False,
            "number_of_nodes": 1,
            "number_of_data_nodes": 1,
            "active_primary_shards": 0,
            "active_shards": 0,
            "relocating_shards": 0,
            "initializing_shards": 0,
            "unassigned_shards": 0,
            "delayed_unassigned_shards": 0,
            "number_of_pending_tasks": 0,
            "number_of_in_flight_fetch": 0,
            "task_max_waiting_in_queue_millis": 0,
            "active_shards_percent_as_number": 100.0,
        },
        code,
    )


@es.get("/_cat/health")
@api_access("ingest")
def cat_health():
    status, code = _health()
    now = time.time()
    row = {
        "epoch": str(int(now)),
        "timestamp": time.strftime("%H:%M:%S", time.gmtime(now)),
        "cluster": CLUSTER,
        "status": status,
        "node.total": "1",
        "node.data": "1",
        "shards": "0",
        "pri": "0",
        "relo": "0",
        "init": "0",
        "unassign": "0",
        "pending_tasks": "0",
        "max_task_wait_time": "-",
        "active_shards_percent": "100.0%",
    }
    if request.args.get("format") == "json" or "json" in request.headers.get("Accept", ""):
        return _json([row], code)
    text = " ".join(row.values()) + "\n"
    return Response(text, status=code, mimetype="text/plain", headers={PRODUCT_HEADER: "Elasticsearch"})


@es.get("/_license")
@api_access("ingest")
def license_():
    return _json(
        {
            "license": {
                "status": "active",
                "uid": info()["cluster_uuid"],
                "type": "basic",
                "issue_date_in_millis": 0,
                "max_nodes": 1,
                "issued_to": CLUSTER,
                "issuer": "Platform Logs",
                "start_date_in_millis": -1,
            }
        }
    )


@es.get("/_xpack")
@api_access("ingest")
def xpack():
    # no ILM: Logstash and Beats then write to the index they are given, without rollover aliases
    return _json(
        {
            "build": {"hash": "platform-logs", "date": "2026-01-01T00:00:00.000Z"},
            "license": {"uid": info()["cluster_uuid"], "type": "basic", "mode": "basic", "status": "active"},
            "features": {"ilm": {"available": False, "enabled": False}, "security": {"available": True, "enabled": True}},
            "tagline": "You know, for X",
        }
    )


@es.route("/_index_template/<name>", methods=["GET", "PUT", "POST"])
@es.route("/_template/<name>", methods=["GET", "PUT", "POST"])
@es.route("/_component_template/<name>", methods=["GET", "PUT", "POST"])
@es.route("/_ilm/policy/<name>", methods=["GET", "PUT", "POST"])
@api_access("ingest")
def template(name: str):
    """None is kept (Platform Logs' schema decides the fields): a look-up finds nothing, and a
    shipper's PUT of its own is acknowledged and ignored, so its start-up goes on."""
    if request.method in ("GET", "HEAD"):
        raise ApiError(
            404, f"[{name}] not found: Platform Logs keeps no templates or policies; its own schema decides the fields"
        )
    return _json({"acknowledged": True})
