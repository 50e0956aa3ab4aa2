"""OTLP/HTTP on the wire: request bodies (binary protobuf, or OTLP's JSON mapping) into an
ExportLogsServiceRequest, and answers in the encoding the request came in
(opentelemetry-proto's generated classes; google.rpc.Status for failures)."""

from __future__ import annotations

import base64

import orjson
from google.protobuf import json_format
from google.rpc import status_pb2
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest, ExportLogsServiceResponse

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
_PROTOBUF_TYPES = {"application/x-protobuf", "application/protobuf"}
_ID_KEYS = ("traceId", "spanId", "trace_id", "span_id")
# HTTP status -> google.rpc.Code, for Status.code (the spec lets clients ignore it)
GRPC_CODE = {400: 3, 401: 16, 403: 7, 404: 5, 405: 12, 413: 8, 415: 3, 429: 8, 503: 14}


class Undecodable(ValueError):
    """The body is not an ExportLogsServiceRequest in the encoding it claims (400)."""


def encoding_of(content_type: str | None) -> str | None:
    """PROTOBUF or JSON for a Content-Type header (parameters ignored), else None."""
    media = (content_type or "").split(";", 1)[0].strip().lower()
    if media in _PROTOBUF_TYPES:
        return PROTOBUF
    if media == JSON:
        return JSON
    return None


def decode(body: bytes, encoding: str) -> ExportLogsServiceRequest:
    request = ExportLogsServiceRequest()
    if encoding == PROTOBUF:
        try:
            request.ParseFromString(body)
        except Exception as exc:  # noqa: BLE001 upb's DecodeError, or its recursion limit: the sender's bytes
            raise Undecodable(f"body is not a protobuf ExportLogsServiceRequest: {exc}") from None
        return request
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise Undecodable(f"malformed JSON: {exc}") from None
    if not isinstance(data, dict):
        raise Undecodable("expected a JSON object (an ExportLogsServiceRequest)")
    _hex_ids_to_base64(data)
    try:
        # unknown fields are ignored, as OTLP/JSON requires
        json_format.ParseDict(data, request, ignore_unknown_fields=True, max_recursion_depth=64)
    except (json_format.ParseError, ValueError, TypeError, RecursionError) as exc:
        raise Undecodable(f"not an OTLP/JSON ExportLogsServiceRequest: {str(exc)[:500]}") from None
    return request


def _hex_ids_to_base64(data: dict) -> None:
    """OTLP/JSON writes traceId and spanId in hex, where protobuf's JSON mapping expects base64."""
    for ri, resource_logs in enumerate(_items(data, "resourceLogs", "resource_logs")):
        for si, scope_logs in enumerate(_items(resource_logs, "scopeLogs", "scope_logs")):
            for li, record in enumerate(_items(scope_logs, "logRecords", "log_records")):
                if not isinstance(record, dict):
                    continue
                for key in _ID_KEYS:
                    value = record.get(key)
                    if not isinstance(value, str):
                        continue
                    try:
                        raw = bytes.fromhex(value)
                    except ValueError:
                        raise Undecodable(
                            f"resourceLogs[{ri}].scopeLogs[{si}].logRecords[{li}].{key}: not a hex string: {value[:40]!r}"
                        ) from None
                    record[key] = base64.b64encode(raw).decode()


def _items(node, camel: str, snake: str) -> list:
    if not isinstance(node, dict):
        return []
    items = node.get(camel, node.get(snake))
    return items if isinstance(items, list) else []


def success_body(encoding: str, rejected: int = 0, message: str = "") -> bytes:
    response = ExportLogsServiceResponse()
    if rejected or message:
        response.partial_success.rejected_log_records = rejected
        response.partial_success.error_message = message
    if encoding == PROTOBUF:
        return response.SerializeToString()
    return orjson.dumps(json_format.MessageToDict(response))


def status_body(encoding: str, status: int, message: str) -> bytes:
    """A failure's body: google.rpc.Status, in protobuf or JSON; the JSON one also carries the
    project's own error object ({"error": {"status", "message"}}, app/errors.py)."""
    code = GRPC_CODE.get(status, 2)
    if encoding == PROTOBUF:
        return status_pb2.Status(code=code, message=message).SerializeToString()
    return orjson.dumps({"code": code, "message": message, "error": {"status": status, "message": message}})
