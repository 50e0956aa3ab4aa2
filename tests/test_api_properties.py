"""Property-based API test (schemathesis): every operation of /api/v1/openapi.json, called with
what the description allows and with what it does not, never answers 5xx, and its answers
conform to the description (status codes, content types, response schemas).

The application runs in-process (WSGI) on a real embedded store (tantivy, in a temporary data
directory), seeded with a few events so reads find something. Each operation is called as its
description says it is authenticated: an ingest key for the ingest scope (Basic with the key as
password on the Elasticsearch paths, as shippers send it; Bearer elsewhere), an `alerts:write` key
for the operations only that scope allows (acknowledge, mute…), a read key where the
`api_reader` role has the operation's x-permission, and a signed-in administrator otherwise (CSRF
checks off: they are not what is tested here). Bounded and reproducible: derandomized, a few
examples per operation and no deadline, so CI on a loaded machine is stable. One test per
operation, so pytest-xdist runs and reports each.
Any 5xx found is a bug: pin it with an example test of its own beside the fix.
"""
from __future__ import annotations

import base64
import json
import os
import time

import pytest
import schemathesis
from conftest import PERSONA_PASSWORD, sign_in
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from app import create_app
from app.access import API_READER, can
from app.apidoc import openapi_description

# a few examples per operation in the suite (derandomized: the same cases every run); by hand, a
# longer hunt with other cases: PLATLOGS_API_EXAMPLES=200 PLATLOGS_API_SEED=<any number>
MAX_EXAMPLES = int(os.environ.get("PLATLOGS_API_EXAMPLES", "10"))
SEED = int(os.environ["PLATLOGS_API_SEED"]) if os.environ.get("PLATLOGS_API_SEED") else None
AGENT = "platlogs-api-properties"
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@schemathesis.serializer("application/x-ndjson")
def ndjson_body(_context, value) -> bytes:
    """An array (the description's NDJSON body) as one JSON value a line; a string as it is."""
    return _ndjson(value)


@schemathesis.serializer("application/x-protobuf")
def raw_body(_context, value) -> bytes:
    return _bytes(value)


def _ndjson(value) -> bytes:
    if isinstance(value, list):
        return b"".join(json.dumps(item).encode() + b"\n" for item in value)   # json: integers of any size
    return _bytes(value)


def _bytes(value) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8", "surrogatepass")
    return json.dumps(value).encode()


def _seed(app, ingest_key: str) -> None:
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    # the description's examples point at these (event_id, provider, timeline value)
    events = [
        {"@timestamp": now, "message": "timeout after 5012 ms", "log": {"level": "error"},
         "error": {"type": "Timeout", "message": "timeout after 5012 ms"}, "service": {"name": "wallet"},
         "event": {"id": "01JD3Y8Q2W5N8D6K4M0R7T9B1C"}, "actor": {"id": "p-1", "email": "ana@example.com"},
         "payment": {"transaction_id": "tx-1001"}},
        {"@timestamp": now, "message": "deposit", "event": {"component": "integration", "type": "provider_request"},
         "integration": {"provider": "acme-pay", "kind": "payment"}, "http": {"response": {"status_code": 200}},
         "payment": {"transaction_id": "tx-1001"}},
    ]
    response = app.test_client().post("/api/v1/events", json=events, headers={"Authorization": f"Bearer {ingest_key}"})
    assert response.status_code == 200, response.get_data(as_text=True)


@pytest.fixture(scope="module")
def api_app(tmp_path_factory):
    app = create_app({"PLATLOGS_DATA_DIR": str(tmp_path_factory.mktemp("properties") / "data")})
    app.config["WTF_CSRF_ENABLED"] = False
    yield app
    app.extensions["platlogs"].close()


@pytest.fixture(scope="module")
def credentials(api_app) -> dict:
    meta = api_app.extensions["platlogs"].meta
    ingest_key = meta.create_key("properties ingest", ["ingest"])[1]
    read_key = meta.create_key("properties read", ["read"])[1]
    alerts_key = meta.create_key("properties alerts", ["alerts:write"])[1]
    meta.create_user("admin-p", "administrator", PERSONA_PASSWORD)
    browser = api_app.test_client()
    browser.environ_base["HTTP_USER_AGENT"] = AGENT
    assert sign_in(browser, "admin-p", PERSONA_PASSWORD).status_code == 302
    # a session is bound to its browser's address and agent (flask-login's "strong" protection)
    session = {"headers": {"User-Agent": AGENT}, "cookies": {"session": browser.get_cookie("session").value},
               "environ_base": {"REMOTE_ADDR": "127.0.0.1"}}
    check = api_app.test_client()
    check.set_cookie("session", session["cookies"]["session"])
    assert check.get("/api/v1/saved-searches", headers=session["headers"],
                     environ_base=session["environ_base"]).status_code == 200
    _seed(api_app, ingest_key)
    basic = base64.b64encode(f"shipper:{ingest_key}".encode()).decode()
    return {"ingest": {"headers": {"Authorization": f"Bearer {ingest_key}"}},
            "ingest_basic": {"headers": {"Authorization": f"Basic {basic}"}},
            "read": {"headers": {"Authorization": f"Bearer {read_key}"}},
            "alerts": {"headers": {"Authorization": f"Bearer {alerts_key}"}},
            "session": session,
            "public": {}}


# loaded from the description itself (tests/test_openapi.py checks that the app serves it as it is):
# the operations must be known when the tests are collected, the app only when they run
schema = schemathesis.openapi.from_dict(openapi_description())
OPERATIONS = {operation.label: operation for operation in (found.ok() for found in schema.get_all_operations())}


def credentials_for(operation, credentials) -> dict:
    """The credentials (headers, cookies) the description says the operation takes."""
    definition = operation.definition.raw
    security = definition.get("security")
    if security == []:
        return credentials["public"]
    scopes = {scope for requirement in security or [] for scopes in requirement.values() for scope in scopes}
    if "ingest" in scopes:
        return credentials["ingest"] if operation.path.startswith(("/api/", "/v1/")) else credentials["ingest_basic"]
    if "read" not in scopes and "alerts:write" in scopes:
        return credentials["alerts"]
    permission = definition.get("x-permission")
    if permission is None or can(API_READER, permission):
        return credentials["read"]
    return credentials["session"]


# -- 5xx found by this test (fixed; kept as cases) ------------------------------------------------

@pytest.mark.parametrize("url", ["/api/v1/search?to=2110-01-01", "/api/v1/events?to=9999-12-31T00:00:00Z",
                                 "/api/v1/export?to=2110-01-01"])
def test_an_end_past_the_stores_horizon_is_not_a_5xx(api_app, credentials, url):
    """Found by this test: the embedded store answered 500 to a search with no start and an end
    past 2109 (tantivy_query.time_range asked tantivy for a range with no bounds)."""
    client = api_app.test_client()
    response = client.get(url, **credentials["read"])
    assert response.status_code == 200, response.get_data(as_text=True)[:300]


def _run(strategy, examples: int, test) -> None:
    """`test` over `examples` cases of `strategy`: reproducible (derandomized, or PLATLOGS_API_SEED),
    no deadline (a loaded CI machine), no example database."""
    run = settings(max_examples=examples, deadline=None, derandomize=SEED is None, database=None,
                   suppress_health_check=list(HealthCheck))(given(case=strategy)(test))
    if SEED is not None:
        run = seed(SEED)(run)
    run()


# One test per operation (schemathesis's own pytest collection gives every operation the same
# node id, which pytest-xdist cannot tell apart: it reported one of them, passed). Each runs the
# description's examples, then valid and invalid cases the description's schemas generate.
@pytest.mark.parametrize("label", sorted(OPERATIONS))
def test_no_operation_answers_5xx_and_answers_conform(label, api_app, credentials):
    operation = OPERATIONS[label]

    def call(case):
        case.call_and_validate(app=api_app, checks=CHECKS, **credentials_for(operation, credentials))

    examples = operation.get_strategies_from_examples()
    if examples:
        _run(st.one_of(examples), min(len(examples), MAX_EXAMPLES), call)
    _run(st.one_of(operation.as_strategy(GenerationMode.POSITIVE), operation.as_strategy(GenerationMode.NEGATIVE)),
         MAX_EXAMPLES, call)
