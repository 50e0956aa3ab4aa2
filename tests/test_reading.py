"""Masking by role, reveals with a reason, and the reading trail (reading the logs is logged)."""
from __future__ import annotations

import pytest

from app.query import parse
from app.storage import SearchRequest
from conftest import csrf_token

PLAYER = {"@timestamp": "2026-11-20T10:00:00.000Z", "message": "Player updated e-mail",
          "event": {"id": "pii-1", "component": "user_activity", "type": "profile_change"},
          "actor": {"type": "player", "id": "p-42", "name": "Jane Doe", "email": "jane.doe@example.com",
                    "ip": "192.0.2.44"}}
WINDOW = {"from": "2026-11-20T00:00:00Z", "to": "2026-11-21T00:00:00Z"}


@pytest.fixture
def stored(client, ingest_headers):
    assert client.post("/api/v1/events", json=[PLAYER], headers=ingest_headers).json["accepted"] == 1


def sign_in(app, services, username: str, role: str):
    services.meta.create_user(username, role, f"{username}-password-1")
    client = app.test_client()
    page = client.get("/login").get_data(as_text=True)
    response = client.post("/login", data={"username": username, "password": f"{username}-password-1",
                                           "csrf_token": csrf_token(page)})
    assert response.status_code == 302
    client.csrf = csrf_token(client.get("/").get_data(as_text=True))
    return client


def trail(services, action: str) -> list[dict]:
    return services.trail.search(SearchRequest(query=parse(f"event.type:access AND event.action:{action}"))).hits


def test_support_sees_personal_fields_masked_and_still_finds_by_exact_value(app, services, stored):
    support = sign_in(app, services, "sue", "support")
    body = support.get("/api/v1/search", query_string={"q": 'actor.email:"jane.doe@example.com"', **WINDOW}).json
    hit = body["hits"][0]
    assert hit["event"]["id"] == "pii-1"
    assert hit["actor"]["email"] == "j***@example.com" and hit["actor"]["name"] == "J***"
    assert hit["actor"]["ip"] == "192.0.*.*" and hit["actor"]["id"] == "p-42"   # ids are not personal
    assert set(hit["_masked"]) == {"actor.email", "actor.name", "actor.ip"}
    faceted = support.get("/api/v1/search", query_string={"q": "", "facets": "actor.email", **WINDOW}).json
    assert faceted["facets"]["actor.email"][0]["value"] == "j***@example.com"
    one = support.get("/api/v1/events/pii-1").json
    assert one["actor"]["email"] == "j***@example.com"
    page = support.get("/events/pii-1").get_data(as_text=True)
    assert "jane.doe@example.com" not in page and "Jane Doe" not in page


def test_security_sees_personal_fields(app, services, stored):
    security = sign_in(app, services, "sam", "security")
    hit = security.get("/api/v1/events/pii-1").json
    assert hit["actor"]["email"] == "jane.doe@example.com" and "_masked" not in hit


def test_reveal_needs_the_right_and_a_reason_and_is_recorded(app, services, stored):
    support = sign_in(app, services, "sue", "support")
    headers = {"X-CSRFToken": support.csrf}
    no_reason = support.post("/api/v1/events/pii-1/reveal", json={"field": "actor.email"}, headers=headers)
    assert no_reason.status_code == 400 and no_reason.json["error"]["field"] == "reason"
    not_personal = support.post("/api/v1/events/pii-1/reveal", json={"field": "actor.id", "reason": "call 1234"},
                                headers=headers)
    assert not_personal.status_code == 400
    revealed = support.post("/api/v1/events/pii-1/reveal", json={"field": "actor.email", "reason": "caller verified, ticket 881"},
                            headers=headers)
    assert revealed.status_code == 200 and revealed.json["value"] == "jane.doe@example.com"
    [record] = trail(services, "reveal")
    assert record["actor"]["id"] == "sue" and record["labels"] == {
        "event_id": "pii-1", "field": "actor.email", "reason": "caller verified, ticket 881"}
    operations = sign_in(app, services, "olga", "operations")
    refused = operations.post("/api/v1/events/pii-1/reveal", json={"field": "actor.email", "reason": "curious!"},
                              headers={"X-CSRFToken": operations.csrf})
    assert refused.status_code == 403 and len(trail(services, "reveal")) == 1


def test_every_search_view_and_export_is_recorded_with_who_query_and_rows(app, services, stored, read_headers):
    support = sign_in(app, services, "sue", "support")
    support.get("/api/v1/search", query_string={"q": "e-mail", **WINDOW})
    support.get("/api/v1/events/pii-1")
    support.get("/api/v1/timeline", query_string={"by": "actor.id", "value": "p-42", **WINDOW})
    auditor = sign_in(app, services, "ada", "auditor")
    auditor.get("/api/v1/export", query_string={"q": "actor.id:p-42", "format": "ndjson", **WINDOW}).get_data()
    [search] = [e for e in trail(services, "search") if e["actor"]["id"] == "sue" and e["labels"].get("q") == "e-mail"]
    assert search["labels"]["q"] == "e-mail" and search["labels"]["rows"] == "1"
    assert search["actor"]["roles"] == ["support"] and search["event"]["component"] == "admin_action"
    assert [e["labels"]["event_id"] for e in trail(services, "view")] == ["pii-1"]
    assert trail(services, "timeline")[0]["labels"]["q"] == 'actor.id:"p-42"'  # query text (app/query/quoting.py)
    [export] = trail(services, "export")   # recorded before the first byte (fail closed) ...
    assert export["actor"]["id"] == "ada" and export["labels"]["q"] == "actor.id:p-42"
    [finished] = trail(services, "export_finished")   # ... and how many rows were sent, at the end
    assert finished["actor"]["id"] == "ada" and finished["labels"]["rows"] == "1"


def test_the_reading_trail_is_its_own_stream_shown_only_to_security_auditors_and_administrators(
        app, services, stored, read_headers):
    support = sign_in(app, services, "sue", "support")
    support.get("/api/v1/events/pii-1")
    [view] = trail(services, "view")
    assert services.store.search(SearchRequest(query=parse("event.type:access"))).total == 0   # not among events
    for role, sees in [("support", False), ("operations", False), ("manager", False), ("auditor", True),
                       ("security", True), ("administrator", True)]:
        client = sign_in(app, services, f"u-{role}", role)
        api = client.get("/api/v1/search", query_string={"q": "event.action:view", "stream": "trail"})
        assert api.status_code == (200 if sees else 403), role
        if sees:
            assert api.json["total"]["value"] >= 1
        page = client.get("/", query_string={"stream": "trail", "q": "event.action:view"})
        assert page.status_code == (200 if sees else 403), role
        direct = client.get(f"/api/v1/events/{view['event']['id']}", query_string={"stream": "trail"})
        assert direct.status_code == (200 if sees else 403), role
        assert client.get("/trail").status_code == (302 if sees else 403), role
    machine = support.application.test_client().get("/api/v1/search", query_string={"stream": "trail"},
                                                    headers=read_headers)
    assert machine.status_code == 403   # machines (read keys) do not see it either
