"""The meta database on SQLite and on a real PostgreSQL: users, API keys, saved searches.

The PostgreSQL runs need PLATLOGS_TEST_POSTGRES (scripts/test starts a server); each test gets a
schema of its own, dropped afterwards.
"""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from app import create_app
from app.meta import MetaDB
from app.meta.db import MAX_ID

from conftest import csrf_token


@pytest.fixture
def pg_schema_url(postgres_url):
    """The PostgreSQL URL with a fresh, empty schema first on the search path."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(postgres_url)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = make_url(postgres_url).update_query_dict({"options": f"-csearch_path={schema}"})
    yield url.render_as_string(hide_password=False)
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
def meta_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'meta.db'}"
    return request.getfixturevalue("pg_schema_url")


@pytest.fixture
def meta(meta_url):
    db = MetaDB(meta_url)
    db.create_all()
    yield db
    db.engine.dispose()


def test_backend_is_the_one_asked_for(meta, meta_url):
    assert meta.engine.dialect.name == make_url(meta_url).get_backend_name()
    if meta.engine.dialect.name == "postgresql":  # really in the test's own schema
        with meta.engine.connect() as conn:
            assert conn.scalar(text("SELECT current_schema()")).startswith("t_")


# -- users ------------------------------------------------------------------------------

def test_create_user_and_check_password(meta):
    user, password = meta.create_user("olga", "operations", "olga-password-1")
    assert password == "olga-password-1"
    stored = meta.user_by_name("olga")
    assert stored.id == user.id and stored.role == "operations" and stored.active
    assert stored.check_password("olga-password-1")
    assert not stored.check_password("olga-password-2")
    assert meta.user(user.id).username == "olga"
    assert [u.username for u in meta.users()] == ["olga"]


def test_generated_password_works(meta):
    user, password = meta.create_user("sam", "support")
    assert len(password) >= 8
    assert meta.user_by_name("sam").check_password(password)


def test_duplicate_username_is_refused_and_the_db_stays_usable(meta):
    meta.create_user("olga", "operations", "olga-password-1")
    with pytest.raises(ValueError, match="already exists"):
        meta.create_user("olga", "security", "another-password")
    meta.create_user("olga2", "security", "another-password")  # the failed transaction left nothing behind
    assert meta.user_by_name("olga").role == "operations"
    assert len(meta.users()) == 2


@pytest.mark.parametrize("username,role,password,message", [
    ("", "support", "password-1", "username"),
    ("a" * 65, "support", "password-1", "username"),
    ("bad name", "support", "password-1", "username"),
    ("x\x00y", "support", "password-1", "username"),
    ("olga", "king", "password-1", "unknown role"),
    ("olga", "support", "short", "at least 8"),
])
def test_bad_users_are_refused(meta, username, role, password, message):
    with pytest.raises(ValueError, match=message):
        meta.create_user(username, role, password)
    assert meta.users() == []


def test_longest_username_fits(meta):
    meta.create_user("a" * 64, "auditor", "password-1")
    assert meta.user_by_name("a" * 64) is not None


def test_lookups_that_cannot_match_answer_none(meta):
    """Values PostgreSQL would reject (NUL, ids past INTEGER) are answered without a query error."""
    meta.create_user("olga", "operations", "olga-password-1")
    assert meta.user_by_name("olga\x00") is None
    assert meta.user_by_name("x" * 500) is None
    assert meta.user_by_name("") is None
    assert meta.user(MAX_ID + 1) is None and meta.user(10**30) is None and meta.user(0) is None


def test_changes_to_a_user_that_does_not_exist_are_a_lookup_error(meta):
    for user_id in (12345, 0, MAX_ID + 1):
        with pytest.raises(LookupError, match="no such user"):
            meta.set_password(user_id, "chosen-password-1")
        with pytest.raises(LookupError, match="no such user"):
            meta.record_login(user_id)


def test_must_change_password_and_reset(meta):
    user, _ = meta.create_user("olga", "operations", "initial-pass", must_change_password=True)
    assert meta.user(user.id).must_change_password
    meta.set_password(user.id, "chosen-password-1")
    fresh = meta.user(user.id)
    assert not fresh.must_change_password
    assert fresh.check_password("chosen-password-1") and not fresh.check_password("initial-pass")
    # an administrator's reset: a new password the user must replace at the next sign-in
    meta.set_password(user.id, "reset-password-1", must_change=True)
    fresh = meta.user(user.id)
    assert fresh.must_change_password and fresh.check_password("reset-password-1")
    with pytest.raises(ValueError, match="at least 8"):
        meta.set_password(user.id, "short")


def test_times_are_aware_utc(meta):
    before = datetime.now(timezone.utc)
    user, _ = meta.create_user("olga", "operations", "olga-password-1")
    assert meta.user(user.id).last_login_at is None
    meta.record_login(user.id)
    stored = meta.user(user.id)
    for moment in (stored.created_at, stored.last_login_at):
        assert moment.tzinfo is not None and moment.utcoffset() == timedelta(0)
        assert before - timedelta(seconds=1) <= moment <= datetime.now(timezone.utc) + timedelta(seconds=1)


def test_ensure_admin_is_idempotent(meta):
    password = meta.ensure_admin()
    assert password
    admin = meta.user_by_name("admin")
    assert admin.role == "administrator" and admin.must_change_password and admin.check_password(password)
    assert meta.ensure_admin() is None
    assert [u.username for u in meta.users()] == ["admin"]


def test_ensure_admin_does_nothing_when_users_exist(meta):
    meta.create_user("olga", "administrator", "olga-password-1")
    assert meta.ensure_admin() is None
    assert meta.user_by_name("admin") is None


# -- API keys ---------------------------------------------------------------------------

def test_key_lookup_scopes_and_revocation(meta):
    row, key = meta.create_key("shipper", ["ingest"])
    assert key.startswith("plk_") and row.display == key[:10]
    assert row.key_hash != key  # stored hashed
    found = meta.key_for(key)
    assert found.id == row.id and found.scope_set == {"ingest"} and found.revoked_at is None
    assert meta.key_for(key + "x") is None
    assert meta.key_for("") is None

    assert meta.revoke_key(row.id) is True
    assert meta.key_for(key) is None
    assert meta.revoke_key(row.id) is False  # already revoked
    revoked = meta.keys()[0]
    assert revoked.revoked_at is not None and revoked.revoked_at.tzinfo is not None


def test_keys_with_several_scopes_and_a_creator(meta):
    user, _ = meta.create_user("olga", "administrator", "olga-password-1")
    row, key = meta.create_key("reader", ["read", "ingest", "read"], created_by=user.id)
    assert row.scopes == "ingest,read"
    assert meta.key_for(key).scope_set == {"ingest", "read"}
    assert meta.key_for(key).created_by == user.id
    other, _ = meta.create_key("second", ["read"])
    assert [k.id for k in meta.keys()] == [row.id, other.id]


@pytest.mark.parametrize("name,scopes,message", [
    ("k", [], "scope"),
    ("k", ["write"], "scope"),
    ("k" * 129, ["read"], "at most 128"),
    ("k\x00", ["read"], "NUL"),
])
def test_bad_keys_are_refused(meta, name, scopes, message):
    with pytest.raises(ValueError, match=message):
        meta.create_key(name, scopes)
    assert meta.keys() == []


def test_revoking_an_unknown_key(meta):
    assert meta.revoke_key(12345) is False
    assert meta.revoke_key(10**30) is False


# -- saved searches ---------------------------------------------------------------------

@pytest.fixture
def people(meta):
    olga = meta.create_user("olga", "operations", "olga-password-1")[0]
    otto = meta.create_user("otto", "operations", "otto-password-1")[0]
    sid = meta.create_user("sid", "security", "sid-password-1")[0]
    root = meta.create_user("root", "administrator", "root-password-1")[0]
    return olga, otto, sid, root


def test_saved_searches_private_and_shared(meta, people):
    olga, otto, sid, _ = people
    mine = meta.save_search(olga.id, "  my errors ", "log.level:error", "now-24h", None, None)
    shared = meta.save_search(olga.id, "ops payments", "event.category:payment", "now-7d", "now", "operations")
    meta.save_search(sid.id, "logins", "event.action:login", None, None, None)

    assert mine.name == "my errors"
    assert [s.name for s in meta.saved_searches(olga)] == ["my errors", "ops payments"]
    assert [s.name for s in meta.saved_searches(otto)] == ["ops payments"]  # shared with the role
    assert [s.name for s in meta.saved_searches(sid)] == ["logins"]
    d = shared.as_dict()
    assert d["q"] == "event.category:payment" and d["from"] == "now-7d" and d["to"] == "now"
    assert d["shared_role"] == "operations" and d["owner_id"] == olga.id
    assert datetime.fromisoformat(d["created_at"]).utcoffset() == timedelta(0)


def test_a_saved_search_is_deleted_as_its_owners_or_unconditionally(meta, people):
    """Storage only: who may delete whose is app/meta/accounts.py's (test_accounts_service.py)."""
    olga, otto, _, root = people
    a = meta.save_search(olga.id, "a", "x", None, None, "operations")
    b = meta.save_search(olga.id, "b", "y", None, None, None)
    assert meta.delete_saved_search(a.id, owner_id=otto.id) is False  # shared with otto, still not his
    assert meta.delete_saved_search(a.id, owner_id=olga.id) is True
    assert meta.delete_saved_search(a.id, owner_id=olga.id) is False  # gone
    assert meta.delete_saved_search(b.id) is True
    assert meta.saved_searches(olga) == []
    assert meta.delete_saved_search(10**30, owner_id=olga.id) is False


def test_longest_saved_search_fits(meta, people):
    olga = people[0]
    row = meta.save_search(olga.id, "n" * 128, "q" * 4096, "f" * 64, "t" * 64, None)
    assert meta.saved_searches(olga)[0].query == "q" * 4096 and row.id


@pytest.mark.parametrize("name,query,time_from,shared_role,message", [
    ("", "q", None, None, "name"),
    ("n" * 129, "q", None, None, "name"),
    ("n", "q" * 4097, None, None, "at most 4096"),
    ("n", "q\x00", None, None, "NUL"),
    ("n", "q", "f" * 65, None, "at most 64"),
    ("n", "q", None, "king", "shared_role"),
])
def test_bad_saved_searches_are_refused(meta, people, name, query, time_from, shared_role, message):
    olga = people[0]
    with pytest.raises(ValueError, match=message):
        meta.save_search(olga.id, name, query, time_from, None, shared_role)
    assert meta.saved_searches(olga) == []


# -- the whole application --------------------------------------------------------------

def test_the_app_signs_in_against_postgresql(tmp_path, pg_schema_url):
    app = create_app({"PLATLOGS_DATA_DIR": str(tmp_path / "data"), "PLATLOGS_META_DB": pg_schema_url})
    services = app.extensions["platlogs"]
    try:
        assert services.meta.engine.dialect.name == "postgresql"
        services.meta.create_user("olga", "operations", "olga-password-1")
        client = app.test_client()
        page = client.get("/login").get_data(as_text=True)
        wrong = client.post("/login", data={"username": "olga", "password": "nope-nope-nope",
                                            "csrf_token": csrf_token(page)})
        assert wrong.status_code == 401
        nul = client.post("/login", data={"username": "olga\x00", "password": "olga-password-1",
                                          "csrf_token": csrf_token(page)})
        assert nul.status_code == 401
        ok = client.post("/login", data={"username": "olga", "password": "olga-password-1",
                                         "csrf_token": csrf_token(page)})
        assert ok.status_code == 302
        home = client.get("/")
        assert home.status_code == 200
        assert services.meta.user_by_name("olga").last_login_at is not None
        headers = {"X-CSRFToken": csrf_token(home.get_data(as_text=True))}
        created = client.post("/api/v1/saved-searches", headers=headers,
                              json={"name": "errors", "q": "log.level:error", "from": "now-1h"})
        assert created.status_code == 201, created.get_data(as_text=True)
        listed = client.get("/api/v1/saved-searches").get_json()
        assert [s["name"] for s in listed] == ["errors"]
        assert client.delete(f"/api/v1/saved-searches/{listed[0]['id']}", headers=headers).status_code == 204
        assert client.delete("/api/v1/saved-searches/99999999999999999999", headers=headers).status_code == 404
    finally:
        services.close()
