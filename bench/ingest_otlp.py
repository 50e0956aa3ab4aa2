"""OTLP/HTTP logs (protobuf) against the native bulk endpoint, in the same run, on the embedded store.

    .venv/bin/python bench/ingest_otlp.py                  # 200,000 events each
    .venv/bin/python bench/ingest_otlp.py --events 400000 --batch 512

One `platlogs serve` (2 workers, bench/ingest.py's Server) in a fresh data directory; the same
log records both ways, each way run twice in the order native, otlp, otlp, native (the store
grows as it goes: each way gets an early and a late turn):
  native  the events OTLP's mapping makes of the records (app/ingest/otlp_map.py), the JSON lines
          the Ingestor gets from /v1/logs, as NDJSON batches to /api/v1/events/bulk;
  otlp    the records as ExportLogsServiceRequest protobuf bodies (one resource with its service,
          version, environment and host; a scope; severity, body, trace and span ids, HTTP and
          user attributes and two of the service's own) POSTed to /v1/logs, as the SDK's
          exporter sends them (its default batch is 512 records; --batch).
Both by 2 senders on keep-alive connections; done when every answer is in. Prints events/s for
each and the ratio otlp / native (the issue's target: at least 0.7).
"""
from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path


ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (  # noqa: E402
    ExportLogsServiceRequest, ExportLogsServiceResponse)

from app.events.schema import load_schema  # noqa: E402
from app.ingest.otlp_map import OtlpMapper  # noqa: E402
from ingest_protocols import check_native, run  # noqa: E402  (one sender loop for every protocol bench)

SERVICES = ["wallet", "games-api", "kyc", "bonus", "auth", "cashier", "lobby", "reports"]
PATHS = ["/api/v1/deposits", "/api/v1/games/launch", "/api/v1/session", "/api/v1/bonus/claim"]
TEXTS = ["deposit {n} approved for player p-{p:06d}", "game launched for player p-{p:06d} round r-{n}",
         "session refreshed in {n} ms", "bonus claim {n} rejected: wagering not met"]
SEVERITIES = (9, 9, 9, 9, 13, 17, 5)


def make_requests(count: int, batch: int, seed: int = 11) -> list[ExportLogsServiceRequest]:
    rng = random.Random(seed)
    start_ns = time.time_ns() - 3600 * 10**9
    requests = []
    for first in range(0, count, batch):
        export = ExportLogsServiceRequest()
        resource_logs = export.resource_logs.add()
        service = SERVICES[(first // batch) % len(SERVICES)]
        for key, value in (("service.name", service), ("service.version", "3.2.1"),
                           ("deployment.environment.name", "production"),
                           ("host.name", f"{service}-{first // batch % 3}")):
            attribute = resource_logs.resource.attributes.add()
            attribute.key, attribute.value.string_value = key, value
        scope = resource_logs.scope_logs.add()
        scope.scope.name = f"platform.{service}"
        for i in range(first, min(first + batch, count)):
            record = scope.log_records.add()
            record.time_unix_nano = start_ns + i * 3600 * 10**9 // count
            record.observed_time_unix_nano = record.time_unix_nano + 1000
            record.severity_number = SEVERITIES[i % len(SEVERITIES)]
            record.severity_text = "INFO"
            p, n = rng.randrange(1, 999_999), rng.randrange(1000, 99_999)
            record.body.string_value = TEXTS[i % len(TEXTS)].format(p=p, n=n)
            record.trace_id = rng.randbytes(16)
            record.span_id = rng.randbytes(8)
            for key, value in (("http.request.method", "POST"), ("url.path", PATHS[i % len(PATHS)]),
                               ("user.id", f"p-{p:06d}"), ("app.request_id", f"req-{i}"),
                               ("thread.name", f"worker-{i % 8}")):
                attribute = record.attributes.add()
                attribute.key, attribute.value.string_value = key, value
            attribute = record.attributes.add()
            attribute.key, attribute.value.int_value = "http.response.status_code", 200
        requests.append(export)
    return requests


def native_bodies(requests: list[ExportLogsServiceRequest]) -> list[bytes]:
    mapper = OtlpMapper(load_schema())
    return [b"".join(line + b"\n" for _, line in mapper.lines(export)) for export in requests]


def check_otlp(status: int, body: bytes):
    if status != 200:
        return status, body[:200]
    answer = ExportLogsServiceResponse.FromString(body)
    return (status, answer.partial_success.error_message[:200]) if answer.HasField("partial_success") else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=2000, help="records a request (the SDK's default: 512)")
    parser.add_argument("--port", type=int, default=18096)
    args = parser.parse_args()

    from ingest import Server   # bench/ingest.py

    requests = make_requests(args.events, args.batch)
    counts = [sum(len(s.log_records) for r in e.resource_logs for s in r.scope_logs) for e in requests]
    otlp_bodies = [export.SerializeToString() for export in requests]
    ndjson = native_bodies(requests)
    print(f"{args.events:,} records in requests of {args.batch}: {sum(map(len, otlp_bodies)) / args.events:.0f} bytes "
          f"a record as protobuf, {sum(map(len, ndjson)) / args.events:.0f} as NDJSON")
    split = len(requests) // 2
    parts = [(slice(0, split), "early"), (slice(split, None), "late")]

    with tempfile.TemporaryDirectory(prefix="bench-otlp-") as tmp:
        server = Server(Path(tmp), args.port)
        totals = {"native": [0, 0.0], "otlp": [0, 0.0]}
        try:
            for kind, (part, when) in (("native", parts[0]), ("otlp", parts[0]), ("otlp", parts[1]),
                                       ("native", parts[1])):
                n = sum(counts[part])
                if kind == "native":
                    rate = run(args.port, server.key, "/api/v1/events/bulk", ndjson[part], counts[part], 2,
                               check_native)
                else:
                    rate = run(args.port, server.key, "/v1/logs", otlp_bodies[part], counts[part], 2, check_otlp,
                               content_type="application/x-protobuf")
                print(f"  {kind:6} {when:5} {rate:10,.0f} events/s  ({n:,} events)")
                totals[kind][0] += n
                totals[kind][1] += n / rate
        finally:
            server.stop()
    native = totals["native"][0] / totals["native"][1]
    otlp = totals["otlp"][0] / totals["otlp"][1]
    print(f"native   {native:10,.0f} events/s  (POST /api/v1/events/bulk, NDJSON)")
    print(f"otlp     {otlp:10,.0f} events/s  (POST /v1/logs, protobuf)")
    print(f"ratio otlp / native: {otlp / native:.2f}  (target >= 0.7)")


if __name__ == "__main__":
    main()
