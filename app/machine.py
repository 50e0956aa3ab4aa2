"""Which requests are machine-facing: the one definition that sign-in (app/auth.py), the CSRF check
(app/__init__.py) and error rendering (app/errors.py) share.

A machine-facing request is answered in JSON only, never with a page, a redirect or a CSRF
refusal, and may authenticate with an API key in any of the forms auth.py reads (Bearer, ApiKey,
Basic with the key as the password). They are:
- every path under /api/ (the JSON API) and /v1/ (OTLP/HTTP);
- the Elasticsearch-compatible paths (app/ingest/es_views.py): a first segment that starts with
  `_` (/_bulk, /_cat/health, /_license, …) or a second one that does (/<index>/_bulk, …);
- `/`, and a one-segment path that no page has (`/<index>`), when the request comes from an API
  client rather than a browser (`api_client`): the back office keeps `/` and its pages for people.
  (An API client's look-up of an index is a JSON 404: no index is kept.)
"""

from __future__ import annotations

import re

from flask import request

ES_BLUEPRINT = "es_api"  # app/ingest/es_views.py
_PREFIXES = ("/api/", "/v1/")
_ES_PATH = re.compile(r"/_|/[^/]+/_")
# User-Agents of the clients and shippers that speak the Elasticsearch API (docs/shippers.md)
_CLIENT_AGENT = re.compile(
    r"elasticsearch|opensearch|elastic-|beat|logstash|manticore|vector/|fluent|rsyslog|"
    r"go-http-client|apache-httpclient|python-requests|python-urllib3|okhttp|curl/",
    re.IGNORECASE,
)
_JSON_TYPES = re.compile(r"application/(?:[\w.+-]*\+)?(?:json|x-ndjson)", re.IGNORECASE)


def machine_path(path: str) -> bool:
    """True for a path that only machines use (whoever asks)."""
    return path.startswith(_PREFIXES) or _ES_PATH.match(path) is not None


def api_client() -> bool:
    """True when this request comes from an API client rather than a browser: it does not ask
    for HTML, and it carries credentials, asks for or sends JSON, or names a known client."""
    accept = request.headers.get("Accept", "")
    if "text/html" in accept:
        return False  # a browser navigating (a proxy's Basic auth may ride along)
    if request.headers.get("Authorization"):
        return True
    if _JSON_TYPES.search(accept) or _JSON_TYPES.search(request.headers.get("Content-Type", "")):
        return True
    return _CLIENT_AGENT.search(request.headers.get("User-Agent", "")) is not None


def machine_request() -> bool:
    """True when this request is machine-facing (see the module's doc)."""
    path = request.path
    if machine_path(path):
        return True
    if path.count("/") != 1:
        return False
    # `/`, or `/<name>` that no page has (an Elasticsearch client's index look-up: a JSON 404)
    return (path == "/" or request.url_rule is None) and api_client()
