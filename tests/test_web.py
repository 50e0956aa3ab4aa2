"""Sign-in, the first page, schema and read API, page safety."""
from __future__ import annotations

import jsonschema
import pytest

from conftest import csrf_token

HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>'


def test_pages_need_sign_in(client):
    response = client.get("/")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_read_api_needs_a_user_or_read_key(client, ingest_headers, read_headers):
    assert client.get("/api/v1/events").status_code == 401
    assert client.get("/api/v1/events", headers=ingest_headers).status_code == 403
    assert client.get("/api/v1/events", headers=read_headers).status_code == 200


def test_first_admin_gets_a_one_time_password_and_must_change_it(client, services):
    password = services.meta.ensure_admin()
    assert password and services.meta.ensure_admin() is None  # only on the very first start
    page = client.get("/login").get_data(as_text=True)
    response = client.post("/login", data={"username": "admin", "password": password, "csrf_token": csrf_token(page)})
    assert response.status_code == 302 and "/account/password" in response.headers["Location"]
    assert "/account/password" in client.get("/").headers["Location"]  # no way around it
    assert client.get("/api/v1/events").status_code == 401
    form = client.get("/account/password").get_data(as_text=True)
    done = client.post("/account/password", data={
        "current_password": password, "new_password": "a-new-secret-9", "repeat_password": "a-new-secret-9",
        "csrf_token": csrf_token(form)})
    assert done.status_code == 302
    assert client.get("/").status_code == 200
    assert services.meta.user_by_name("admin").check_password("a-new-secret-9")


def test_wrong_password_is_refused(client, services):
    services.meta.create_user("sam", "support", "sam-password-1")
    page = client.get("/login").get_data(as_text=True)
    response = client.post("/login", data={"username": "sam", "password": "nope", "csrf_token": csrf_token(page)})
    assert response.status_code == 401 and "Wrong username or password" in response.get_data(as_text=True)


def test_login_form_without_csrf_token_is_refused(client, services):
    services.meta.create_user("sam", "support", "sam-password-1")
    assert client.post("/login", data={"username": "sam", "password": "sam-password-1"}).status_code == 400


def test_open_redirects_are_refused(client, services):
    services.meta.create_user("sam", "support", "sam-password-1")
    page = client.get("/login").get_data(as_text=True)
    response = client.post("/login?next=//evil.example/x", data={
        "username": "sam", "password": "sam-password-1", "csrf_token": csrf_token(page)})
    assert response.headers["Location"] == "/"


def test_latest_events_page_escapes_hostile_values(signed_in, client, ingest_headers):
    client.post("/api/v1/events", headers=ingest_headers, json={
        "message": HOSTILE, "actor": {"type": "player", "id": '"><script>x</script>'},
        "event": {"id": "hostile-1"}, "service": {"name": HOSTILE}})
    html = signed_in.get("/").get_data(as_text=True)
    assert "<script>" not in html and "onerror=alert(1)>" not in html
    assert "&lt;script&gt;alert(" in html
    detail = signed_in.get("/events/hostile-1")
    assert detail.status_code == 200 and "<script>" not in detail.get_data(as_text=True)


def test_latest_events_page_filters(signed_in, client, ingest_headers):
    client.post("/api/v1/events", headers=ingest_headers, json=[
        {"message": "deposit ok", "payment": {"amount": 10}, "actor": {"type": "player", "id": "p-9"}},
        {"message": "boom", "error": {"message": "db down"}},
    ])
    html = signed_in.get("/?q=event.component:error").get_data(as_text=True)
    assert "boom" in html and "deposit ok" not in html
    html = signed_in.get("/?q=deposit").get_data(as_text=True)
    assert "deposit ok" in html and "boom" not in html
    bad = signed_in.get("/?q=acter.id:p-9").get_data(as_text=True)
    assert "unknown field &#39;acter.id&#39;; did you mean &#39;actor.id&#39;?" in bad


def test_security_headers(client):
    response = client.get("/login")
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_session_cookie_is_httponly(signed_in, client):
    cookie = client.get_cookie("session")
    assert cookie is not None and cookie.http_only and cookie.same_site == "Lax"


def test_schema_is_valid_json_schema_and_accepts_stored_events(client, ingest_headers, read_headers):
    schema = client.get("/api/v1/schema").json
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["properties"]["event"]["properties"]["component"]["enum"] == [
        "system", "user_activity", "admin_action", "error", "api", "integration"]
    client.post("/api/v1/events", headers=ingest_headers, json={
        "message": "m", "http": {"response": {"status_code": 500}}, "event": {"id": "s-1"}})
    stored = client.get("/api/v1/events/s-1", headers=read_headers).json
    jsonschema.validate(stored, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"http": {"response": {"status_code": "x"}}}, schema)


def test_schema_docs_are_in_sync():
    from pathlib import Path
    from app.events.schema import markdown
    assert Path(__file__).parent.parent.joinpath("docs/schema.md").read_text() == markdown(), \
        "docs/schema.md is stale: run `platlogs schema --markdown > docs/schema.md`"


def test_read_api_lookup_and_errors(client, ingest_headers, read_headers):
    client.post("/api/v1/events", headers=ingest_headers, json={"message": "m", "actor": {"id": "p-1"}})
    assert client.get("/api/v1/events?q=actor.id:p-1", headers=read_headers).json["total"] == {"value": 1, "exact": True}
    assert client.get("/api/v1/events/none", headers=read_headers).status_code == 404
    bad = client.get("/api/v1/events?size=-1", headers=read_headers)
    assert bad.status_code == 400 and bad.json["error"]["message"].startswith("size")


def test_health(client):
    assert client.get("/api/v1/health").json["status"] == "ok"
