"""OTLP/HTTP logs at /v1/logs (issue 15 item 1): the real OpenTelemetry SDK and its OTLP/HTTP
exporter against a real `platlogs serve`, and request bodies shaped exactly like the
OpenTelemetry Collector's otlphttp exporter sends them (encoding: json, gzip)."""
from __future__ import annotations

import gzip
import logging

import orjson
import pytest
import requests
from google.rpc import status_pb2
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest, ExportLogsServiceResponse)

from app.events.ids import new_id
from app.events.schema import load_schema
from test_server_cli import cli_env, run_cli, server  # noqa: F401 (fixtures)

SEVERITY_WORDS = {1: "trace", 5: "debug", 9: "info", 13: "warning", 17: "error", 21: "critical"}


def expected_level(number: int) -> str:
    return SEVERITY_WORDS[(number - 1) // 4 * 4 + 1]


def user_field() -> str:
    """Where the semantic convention's user.id lands: our user.id, or actor.id before it existed."""
    return "user.id" if "user.id" in load_schema().fields else "actor.id"


def get_path(event: dict, dotted: str):
    node = event
    for part in dotted.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    return node


def search_all(base: str, key: str, q: str) -> list[dict]:
    response = requests.get(base + "/api/v1/events", params={"q": q, "size": 1000},
                            headers={"Authorization": f"Bearer {key}"}, timeout=30)
    assert response.status_code == 200, response.text[:500]
    return response.json()["hits"]


# -- the real SDK through a real server ----------------------------------------------------

class RecordingExporter:
    """Wraps the SDK's OTLP/HTTP exporter, keeping what each export returned."""

    def __init__(self, exporter):
        self.exporter = exporter
        self.results = []

    def export(self, batch):
        result = self.exporter.export(batch)
        self.results.append((len(batch), result))
        return result

    def shutdown(self):
        self.exporter.shutdown()

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return True


def test_the_opentelemetry_sdk_exports_1000_records_found_by_search(server, cli_env):  # noqa: F811
    from opentelemetry._logs import SeverityNumber
    from opentelemetry.exporter.otlp.proto.http import Compression
    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
    from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
    from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider

    base, _ = server
    ingest_key = run_cli(cli_env, "keys", "create", "--scope", "ingest").stdout.strip()
    read_key = run_cli(cli_env, "keys", "create", "--scope", "read").stdout.strip()
    resource = Resource.create({"service.name": "otel-checkout", "service.version": "2.4.1",
                                "service.instance.id": "pod-7", "service.namespace": "shop",
                                "deployment.environment.name": "staging", "host.name": "web-3",
                                "host.id": "i-0abc"})
    exporter = RecordingExporter(OTLPLogExporter(endpoint=base + "/v1/logs", compression=Compression.Gzip,
                                                 headers={"Authorization": f"Bearer {ingest_key}"}))
    provider = LoggerProvider(resource=resource)
    provider.add_log_record_processor(BatchLogRecordProcessor(exporter, max_export_batch_size=512))
    tracer = TracerProvider(resource=resource).get_tracer("otel-test")
    logger = provider.get_logger("shop.checkout", "2.4.1")

    spans = {}
    with tracer.start_as_current_span("checkout") as span:
        context = span.get_span_context()
        spans["checkout"] = (format(context.trace_id, "032x"), format(context.span_id, "016x"))
        for i in range(990):
            number = i % 24 + 1
            logger.emit(severity_number=SeverityNumber(number), severity_text=f"S{number}",
                        body=f"otel record {i}",
                        attributes={"seq": i, "http.request.method": "post", "url.path": "/api/checkout",
                                    "http.response.status_code": 200 + i % 3, "user.id": f"p-{i % 50}",
                                    "cart.items": 3, "feature.flags": ["a", "b"]})
    with tracer.start_as_current_span("payment") as span:
        context = span.get_span_context()
        spans["payment"] = (format(context.trace_id, "032x"), format(context.span_id, "016x"))
        try:
            raise ValueError("card declined by issuer")
        except ValueError as exc:
            logger.emit(severity_number=SeverityNumber.ERROR, body="payment failed", exception=exc,
                        attributes={"seq": 990})
        handler = LoggingHandler(logger_provider=provider)
        std = logging.getLogger("shop.std")
        std.addHandler(handler)
        std.setLevel(logging.DEBUG)
        std.propagate = False
        try:
            for i in range(991, 1000):
                std.warning("stdlib record %d", i, extra={"seq": i})
        finally:
            std.removeHandler(handler)
    provider.force_flush()
    provider.shutdown()

    assert sum(n for n, _ in exporter.results) == 1000
    assert all(result.name == "SUCCESS" for _, result in exporter.results), exporter.results

    hits = search_all(base, read_key, "service.name:otel-checkout")
    assert len(hits) == 1000
    seqs = [int(get_path(h, "labels.seq")) for h in hits]
    assert sorted(seqs) == list(range(1000)), "every record once, none twice"
    by_seq = {int(get_path(h, "labels.seq")): h for h in hits}

    for seq, hit in by_seq.items():
        assert get_path(hit, "service.version") == "2.4.1"
        assert get_path(hit, "service.environment") == "staging"
        assert get_path(hit, "host.name") == "web-3"
        trace_id, span_id = spans["checkout" if seq < 990 else "payment"]
        assert get_path(hit, "trace.id") == trace_id and get_path(hit, "span.id") == span_id
    for seq in range(990):
        hit, number = by_seq[seq], seq % 24 + 1
        assert hit["message"] == f"otel record {seq}"
        assert get_path(hit, "log.level") == expected_level(number)
        assert get_path(hit, "labels.otel_severity_text") == f"S{number}"
        assert get_path(hit, "log.logger") == "shop.checkout"
        assert get_path(hit, "labels.otel_scope_version") == "2.4.1"
        assert get_path(hit, "http.request.method") == "POST"
        assert get_path(hit, "http.response.status_code") == 200 + seq % 3
        assert get_path(hit, "url.path") == "/api/checkout"
        assert get_path(hit, user_field()) == f"p-{seq % 50}"
        assert get_path(hit, "labels.cart_items") == "3"
        assert orjson.loads(get_path(hit, "labels.feature_flags")) == ["a", "b"]
        assert hit["event"]["component"] == "api"   # the classifier's http-fields rule
    error = by_seq[990]
    assert get_path(error, "log.level") == "error" and error["message"] == "payment failed"
    assert get_path(error, "error.type") == "ValueError"
    assert get_path(error, "error.message") == "card declined by issuer"
    assert "raise ValueError" in get_path(error, "error.stack_trace")
    assert error["event"]["component"] == "error" and get_path(error, "error.fingerprint")
    std_hit = by_seq[995]
    assert std_hit["message"] == "stdlib record 995" and get_path(std_hit, "log.level") == "warning"
    assert get_path(std_hit, "log.logger") == "shop.std"

    # the fields are searchable under our names
    trace_id, span_id = spans["payment"]
    assert len(search_all(base, read_key, f"span.id:{span_id}")) == 10
    assert len(search_all(base, read_key, f"trace.id:{spans['checkout'][0]}")) == 990
    assert len(search_all(base, read_key, "service.name:otel-checkout AND log.level:critical")) \
        == sum(1 for i in range(990) if i % 24 + 1 >= 21)


# -- request bodies as the Collector's otlphttp exporter sends them (encoding: json) ---------

TRACE = "5b8efff798038103d269b633813fc60c"
SPAN = "eee19b7ec3c1b174"


def collector_body(records: list[dict]) -> bytes:
    """An ExportLogsServiceRequest as the Collector's pdata JSON marshaler writes it: lowerCamelCase
    keys, 64-bit integers as strings, enums as numbers, hex ids."""
    return orjson.dumps({"resourceLogs": [{
        "resource": {"attributes": [
            {"key": "service.name", "value": {"stringValue": "collected"}},
            {"key": "deployment.environment", "value": {"stringValue": "production"}},
            {"key": "host.name", "value": {"stringValue": "node-1"}},
            {"key": "k8s.pod.name", "value": {"stringValue": "collected-7d9f"}}]},
        "scopeLogs": [{"scope": {"name": "otelcol/filelogreceiver", "version": "0.115.0"},
                       "logRecords": records}],
        "schemaUrl": "https://opentelemetry.io/schemas/1.6.1"}]})


def collector_record(i: int, **extra) -> dict:
    record = {"timeUnixNano": str(1_764_720_000_000_000_000 + i * 1_000_000),
              "observedTimeUnixNano": str(1_764_720_000_500_000_000 + i * 1_000_000),
              "severityNumber": 13, "severityText": "WARN",
              "body": {"stringValue": f"collected line {i}"},
              "attributes": [{"key": "log.file.name", "value": {"stringValue": "app.log"}},
                             {"key": "line", "value": {"intValue": str(i)}},
                             {"key": "ratio", "value": {"doubleValue": 0.5}},
                             {"key": "retry", "value": {"boolValue": True}}],
              "flags": 1, "traceId": TRACE.upper() if i % 2 else TRACE, "spanId": SPAN}
    record.update(extra)
    return record


def collector_headers(key: str) -> dict:
    return {"Authorization": f"Bearer {key}", "Content-Type": "application/json", "Content-Encoding": "gzip",
            "User-Agent": "OpenTelemetry Collector Contrib/0.115.0 (linux/amd64)"}


def test_collector_json_gzip(client, ingest_key, read_headers):
    body = gzip.compress(collector_body([collector_record(i) for i in range(3)]))
    response = client.post("/v1/logs", data=body, headers=collector_headers(ingest_key))
    assert response.status_code == 200 and response.content_type == "application/json"
    assert response.get_json() == {}   # full success: partial_success left unset
    hits = client.get("/api/v1/events", query_string={"q": "service.name:collected", "size": 10},
                      headers=read_headers).get_json()["hits"]
    assert sorted(h["message"] for h in hits) == [f"collected line {i}" for i in range(3)]
    hit = next(h for h in hits if h["message"] == "collected line 1")
    assert hit["@timestamp"] == "2025-12-03T00:00:00.001Z"
    assert hit["trace"]["id"] == TRACE and hit["span"]["id"] == SPAN   # hex in any case, stored lower
    assert hit["service"]["environment"] == "production" and hit["host"]["name"] == "node-1"
    assert hit["log"] == {"level": "warning", "logger": "otelcol/filelogreceiver"}
    assert hit["labels"]["line"] == "1" and hit["labels"]["ratio"] == "0.5" and hit["labels"]["retry"] == "true"
    assert hit["labels"]["otel_severity_text"] == "WARN"


def test_structured_bodies_and_observed_time(client, ingest_key, read_headers):
    records = [collector_record(0, timeUnixNano="0", body={"kvlistValue": {"values": [
                   {"key": "order", "value": {"stringValue": "o-1"}},
                   {"key": "items", "value": {"arrayValue": {"values": [{"intValue": "1"}, {"intValue": "2"}]}}}]}}),
               collector_record(1, body={"arrayValue": {"values": [{"stringValue": "x"}]}}),
               collector_record(2, severityNumber=0, severityText="Fatal", body={"intValue": "42"})]
    response = client.post("/v1/logs", data=collector_body(records),
                           headers={"Authorization": f"Bearer {ingest_key}", "Content-Type": "application/json"})
    assert response.status_code == 200 and response.get_json() == {}
    hits = client.get("/api/v1/events", query_string={"q": "service.name:collected", "size": 10},
                      headers=read_headers).get_json()["hits"]
    by_line = {h["labels"]["line"]: h for h in hits}
    kv = by_line["0"]
    assert orjson.loads(kv["message"]) == {"order": "o-1", "items": [1, 2]}
    assert kv["otel"]["body"] == {"order": "o-1", "items": [1, 2]}
    assert kv["@timestamp"] == "2025-12-03T00:00:00.500Z"   # observedTimeUnixNano when timeUnixNano is 0
    assert by_line["1"]["message"] == '["x"]'
    assert by_line["2"]["message"] == "42" and by_line["2"]["log"]["level"] == "critical"   # from the text


def test_partial_success_names_the_refused_records(client, ingest_key, read_headers):
    records = [collector_record(0), collector_record(1, timeUnixNano="9000000000000000000"), collector_record(2)]
    response = client.post("/v1/logs", data=gzip.compress(collector_body(records)),
                           headers=collector_headers(ingest_key))
    assert response.status_code == 200
    partial = response.get_json()["partialSuccess"]
    assert partial["rejectedLogRecords"] == "1"   # int64: a string in protobuf's JSON mapping
    assert "resourceLogs[0].scopeLogs[0].logRecords[1]" in partial["errorMessage"]
    assert "in the future" in partial["errorMessage"]
    hits = client.get("/api/v1/events", query_string={"q": "service.name:collected"},
                      headers=read_headers).get_json()["hits"]
    assert sorted(h["labels"]["line"] for h in hits) == ["0", "2"]


def test_partial_success_in_protobuf(client, ingest_key):
    export = ExportLogsServiceRequest()
    scope = export.resource_logs.add().scope_logs.add()
    scope.log_records.add().body.string_value = "fine"
    scope.log_records.add(time_unix_nano=2**64 - 1).body.string_value = "from the future"
    response = client.post("/v1/logs", data=export.SerializeToString(),
                           headers={"Authorization": f"Bearer {ingest_key}", "Content-Type": "application/x-protobuf"})
    assert response.status_code == 200 and response.content_type == "application/x-protobuf"
    answer = ExportLogsServiceResponse.FromString(response.data)
    assert answer.partial_success.rejected_log_records == 1
    assert "logRecords[1]" in answer.partial_success.error_message


def test_hostile_values_do_not_cost_the_record(client, ingest_key, read_headers):
    records = [collector_record(0, body={"stringValue": "\x1b[31mred\x1b[0m \x00"}, attributes=[
        {"key": "bad key!", "value": {"stringValue": "v"}},
        {"key": "client.address", "value": {"stringValue": "not-an-ip"}},
        {"key": "http.response.status_code", "value": {"stringValue": "teapot"}},
        {"key": "big", "value": {"stringValue": "x" * 5000}},
        *({"key": f"k{n}", "value": {"intValue": str(n)}} for n in range(100))])]
    response = client.post("/v1/logs", data=collector_body(records),
                           headers={"Authorization": f"Bearer {ingest_key}", "Content-Type": "application/json"})
    assert response.status_code == 200 and response.get_json() == {}, response.get_json()
    hit = client.get("/api/v1/events", query_string={"q": "service.name:collected"},
                     headers=read_headers).get_json()["hits"][0]
    assert hit["message"] == "#033[31mred#033[0m #000"
    labels = hit["labels"]
    assert labels["bad_key_"] == "v" and labels["http_response_status_code"] == "teapot"
    assert len(labels["big"]) == 1024 and len(labels) == 64 and "otel_labels_dropped" in labels


@pytest.mark.parametrize("body, content_type, status", [
    (b"\xff\xfe garbage", "application/x-protobuf", 400),
    (b"{not json", "application/json", 400),
    (b"[]", "application/json", 400),
    (b'{"resourceLogs": "nope"}', "application/json", 400),
    (b'{"resourceLogs": [{"scopeLogs": [{"logRecords": [{"traceId": "zz"}]}]}]}', "application/json", 400),
    (b"severity=info", "application/x-www-form-urlencoded", 415),
    (b"{}", "text/plain", 415),
])
def test_bad_bodies_are_4xx_in_the_requests_encoding(client, ingest_key, body, content_type, status):
    response = client.post("/v1/logs", data=body, headers={"Authorization": f"Bearer {ingest_key}",
                                                           "Content-Type": content_type})
    assert response.status_code == status
    if content_type == "application/x-protobuf":
        assert response.content_type == "application/x-protobuf"
        assert status_pb2.Status.FromString(response.data).message.startswith("body is not a protobuf")
    else:
        answer = response.get_json()
        assert answer["code"] == 3 and answer["error"]["status"] == status and answer["message"]


def test_empty_requests_succeed(client, ingest_key):
    for body, content_type in ((b"", "application/x-protobuf"), (b"{}", "application/json")):
        response = client.post("/v1/logs", data=body, headers={"Authorization": f"Bearer {ingest_key}",
                                                               "Content-Type": content_type})
        assert response.status_code == 200


def test_auth_answers_in_the_requests_encoding(client, read_key):
    response = client.post("/v1/logs", data=b"", headers={"Content-Type": "application/x-protobuf"})
    assert response.status_code == 401
    assert "authentication required" in status_pb2.Status.FromString(response.data).message
    response = client.post("/v1/logs", data=b"{}", headers={"Content-Type": "application/json",
                                                            "Authorization": f"Bearer {read_key}"})
    assert response.status_code == 403 and "ingest" in response.get_json()["message"]
    response = client.post("/v1/logs", data=b"{}", headers={"Content-Type": "application/json",
                                                            "Authorization": "Bearer plk_wrong"})
    assert response.status_code == 401


def test_bounded_bodies_are_413(tmp_path):
    from app import create_app
    app = create_app({"PLATLOGS_DATA_DIR": str(tmp_path / "data"), "PLATLOGS_MAX_REQUEST_BYTES": "65536"})
    try:
        key = app.extensions["platlogs"].meta.create_key("t", ["ingest"])[1]
        client = app.test_client()
        headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
        bomb = gzip.compress(b" " * 10_000_000)       # 10 MB of spaces, ~10 kB compressed
        response = client.post("/v1/logs", data=bomb, headers={**headers, "Content-Encoding": "gzip"})
        assert response.status_code == 413 and "PLATLOGS_MAX" in response.get_json()["message"]
        response = client.post("/v1/logs", data=b" " * 70_000, headers=headers)
        assert response.status_code == 413
        response = client.post("/v1/logs", data=b"\x1f\x8b garbage", headers={**headers, "Content-Encoding": "gzip"})
        assert response.status_code == 400 and "gzip" in response.get_json()["message"]
        response = client.post("/v1/logs", data=b"{}", headers={**headers, "Content-Encoding": "br"})
        assert response.status_code == 415
    finally:
        app.extensions["platlogs"].close()


def test_storage_unavailable_is_a_retryable_503(services, client, ingest_key):
    services.store.close()    # the real store, closed: every write fails as an outage would
    body = collector_body([collector_record(0)])
    response = client.post("/v1/logs", data=body, headers={"Authorization": f"Bearer {ingest_key}",
                                                           "Content-Type": "application/json"})
    assert response.status_code == 503 and response.headers["Retry-After"]   # the SDK retries 503
    assert "storage unavailable" in response.get_json()["message"]


def test_a_retried_export_stores_each_record_once(client, ingest_key, read_headers):
    """Exporters retry a request whose answer they did not get (a 503, a timeout, a reset). Each
    record's id comes from its content, its resource and scope and its rank among identical
    records of the request, so the retry finds them stored; identical records in one request
    are still two events, and a record's own `log.record.uid` is kept as its id."""
    twin = collector_record(7)
    records = [collector_record(0), twin, dict(twin), collector_record(
        1, attributes=[{"key": "log.record.uid", "value": {"stringValue": "01JDXQ6Z1N6T5B9Y3C2V4K8M0P"}}])]
    headers = {"Authorization": f"Bearer {ingest_key}", "Content-Type": "application/json"}
    for _ in range(2):
        response = client.post("/v1/logs", data=collector_body(records), headers=headers)
        assert response.status_code == 200 and response.get_json() == {}
    hits = client.get("/api/v1/events", query_string={"q": "service.name:collected", "size": 20},
                      headers=read_headers).get_json()["hits"]
    assert sorted(h["message"] for h in hits) == ["collected line 0", "collected line 1",
                                                   "collected line 7", "collected line 7"]
    ids = {h["message"]: h["event"]["id"] for h in hits}
    assert ids["collected line 1"] == "01JDXQ6Z1N6T5B9Y3C2V4K8M0P"
    twins = sorted(h["event"]["id"] for h in hits if h["message"] == "collected line 7")
    assert twins[0] != twins[1]
    # a ULID stamped with the record's own time: ids still sort by time
    assert all(i[:10] == new_id(1_764_720_000_007)[:10] for i in twins)
    # the same records from another resource (another pod) are other events, except the one
    # that names its own id
    other = collector_body(records).replace(b"collected-7d9f", b"collected-8e0a")
    assert client.post("/v1/logs", data=other, headers=headers).status_code == 200
    again = client.get("/api/v1/events", query_string={"q": "service.name:collected", "size": 20},
                       headers=read_headers).get_json()["hits"]
    assert len(again) == 7
