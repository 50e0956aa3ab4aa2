"""Where an HTTP ingest request comes from, for the ingest counters (app/ingest/stats.py).

`install(app, stats)` runs first among the app's before-request hooks (ahead of the CSRF check,
which refuses a bad key on its own): for the ingest endpoints it sets the request's Origin —
protocol (from the endpoint), source (the API key's name; "(no key)" / "(bad key)"), shipper
(a known family read from the User-Agent, else "other": bounded) and the body's size. The
Ingestor counts the items; a request refused before any item was read (401/403, 413, 415, a bad
body) is counted here from its status, after the answer is made.
"""

from __future__ import annotations

import contextlib
import re

from flask import Flask, g, request

from ..machine import ES_BLUEPRINT
from .stats import IngestStats, Origin, reset_origin, set_origin

NATIVE = "native"  # POST /api/v1/events (JSON)
BULK = "native-bulk"  # POST /api/v1/events/bulk (NDJSON)
TEXT = "text"  # POST /api/v1/events/bulk with text/plain
OTLP = "otlp"  # POST /v1/logs
ES_BULK = "es-bulk"  # POST /_bulk, /<index>/_bulk
CLI = "cli"  # platlogs ingest
PROTOCOLS = (NATIVE, BULK, TEXT, OTLP, ES_BULK, CLI)

ENDPOINTS = {
    "ingest_api.post_events": NATIVE,
    "ingest_api.post_bulk": BULK,
    "otlp.post_logs": OTLP,
    f"{ES_BLUEPRINT}.bulk": ES_BULK,
}

# the shippers an operator recognises, by User-Agent (first match); anything else is "other"
SHIPPERS = [
    ("opentelemetry", re.compile(r"opentelemetry|otel", re.IGNORECASE)),
    ("elasticsearch-py", re.compile(r"elasticsearch-py|elastic-transport-python", re.IGNORECASE)),
    ("opensearch-py", re.compile(r"opensearch-py", re.IGNORECASE)),
    ("fluent-bit", re.compile(r"fluent", re.IGNORECASE)),
    ("vector", re.compile(r"\bvector/", re.IGNORECASE)),
    ("beats", re.compile(r"beat|elastic-\w+", re.IGNORECASE)),
    ("logstash", re.compile(r"logstash|manticore", re.IGNORECASE)),
    ("rsyslog", re.compile(r"rsyslog", re.IGNORECASE)),
    ("platlogs-client", re.compile(r"platlogs", re.IGNORECASE)),
    ("python", re.compile(r"python|urllib", re.IGNORECASE)),
    ("curl", re.compile(r"^curl/", re.IGNORECASE)),
    ("go", re.compile(r"go-http-client", re.IGNORECASE)),
    ("browser", re.compile(r"mozilla", re.IGNORECASE)),
]


def shipper_of(user_agent: str) -> str:
    if not user_agent:
        return "unknown"
    for name, pattern in SHIPPERS:
        if pattern.search(user_agent[:300]):
            return name
    return "other"


class _CountingInput:
    """wsgi.input for a body without Content-Length (chunked): counts what is read."""

    def __init__(self, stream, where: Origin):
        self._stream, self._where = stream, where

    def read(self, *args):
        data = self._stream.read(*args)
        self._where.bytes += len(data)
        return data

    def readline(self, *args):
        data = self._stream.readline(*args)
        self._where.bytes += len(data)
        return data

    def __iter__(self):
        for data in self._stream:
            self._where.bytes += len(data)
            yield data

    def __getattr__(self, name):
        return getattr(self._stream, name)


def install(app: Flask, stats: IngestStats) -> None:
    from ..auth import request_key, uses_key

    def _begin():
        protocol = ENDPOINTS.get(request.endpoint or "")
        if protocol is None:
            return
        if protocol == BULK and request.mimetype == "text/plain":
            protocol = TEXT
        if uses_key():
            key = request_key()  # looked up once per request (cached for api_access)
            source = "(bad key)" if key is None else (key.name or f"key {key.id}")
        else:
            source = "(no key)"
        where = Origin(protocol, source, shipper_of(request.headers.get("User-Agent", "")), request.content_length or 0)
        if request.content_length is None and "wsgi.input" in request.environ:
            request.environ["wsgi.input"] = _CountingInput(request.environ["wsgi.input"], where)
        g._ingest_origin = where
        g._ingest_origin_token = set_origin(where)
        stats.entered(1)

    def _end(response):
        where = g.pop("_ingest_origin", None)
        if where is None:
            return response
        stats.entered(-1)
        token = g.pop("_ingest_origin_token", None)
        if token is not None:
            # another context (a streamed answer): the request ends anyway
            with contextlib.suppress(ValueError):
                reset_origin(token)
        stats.end_request(where, response.status_code)
        return response

    app.before_request_funcs.setdefault(None, []).insert(0, _begin)
    app.after_request(_end)
