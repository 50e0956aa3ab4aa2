"""POST /v1/logs: OTLP/HTTP logs (protobuf or JSON, optionally gzip), the path OpenTelemetry
SDKs and the Collector's otlphttp exporter send to. Thin: read the body, decode it
(otlp_wire.py), map its records (otlp_map.py), hand them to the Ingestor, answer as OTLP says:
200 with ExportLogsServiceResponse (partial_success when records were refused), a
google.rpc.Status for failures, in the encoding of the request."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, request
from werkzeug.exceptions import HTTPException

from ..auth import api_access
from ..errors import RETRY_AFTER_S, ApiError
from ..server import request_rebalance
from .ndjson import BodyLimit, decoded_chunks
from .otlp_map import OtlpMapper, locate
from .otlp_wire import JSON, Undecodable, decode, encoding_of, status_body, success_body
from .views import REBALANCE_ITEMS

otlp = Blueprint("otlp", __name__)

MAX_REASONS = 10  # refused records named in partial_success.error_message
MAX_MESSAGE_CHARS = 4000


def _services():
    return current_app.extensions["platlogs"]


def _mapper() -> OtlpMapper:
    extensions = current_app.extensions
    if "platlogs_otlp" not in extensions:
        extensions["platlogs_otlp"] = OtlpMapper(_services().ingestor.normalizer.schema)
    return extensions["platlogs_otlp"]


def _answer(status: int, body: bytes, encoding: str) -> Response:
    response = Response(body, status=status, content_type=encoding)
    if status == 503:
        response.headers["Retry-After"] = RETRY_AFTER_S
    return response


def _fail(status: int, message: str) -> Response:
    encoding = encoding_of(request.content_type) or JSON
    return _answer(status, status_body(encoding, status, message), encoding)


@otlp.errorhandler(ApiError)
def _api_error(exc: ApiError):  # 401/403 of api_access, and ours below
    return _fail(exc.status, exc.message)


@otlp.errorhandler(HTTPException)
def _http_error(exc: HTTPException):  # 413 of MAX_CONTENT_LENGTH, and the like
    return _fail(exc.code or 400, exc.description or exc.name)


def _body() -> bytes:
    settings = _services().settings
    encoding = request.headers.get("Content-Encoding", "identity").strip().lower()
    if encoding not in ("identity", "gzip", ""):
        raise ApiError(415, f"unsupported Content-Encoding {encoding!r}; send identity or gzip")
    limit = settings.max_request_bytes
    body = bytearray()
    try:
        for chunk in decoded_chunks(
            request.stream,
            gzip=encoding == "gzip",
            max_inflated=min(settings.max_inflated_bytes, limit),
            max_ratio=settings.max_gzip_ratio,
        ):
            body += chunk
            if len(body) > limit:
                raise ApiError(413, f"body over {limit} bytes (PLATLOGS_MAX_REQUEST_BYTES); export smaller batches")
    except BodyLimit as exc:
        raise ApiError(413, str(exc)) from None
    except ValueError as exc:  # bad gzip
        raise ApiError(400, str(exc)) from None
    return bytes(body)


@otlp.post("/v1/logs")
@api_access("ingest")
def post_logs():
    encoding = encoding_of(request.content_type)
    if encoding is None:
        raise ApiError(
            415,
            f"unsupported Content-Type {request.content_type!r}: "
            "send application/x-protobuf or application/json (OTLP/HTTP)",
        )
    try:
        export = decode(_body(), encoding)
    except Undecodable as exc:
        raise ApiError(400, str(exc)) from None
    report = _services().ingestor.ingest(_mapper().lines(export), check_size=True)
    if report.accepted + report.rejected >= REBALANCE_ITEMS:
        request_rebalance(request.environ)
    if report.storage_failed:  # retryable: the SDK and the Collector retry on 503
        return _answer(
            503,
            status_body(encoding, 503, f"storage unavailable, {report.rejected} log records not stored; retry later"),
            encoding,
        )
    if not report.rejected:
        return _answer(200, success_body(encoding), encoding)
    return _answer(200, success_body(encoding, report.rejected, _refusals(export, report)), encoding)


def _refusals(export, report) -> str:
    reasons = []
    for error in report.errors[:MAX_REASONS]:
        where = locate(export, error["index"])
        field = f" (field {error['field']})" if error.get("field") else ""
        reasons.append(f"{where}: {error['reason']}{field}")
    more = report.rejected - len(reasons)
    text = f"{report.rejected} log record{'s' if report.rejected != 1 else ''} refused: " + "; ".join(reasons)
    if more > 0:
        text += f"; and {more} more"
    return text if len(text) <= MAX_MESSAGE_CHARS else text[: MAX_MESSAGE_CHARS - 1] + "…"
