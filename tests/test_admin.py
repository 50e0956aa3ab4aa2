"""Users and roles, API keys (administration pages), and sign-in hardening (throttling, login events).

Real SQLite store and meta DB (the conftest `app`); the meta DB methods added for these pages also
run on PostgreSQL (the `meta` fixture of test_meta_db, skipped without PLATLOGS_TEST_POSTGRES)."""
from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import create_engine, inspect, text

from app import create_app
from app.meta import MetaDB
from app.meta.db import LOGIN_WINDOW, LockoutError
from app.query import parse
from app.storage.base import SearchRequest

from conftest import csrf_token, sign_in
from test_meta_db import meta, meta_url, pg_schema_url  # noqa: F401  (fixtures: SQLite and PostgreSQL)


pytestmark = pytest.mark.usefixtures("cheap_hashes")   # see tests/conftest.py


def events(services, query: str) -> list[dict]:
    return services.store.search(SearchRequest(query=parse(query), size=200)).hits


def post(client, url: str, data: dict | None = None, page: str = "/admin/users"):
    """POST a form with the CSRF token of `page`."""
    token = csrf_token(client.get(page).get_data(as_text=True))
    return client.post(url, data={**(data or {}), "csrf_token": token})


def one_time_secret(html: str) -> str:
    match = re.search(r'<code class="secret">([^<]+)</code>', html)
    assert match, "no one-time secret on the page"
    return match.group(1)


def uid(services, username: str) -> int:
    return services.meta.user_by_name(username).id


@pytest.fixture
def admin(persona):
    return persona("administrator", "root")


# -- users and roles ----------------------------------------------------------------------

def test_users_page_lists_users_for_administrators_only(admin, persona, services):
    services.meta.create_user("olga", "operations", "olga-password-1")
    html = admin.get("/admin/users").get_data(as_text=True)
    assert "olga" in html and "root" in html and "operations" in html
    assert "chosen by the user" in html                     # must-change-password column
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC", html)  # root's last sign-in
    for role, description in (("auditor", "Read-only access"), ("support", "while a call is open")):
        assert f'value="{role}"' in html and description in html   # the create form offers every role
    assert 'href="/admin/keys"' in html
    assert "<script" not in html and "style=" not in html      # the CSP allows neither inline
    assert persona("security").get("/admin/users").status_code == 403


def test_create_user_shows_the_password_once_and_forces_a_change(admin, services, client):
    response = post(admin, "/admin/users", {"username": "sam", "role": "support"})
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    password = one_time_secret(response.get_data(as_text=True))
    user = services.meta.user_by_name("sam")
    assert user.role == "support" and user.active and user.must_change_password and user.check_password(password)
    assert password not in admin.get("/admin/users").get_data(as_text=True)   # once only
    assert admin.get("/admin/users").get_data(as_text=True).count("one-time: must change") == 1

    signed = sign_in(client, "sam", password)
    assert signed.status_code == 302 and "/account/password" in signed.headers["Location"]

    [event] = events(services, "event.type:permission_change AND event.action:user_created")
    assert event["target"] == {"type": "employee", "id": "sam", "name": "sam"}
    assert event["changes"] == [{"field": "role", "old": None, "new": "support"},
                                {"field": "active", "old": None, "new": True}]
    assert event["actor"]["id"] == "root" and event["event"]["component"] == "admin_action"
    assert password not in json.dumps(events(services, "*"))   # no event holds the password


@pytest.mark.parametrize("username,role,message", [
    ("root", "support", "already exists"),
    ("bad name", "support", "username"),
    ("", "support", "username"),
    ("sam", "king", "unknown role"),
    ("sam", "", "unknown role"),
])
def test_bad_new_users_are_refused(admin, services, username, role, message):
    response = post(admin, "/admin/users", {"username": username, "role": role})
    assert response.status_code == 400 and message in response.get_data(as_text=True)
    assert [u.username for u in services.meta.users()] == ["root"]
    assert events(services, "event.type:permission_change") == []


def test_role_change_takes_effect_at_once_and_is_recorded(admin, persona, services):
    sam = persona("support", "sam")
    assert sam.get("/admin/users").status_code == 403
    response = post(admin, f"/admin/users/{uid(services, 'sam')}/role", {"role": "administrator"})
    assert response.status_code == 302
    assert "sam: role support → administrator" in admin.get("/admin/users").get_data(as_text=True)
    assert sam.get("/admin/users").status_code == 200          # the next request already has the new role
    [event] = events(services, "event.action:role_changed")
    assert event["event"]["type"] == "permission_change"
    assert event["target"]["id"] == "sam"
    assert event["changes"] == [{"field": "role", "old": "support", "new": "administrator"}]
    # the same role again: nothing changes, nothing is recorded
    assert post(admin, f"/admin/users/{uid(services, 'sam')}/role", {"role": "administrator"}).status_code == 302
    assert len(events(services, "event.type:permission_change")) == 1


def test_bad_role_changes(admin, services):
    services.meta.create_user("sam", "support", "sam-password-1")
    assert post(admin, f"/admin/users/{uid(services, 'sam')}/role", {"role": "king"}).status_code == 400
    assert post(admin, "/admin/users/999999/role", {"role": "auditor"}).status_code == 404
    assert post(admin, "/admin/users/99999999999999999999/role", {"role": "auditor"}).status_code == 404
    assert services.meta.user_by_name("sam").role == "support"


def test_deactivation_signs_the_user_out_and_reactivation_lets_them_back(admin, persona, services, app):
    sam = persona("support", "sam")
    sam_id = uid(services, "sam")
    assert post(admin, f"/admin/users/{sam_id}/active", {"active": "0"}).status_code == 302
    assert not services.meta.user(sam_id).active
    refused = sam.get("/")                                          # the open session ends at once
    assert refused.status_code == 302 and "/login" in refused.headers["Location"]
    again = sign_in(app.test_client(), "sam", "persona-password-1")
    assert again.status_code == 401 and "Wrong username or password" in again.get_data(as_text=True)

    assert post(admin, f"/admin/users/{sam_id}/active", {"active": "1"}).status_code == 302
    assert sign_in(app.test_client(), "sam", "persona-password-1").status_code == 302
    off, on = sorted(events(services, "event.type:permission_change"), key=lambda e: e["@timestamp"])
    assert off["event"]["action"] == "user_deactivated" and off["changes"] == [{"field": "active", "old": True, "new": False}]
    assert on["event"]["action"] == "user_reactivated" and on["changes"] == [{"field": "active", "old": False, "new": True}]
    assert post(admin, f"/admin/users/{sam_id}/active", {"active": "maybe"}).status_code == 400


def test_an_administrator_cannot_lock_themselves_out(admin, services):
    root = uid(services, "root")
    for url, data in ((f"/admin/users/{root}/active", {"active": "0"}), (f"/admin/users/{root}/role", {"role": "auditor"})):
        response = post(admin, url, data)
        assert response.status_code == 409 and "yourself" in response.get_data(as_text=True)
    user = services.meta.user(root)
    assert user.active and user.role == "administrator"
    assert events(services, "event.type:permission_change") == []
    # another administrator may do it
    services.meta.create_user("boss", "administrator", "boss-password-1")
    assert post(admin, f"/admin/users/{uid(services, 'boss')}/role", {"role": "auditor"}).status_code == 302
    [own_row] = [row.split("</tr>")[0] for row in admin.get("/admin/users").get_data(as_text=True).split("<tr")
                 if "(you)" in row]
    assert "root" in own_row and "Reset password" in own_row and "Deactivate" not in own_row


def test_reset_password_shows_a_one_time_password(admin, persona, services, app):
    persona("support", "sam")
    response = post(admin, f"/admin/users/{uid(services, 'sam')}/password")
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    password = one_time_secret(response.get_data(as_text=True))
    user = services.meta.user_by_name("sam")
    assert user.must_change_password and user.check_password(password) and not user.check_password("persona-password-1")
    assert sign_in(app.test_client(), "sam", "persona-password-1").status_code == 401
    fresh = sign_in(app.test_client(), "sam", password)
    assert fresh.status_code == 302 and "/account/password" in fresh.headers["Location"]
    [event] = events(services, "event.action:password_reset")
    assert event["target"]["id"] == "sam" and event["event"]["type"] == "permission_change"
    assert event["changes"] == [{"field": "password"}, {"field": "must_change_password", "old": False, "new": True}]
    assert password not in json.dumps(events(services, "*"))
    assert post(admin, "/admin/users/999999/password").status_code == 404


def test_admin_forms_need_the_csrf_token(admin, services):
    services.meta.create_user("sam", "support", "sam-password-1")
    assert admin.post("/admin/users", data={"username": "x", "role": "support"}).status_code == 400
    assert admin.post(f"/admin/users/{uid(services, 'sam')}/active", data={"active": "0"}).status_code == 400
    assert admin.post("/admin/keys", data={"name": "k", "scope": "read"}).status_code == 400
    assert services.meta.user_by_name("x") is None and services.meta.user_by_name("sam").active


# -- API keys -----------------------------------------------------------------------------

def test_create_use_and_revoke_an_api_key(admin, services, client):
    response = post(admin, "/admin/keys", {"name": "shipper-1", "scope": ["ingest"]}, page="/admin/keys")
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    key = one_time_secret(response.get_data(as_text=True))
    assert key.startswith("plk_")
    listing = admin.get("/admin/keys").get_data(as_text=True)
    assert key not in listing and key[:10] in listing and "shipper-1" in listing and "by root" in listing
    assert "<script" not in listing and "style=" not in listing

    headers = {"Authorization": f"Bearer {key}"}
    assert client.post("/api/v1/events", headers=headers, json={"message": "hello"}).status_code == 200
    row = services.meta.keys()[0]
    assert row.last_used_at is not None
    assert re.search(r"<td>\d{4}-\d\d-\d\d \d\d:\d\d UTC</td>\s*<td>active</td>", admin.get("/admin/keys").get_data(as_text=True))

    revoked = post(admin, f"/admin/keys/{row.id}/revoke", page="/admin/keys")
    assert revoked.status_code == 302
    assert client.post("/api/v1/events", headers=headers, json={"message": "again"}).status_code == 401
    assert "revoked" in admin.get("/admin/keys").get_data(as_text=True)
    assert post(admin, f"/admin/keys/{row.id}/revoke", page="/admin/keys").status_code == 409
    assert post(admin, "/admin/keys/999999/revoke", page="/admin/keys").status_code == 404

    created, gone = sorted(events(services, "event.type:permission_change"), key=lambda e: e["@timestamp"])
    assert created["event"]["action"] == "api_key_created"
    assert created["target"] == {"type": "api_key", "id": str(row.id), "name": "shipper-1"}
    assert created["changes"] == [{"field": "scopes", "old": None, "new": ["ingest"]},
                                  {"field": "roles", "old": None, "new": []}]
    assert gone["event"]["action"] == "api_key_revoked" and gone["changes"] == [{"field": "revoked", "old": False, "new": True}]
    everything = json.dumps(events(services, "*"))
    assert key not in everything and key[4:] not in everything


def test_a_read_key_created_here_reads(admin, client):
    response = post(admin, "/admin/keys", {"name": "reporting", "scope": ["read", "ingest"]}, page="/admin/keys")
    key = one_time_secret(response.get_data(as_text=True))
    assert client.get("/api/v1/events", headers={"Authorization": f"Bearer {key}"}).status_code == 200


@pytest.mark.parametrize("data,message", [
    ({"name": "k"}, "scope"),
    ({"name": "k", "scope": ["write"]}, "scope"),
    ({"name": "  ", "scope": ["read"]}, "Name the key"),
    ({"name": "k" * 129, "scope": ["read"]}, "at most 128"),
])
def test_bad_keys_are_refused(admin, services, data, message):
    response = post(admin, "/admin/keys", data, page="/admin/keys")
    assert response.status_code == 400 and message in response.get_data(as_text=True)
    assert services.meta.keys() == []


def test_key_names_are_escaped(admin):
    post(admin, "/admin/keys", {"name": '<script>alert(1)</script>', "scope": ["read"]}, page="/admin/keys")
    html = admin.get("/admin/keys").get_data(as_text=True)
    assert "<script>alert" not in html and "&lt;script&gt;alert(1)" in html


# -- sign-in throttling -------------------------------------------------------------------

def attempt(app, username: str, password: str, address: str = "192.0.2.1"):
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return sign_in(client, username, password)


def test_five_failures_lock_the_username_without_checking_the_password(app, services, monkeypatch):
    services.meta.create_user("sam", "support", "sam-password-1")
    for _ in range(5):
        assert attempt(app, "sam", "wrong-password").status_code == 401
    checked = []
    monkeypatch.setattr("app.meta.db.User.check_password", lambda self, pw: checked.append(pw) or True)
    locked = attempt(app, "sam", "sam-password-1")
    assert locked.status_code == 429 and checked == []
    assert 14 * 60 <= int(locked.headers["Retry-After"]) <= 15 * 60
    assert "Too many failed attempts" in locked.get_data(as_text=True)
    assert "Try again in 15 minutes" in locked.get_data(as_text=True)
    assert attempt(app, "sam", "sam-password-1", address="198.51.100.7").status_code == 429   # any address
    monkeypatch.undo()
    services.meta.create_user("olga", "operations", "olga-password-1")
    assert attempt(app, "olga", "olga-password-1").status_code == 302   # other usernames are not locked


def test_twenty_failures_lock_the_address(app, services):
    services.meta.create_user("sam", "support", "sam-password-1")
    for n in range(20):
        assert attempt(app, f"guess{n}", "wrong-password", address="203.0.113.9").status_code == 401
    locked = attempt(app, "sam", "sam-password-1", address="203.0.113.9")
    assert locked.status_code == 429 and int(locked.headers["Retry-After"]) > 0
    assert attempt(app, "sam", "sam-password-1", address="203.0.113.10").status_code == 302


def test_a_success_clears_the_usernames_failures(app, services):
    services.meta.create_user("sam", "support", "sam-password-1")
    for _ in range(4):
        attempt(app, "sam", "wrong-password")
    assert attempt(app, "sam", "sam-password-1").status_code == 302
    for _ in range(4):
        assert attempt(app, "sam", "wrong-password").status_code == 401
    assert attempt(app, "sam", "sam-password-1").status_code == 302


def test_the_limit_holds_across_processes(tmp_path, env):
    """Two app instances (two gunicorn workers) on one meta database share the count."""
    first, second = create_app(env), create_app(env)
    try:
        first.extensions["platlogs"].meta.create_user("sam", "support", "sam-password-1")
        for n in range(5):
            assert attempt(first if n % 2 else second, "sam", "nope-nope").status_code == 401
        assert attempt(first, "sam", "sam-password-1").status_code == 429
        assert attempt(second, "sam", "sam-password-1").status_code == 429
    finally:
        first.extensions["platlogs"].close()
        second.extensions["platlogs"].close()


def test_a_wrong_current_password_counts_too(persona, services, app):
    sam = persona("support", "sam")
    token = csrf_token(sam.get("/account/password").get_data(as_text=True))
    form = {"current_password": "guess-guess", "new_password": "x" * 12, "repeat_password": "x" * 12, "csrf_token": token}
    for _ in range(5):
        assert "current password is wrong" in sam.post("/account/password", data=form).get_data(as_text=True)
    assert sam.post("/account/password", data={**form, "current_password": "persona-password-1"}).status_code == 429
    assert services.meta.user_by_name("sam").check_password("persona-password-1")


# -- sign-in events -----------------------------------------------------------------------

def test_every_sign_in_is_recorded(app, services, signed_in):
    attempt(app, "olga", "wrong-password")
    attempt(app, "nobody-" + "x" * 100, "whatever-1")
    deactivated = services.meta.create_user("gone", "support", "gone-password-1")[0]
    services.meta.update_user(deactivated.id, active=False)
    attempt(app, "gone", "gone-password-1")

    found = {(e["event"]["action"], e["actor"]["id"]): e for e in events(services, "event.type:login")}
    ok = found[("login", "olga")]
    assert ok["event"]["outcome"] == "success" and ok["actor"]["type"] == "employee" and ok["actor"]["name"] == "olga"
    assert ok["event"]["component"] == "admin_action" and ok["source"]["ip"] == "127.0.0.1"
    wrong = found[("login_failed", "olga")]
    assert wrong["event"]["outcome"] == "failure" and wrong["labels"]["reason"] == "wrong_password"
    # an unknown name is recorded as a keyed pseudonym, never as typed (it may be a password)
    from app.meta.throttle import unknown_login_name
    unknown = found[("login_failed", unknown_login_name("nobody-" + "x" * 100, app.secret_key))]
    assert unknown["labels"]["reason"] == "unknown_user" and unknown["actor"]["name"].startswith("unknown:")
    assert "nobody-" not in json.dumps(events(services, "*"))
    assert found[("login_failed", "gone")]["labels"]["reason"] == "deactivated"
    assert "wrong-password" not in json.dumps(events(services, "*"))   # a typed password is never stored

    for _ in range(4):   # the fifth failure within the window
        attempt(app, "olga", "wrong-password")
    assert attempt(app, "olga", "olga-password-1").status_code == 429
    limited = [e for e in events(services, "event.action:login_failed") if e["labels"]["reason"] == "rate_limited"]
    assert len(limited) == 1 and limited[0]["actor"]["id"] == "olga"


def test_sign_out_and_password_changes_are_recorded(persona, services):
    sam = persona("support", "sam")
    token = csrf_token(sam.get("/account/password").get_data(as_text=True))
    assert sam.post("/account/password", data={"current_password": "persona-password-1", "new_password": "a-new-secret-9",
                                               "repeat_password": "a-new-secret-9", "csrf_token": token}).status_code == 302
    sam.post("/logout", data={"csrf_token": token})
    [changed] = events(services, "event.action:password_changed")
    assert changed["target"]["id"] == "sam" and changed["changes"] == [{"field": "password"}]
    [out] = events(services, "event.action:logout")
    assert out["event"]["type"] == "login" and out["actor"]["id"] == "sam"
    assert "a-new-secret-9" not in json.dumps(events(services, "*"))


# -- the meta DB methods behind these pages (SQLite and PostgreSQL) -----------------------

def test_update_user_reports_changes(meta):
    sam, _ = meta.create_user("sam", "support", "sam-password-1")
    user, changes = meta.update_user(sam.id, role="security", active=False)
    assert changes == [{"field": "role", "old": "support", "new": "security"},
                       {"field": "active", "old": True, "new": False}]
    stored = meta.user(sam.id)
    assert stored.role == "security" and not stored.active and user.role == "security"
    assert meta.update_user(sam.id, role="security")[1] == []
    with pytest.raises(ValueError, match="unknown role"):
        meta.update_user(sam.id, role="king")
    for missing in (999_999, 10**30, 0):
        with pytest.raises(LookupError):
            meta.update_user(missing, role="auditor")


def test_the_last_active_administrator_stays(meta):
    root, _ = meta.create_user("root", "administrator", "root-password-1")
    boss, _ = meta.create_user("boss", "administrator", "boss-password-1")
    with pytest.raises(LockoutError, match="yourself"):
        meta.update_user(root.id, active=False, acting_id=root.id)
    with pytest.raises(LockoutError, match="yourself"):
        meta.update_user(root.id, role="auditor", acting_id=root.id)
    meta.update_user(boss.id, active=False, acting_id=root.id)
    with pytest.raises(LockoutError, match="last active administrator"):
        meta.update_user(root.id, role="security")           # e.g. from the command line
    with pytest.raises(LockoutError, match="last active administrator"):
        meta.update_user(root.id, active=False)
    assert meta.update_user(boss.id, role="auditor")[1]      # an inactive administrator is no safeguard
    meta.update_user(boss.id, role="administrator", active=True)
    assert meta.update_user(root.id, role="security")[1]     # now someone else administers


def test_reset_password(meta):
    sam, _ = meta.create_user("sam", "support", "sam-password-1")
    meta.record_login_failure("sam", "192.0.2.1")
    user, password = meta.reset_password(sam.id)
    assert len(password) >= 12 and user.username == "sam"
    stored = meta.user(sam.id)
    assert stored.must_change_password and stored.check_password(password)
    assert meta.login_failure_count() == 0        # the user may sign in with it at once
    with pytest.raises(LookupError):
        meta.reset_password(999_999)


def test_login_failures_in_a_sliding_window(meta):
    t0 = datetime(2026, 11, 26, 10, 0, tzinfo=timezone.utc)
    for n in range(4):
        meta.record_login_failure("sam", "192.0.2.1", now=t0 + timedelta(minutes=n))
    assert meta.login_retry_after("sam", "192.0.2.1", now=t0 + timedelta(minutes=4)) is None
    meta.record_login_failure("sam", "192.0.2.1", now=t0 + timedelta(minutes=4))
    # five failures: locked until the oldest leaves the window
    assert meta.login_retry_after("sam", "192.0.2.9", now=t0 + timedelta(minutes=5)) == 10 * 60
    assert meta.login_retry_after("sam", "192.0.2.9", now=t0 + timedelta(minutes=15)) is None
    assert meta.login_retry_after("olga", "192.0.2.9", now=t0 + timedelta(minutes=5)) is None
    # old rows are deleted when a failure is recorded
    meta.record_login_failure("olga", "192.0.2.1", now=t0 + LOGIN_WINDOW + timedelta(minutes=2, seconds=1))
    assert meta.login_failure_count() == 3
    meta.clear_login_failures("sam")
    assert meta.login_failure_count() == 1


def test_login_failures_per_address(meta):
    t0 = datetime(2026, 11, 26, 10, 0, tzinfo=timezone.utc)
    for n in range(20):
        meta.record_login_failure(f"user{n}", "2001:db8::1", now=t0 + timedelta(seconds=n))
    wait = meta.login_retry_after("anyone", "2001:db8::1", now=t0 + timedelta(seconds=30))
    assert wait == 15 * 60 - 30
    assert meta.login_retry_after("anyone", "2001:db8::2", now=t0 + timedelta(seconds=30)) is None


def test_typed_usernames_postgresql_would_refuse(meta):
    """Over-long names, NUL characters, a missing address: counted, not a database error."""
    typed = "\x00" + "x" * 500
    for _ in range(5):
        meta.record_login_failure(typed, None)
    assert meta.login_retry_after(typed, None) is not None
    assert meta.login_retry_after(typed[:64], "192.0.2.1") is not None   # counted under its first 64 characters
    assert meta.login_retry_after("x" * 64, "192.0.2.1") is None        # the NUL kept it apart from this name
    meta.clear_login_failures(typed)
    assert meta.login_failure_count() == 0


def test_key_last_use_is_noted_once_a_minute(meta):
    row, key = meta.create_key("shipper", ["ingest"])
    assert meta.keys()[0].last_used_at is None
    first = meta.key_for(key).last_used_at
    assert first is not None and first.utcoffset() == timedelta(0)
    assert meta.key_for(key).last_used_at == first == meta.keys()[0].last_used_at
    assert meta.key(row.id).name == "shipper" and meta.key(999_999) is None and meta.key(10**30) is None


def test_a_database_from_before_last_used_at_gets_the_column(meta_url):
    """create_all adds the columns added to the models since the tables were created."""
    engine = create_engine(meta_url)
    serial = "SERIAL" if engine.dialect.name == "postgresql" else "INTEGER"
    with engine.begin() as conn:
        conn.execute(text(f"CREATE TABLE api_keys (id {serial} PRIMARY KEY, name VARCHAR(128) NOT NULL, "
                          "key_hash VARCHAR(64) NOT NULL UNIQUE, display VARCHAR(16) NOT NULL, "
                          "scopes VARCHAR(64) NOT NULL, created_at TIMESTAMP NOT NULL, created_by INTEGER, "
                          "revoked_at TIMESTAMP)"))
    engine.dispose()
    db = MetaDB(meta_url)
    try:
        db.create_all()
        db.create_all()   # idempotent
        assert "last_used_at" in {c["name"] for c in inspect(db.engine).get_columns("api_keys")}
        _, key = db.create_key("old", ["read"])
        assert db.key_for(key).last_used_at is not None
    finally:
        db.engine.dispose()


def test_two_administrators_demoting_each_other_at_once_leave_one(meta):
    """The last-administrator rule holds under a race: at most one of the two changes lands."""
    import threading
    from sqlalchemy.exc import OperationalError
    for round_ in range(5):
        a = meta.create_user(f"a{round_}", "administrator", "admin-password-1")[0]
        b = meta.create_user(f"b{round_}", "administrator", "admin-password-1")[0]
        for other in meta.users():    # only these two administer in this round
            if other.id not in (a.id, b.id) and other.role == "administrator":
                meta.update_user(other.id, role="auditor")
        barrier, outcomes = threading.Barrier(2), []

        def demote(user_id):
            barrier.wait()
            try:
                meta.update_user(user_id, role="auditor")
                outcomes.append("done")
            except (LockoutError, OperationalError) as exc:   # SQLite may answer "locked" instead
                outcomes.append(type(exc).__name__)

        threads = [threading.Thread(target=demote, args=(uid_,)) for uid_ in (a.id, b.id)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert outcomes.count("done") <= 1, outcomes
        assert [u for u in meta.users() if u.role == "administrator" and u.active], outcomes


def test_a_new_password_ends_the_other_sessions_but_not_the_one_that_chose_it(app, services):
    from conftest import PERSONA_PASSWORD, csrf_token, make_persona
    laptop = make_persona(app, "support", "sue")
    phone = app.test_client()
    from conftest import sign_in
    assert sign_in(phone, "sue", PERSONA_PASSWORD).status_code == 302
    assert laptop.get("/").status_code == 200 and phone.get("/").status_code == 200
    page = laptop.get("/account/password").get_data(as_text=True)
    changed = laptop.post("/account/password", data={
        "csrf_token": csrf_token(page), "current_password": PERSONA_PASSWORD,
        "new_password": "a-brand-new-password", "repeat_password": "a-brand-new-password"})
    assert changed.status_code == 302
    assert laptop.get("/").status_code == 200                 # the session that changed it goes on
    ended = phone.get("/")
    assert ended.status_code == 302 and "/login" in ended.headers["Location"]   # the other one is over
    # an administrator's reset ends the user's sessions too
    user = services.meta.user_by_name("sue")
    services.meta.reset_password(user.id)
    gone = laptop.get("/")
    assert gone.status_code == 302 and "/login" in gone.headers["Location"]
