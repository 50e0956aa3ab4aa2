"""Accounts hardening (issue 11): server-side sessions, CSRF with bearer headers, and secrets typed
where they don't belong (sign-in names, free text in the meta database).

Real Flask test clients and real cookies: a session cookie captured from one client is copied into
another, which must be refused once the session ended. The sign-in flows also run with the meta
database on a real PostgreSQL (skipped without PLATLOGS_TEST_POSTGRES)."""
from __future__ import annotations

import json

import pytest
from sqlalchemy import text

from app import create_app
from app.alerts.evaluate import evaluate
from app.alerts.rules import default_rules_dir, load_rules
from app.query import parse
from app.storage.base import SearchRequest

from conftest import PERSONA_PASSWORD, csrf_token, make_persona, sign_in
from test_meta_db import meta, meta_url, pg_schema_url  # noqa: F401  (fixtures: SQLite and PostgreSQL)

CARD = "4111 1111 1111 1111"          # a test PAN (Luhn-valid)
MASKED = "411111******1111"


pytestmark = pytest.mark.usefixtures("cheap_hashes")   # see tests/conftest.py


@pytest.fixture(params=["sqlite", "postgres"])
def app(request, env):
    if request.param == "postgres":
        env = {**env, "PLATLOGS_META_DB": request.getfixturevalue("pg_schema_url")}
    app = create_app(env)
    yield app
    app.extensions["platlogs"].close()


@pytest.fixture
def services(app):
    return app.extensions["platlogs"]


def events(services, query: str) -> list[dict]:
    return services.store.search(SearchRequest(query=parse(query), size=200)).hits


def thief(app, victim):
    """A second client holding a copy of `victim`'s session cookie (a captured cookie)."""
    other = app.test_client()
    other.set_cookie("session", victim.get_cookie("session").value)
    return other


def signed_out(response) -> bool:
    return response.status_code == 302 and "/login" in response.headers["Location"]


def post(client, url: str, data: dict | None = None, page: str = "/", **kwargs):
    token = csrf_token(client.get(page).get_data(as_text=True))
    return client.post(url, data={**(data or {}), "csrf_token": token}, **kwargs)


# -- defect 8: sessions end on the server ------------------------------------------------------

def test_a_cookie_captured_before_logout_is_refused_after_it(app):
    sam = make_persona(app, "support", "sam")
    copy = thief(app, sam)
    assert copy.get("/").status_code == 200              # the captured cookie works while sam is in
    assert signed_out(post(sam, "/logout"))
    assert signed_out(copy.get("/"))                     # ...and not after sam signed out
    assert copy.get("/api/v1/search?q=*").status_code == 401
    assert signed_out(sam.get("/"))


def test_two_apps_in_one_process_each_keep_their_own_sessions(env, tmp_path):
    """Each app has its own login manager, bound to its own meta database: creating a second app
    in the process does not take over the first one's sessions."""
    first = create_app(env)
    second = create_app({**env, "PLATLOGS_DATA_DIR": str(tmp_path / "second")})
    try:
        amy = make_persona(first, "support", "amy")
        bob = make_persona(second, "support", "bob")
        assert amy.get("/").status_code == 200 and bob.get("/").status_code == 200
    finally:
        first.extensions["platlogs"].close()
        second.extensions["platlogs"].close()


def test_each_sign_in_is_a_new_session(app, services):
    """Session fixation: a cookie from before the sign-in never becomes a signed-in session, and
    two sign-ins are two sessions (ending one leaves the other)."""
    services.meta.create_user("sam", "support", PERSONA_PASSWORD)
    laptop = app.test_client()
    laptop.get("/login")
    planted = laptop.get_cookie("session").value          # what an attacker could have planted
    assert sign_in(laptop, "sam", PERSONA_PASSWORD).status_code == 302
    assert laptop.get_cookie("session").value != planted
    fixed = app.test_client()
    fixed.set_cookie("session", planted)
    assert signed_out(fixed.get("/"))
    phone = app.test_client()
    assert sign_in(phone, "sam", PERSONA_PASSWORD).status_code == 302
    user = services.meta.user_by_name("sam")
    assert len(services.meta.sessions_of(user.id)) == 2
    assert signed_out(post(phone, "/logout"))
    assert laptop.get("/").status_code == 200
    [left] = services.meta.sessions_of(user.id)
    assert left.user_agent and left.address == "127.0.0.1" and left.last_seen_at >= left.created_at


def test_the_cookie_holds_a_random_session_id_not_the_user(app, services):
    sam = make_persona(app, "support", "sam")
    token = _token(app, sam)
    assert len(token) >= 40 and str(services.meta.user_by_name("sam").id) not in token.split(":")
    with services.meta.Session() as db:   # stored hashed: the table alone opens no session
        assert db.scalar(text("SELECT count(*) FROM user_sessions WHERE id = :t"), {"t": token}) == 0
        assert db.scalar(text("SELECT count(*) FROM user_sessions")) == 1


def test_a_password_change_ends_the_other_sessions(app, services):
    laptop = make_persona(app, "support", "sue")
    phone, copy = app.test_client(), thief(app, laptop)
    assert sign_in(phone, "sue", PERSONA_PASSWORD).status_code == 302
    changed = post(laptop, "/account/password", {"current_password": PERSONA_PASSWORD,
                                                 "new_password": "a-brand-new-password",
                                                 "repeat_password": "a-brand-new-password"}, page="/account/password")
    assert changed.status_code == 302
    assert laptop.get("/").status_code == 200 and copy.get("/").status_code == 200   # the same session
    assert signed_out(phone.get("/"))
    services.meta.reset_password(services.meta.user_by_name("sue").id)     # the CLI and the admin page
    assert signed_out(laptop.get("/")) and signed_out(copy.get("/"))


def test_deactivation_ends_sessions_and_reactivation_does_not_revive_them(app, services):
    admin = make_persona(app, "administrator", "root")
    sam = make_persona(app, "support", "sam")
    sam_id = services.meta.user_by_name("sam").id
    assert post(admin, f"/admin/users/{sam_id}/active", {"active": "0"}, page="/admin/users").status_code == 302
    assert services.meta.sessions_of(sam_id) == []
    assert post(admin, f"/admin/users/{sam_id}/active", {"active": "1"}, page="/admin/users").status_code == 302
    assert signed_out(sam.get("/"))


def test_an_administrator_signs_a_user_out_everywhere(app, services):
    admin = make_persona(app, "administrator", "root")
    sam, sam_phone = make_persona(app, "support", "sam"), app.test_client()
    assert sign_in(sam_phone, "sam", PERSONA_PASSWORD).status_code == 302
    sam_id = services.meta.user_by_name("sam").id
    page = admin.get("/admin/users").get_data(as_text=True)
    assert "2 sessions" in page
    response = post(admin, f"/admin/users/{sam_id}/sessions/revoke", page="/admin/users")
    assert response.status_code == 302
    assert signed_out(sam.get("/")) and signed_out(sam_phone.get("/"))
    assert admin.get("/admin/users").status_code == 200          # the administrator's own session goes on
    [event] = events(services, "event.action:sessions_revoked")
    assert event["event"]["component"] == "admin_action" and event["event"]["type"] == "permission_change"
    assert event["target"]["id"] == "sam" and event["actor"]["id"] == "root"
    assert event["changes"] == [{"field": "sessions", "old": 2, "new": 0}]
    # a role without manage_users may not
    other = make_persona(app, "security", "sec")
    assert post(other, f"/admin/users/{sam_id}/sessions/revoke").status_code == 403
    assert post(admin, "/admin/users/999999/sessions/revoke", page="/admin/users").status_code == 404


def test_a_user_sees_and_ends_their_other_sessions(app, services):
    laptop = make_persona(app, "support", "sue")
    phone = app.test_client()
    assert sign_in(phone, "sue", PERSONA_PASSWORD).status_code == 302
    page = laptop.get("/account/sessions")
    assert page.status_code == 200 and "this session" in page.get_data(as_text=True)
    sue = services.meta.user_by_name("sue")
    mine = {s.id for s in services.meta.sessions_of(sue.id)}
    assert len(mine) == 2
    # another user's session cannot be ended through this page
    olga = make_persona(app, "operations", "olga")
    [olgas] = services.meta.sessions_of(services.meta.user_by_name("olga").id)
    post(laptop, f"/account/sessions/{olgas.id}/revoke", page="/account/sessions")
    assert olga.get("/").status_code == 200
    assert signed_out(post(laptop, "/account/sessions/revoke-others", page="/account/sessions")) is False
    assert laptop.get("/").status_code == 200 and signed_out(phone.get("/"))
    [ended] = events(services, "event.action:sessions_revoked")
    assert ended["actor"]["id"] == "sue" and ended["changes"] == [{"field": "sessions", "old": 2, "new": 1}]


def _token(app, client) -> str:
    """The session token inside a client's (signed) session cookie."""
    import hashlib
    from flask.sessions import TaggedJSONSerializer
    from itsdangerous import URLSafeTimedSerializer
    s = URLSafeTimedSerializer(app.secret_key, salt="cookie-session", serializer=TaggedJSONSerializer(),
                               signer_kwargs={"key_derivation": "hmac", "digest_method": hashlib.sha1})
    return s.loads(client.get_cookie("session").value)["_user_id"]


def test_a_remember_cookie_dies_with_its_session(app):
    """flask-login's remember-me cookie holds the same token, so it resolves through the same
    revocable session: a signed remember cookie for an ended session opens nothing."""
    from flask_login.utils import encode_cookie
    sam = make_persona(app, "support", "sam")
    with app.test_request_context():
        remember = encode_cookie(_token(app, sam))
    live = app.test_client()
    live.set_cookie("remember_token", remember)
    assert live.get("/").status_code == 200            # the mechanism is real...
    post(sam, "/logout")
    stale = app.test_client()
    stale.set_cookie("remember_token", remember)
    assert signed_out(stale.get("/"))                   # ...and ends with the session


# -- defect 9: CSRF and bearer headers ------------------------------------------------------------

def test_an_invalid_bearer_header_does_not_skip_csrf_on_a_cookie_form(app, services):
    admin = make_persona(app, "administrator", "root")
    for headers in ({"Authorization": "Bearer junk"}, {"Authorization": "bearer x"}):
        response = admin.post("/admin/users", data={"username": "mallory", "role": "administrator"}, headers=headers)
        assert response.status_code in (400, 401), response.status_code
    assert services.meta.user_by_name("mallory") is None


def test_a_valid_key_does_not_lend_its_request_the_cookie(app, services):
    admin = make_persona(app, "administrator", "root")
    _, key = services.meta.create_key("reader", ["read"])
    headers = {"Authorization": f"Bearer {key}"}
    response = admin.post("/admin/users", data={"username": "mallory", "role": "administrator"}, headers=headers)
    assert response.status_code == 400 and services.meta.user_by_name("mallory") is None   # pages: CSRF always
    token = csrf_token(admin.get("/admin/users").get_data(as_text=True))
    response = admin.post("/admin/users", data={"username": "mallory", "role": "administrator", "csrf_token": token},
                          headers=headers)
    assert signed_out(response) and services.meta.user_by_name("mallory") is None        # and no cookie
    # the key's own rights, not the administrator's: saved searches are for people
    assert admin.get("/api/v1/saved-searches", headers=headers).status_code == 403
    assert admin.get("/api/v1/search?q=*", headers=headers).status_code == 200


def test_an_invalid_key_with_a_cookie_is_refused_on_the_api(app, services):
    admin = make_persona(app, "administrator", "root")
    assert admin.get("/api/v1/search?q=*").status_code == 200            # the cookie alone reads
    assert admin.get("/api/v1/search?q=*", headers={"Authorization": "Bearer junk"}).status_code == 401
    response = admin.post("/api/v1/saved-searches", json={"name": "x", "q": "*"},
                          headers={"Authorization": "Bearer junk"})
    assert response.status_code == 401
    assert services.meta.saved_searches(services.meta.user_by_name("root")) == []
    ingest = admin.post("/api/v1/events", json={"message": "hi"})   # ingest takes keys only
    assert ingest.status_code in (400, 401)


# -- defect 2 (part): secrets typed where they don't belong --------------------------------------

def test_a_password_typed_as_username_is_never_stored(app, services):
    secret = "Hunter2-my-real-password"
    for _ in range(2):
        assert sign_in(app.test_client(), secret, "whatever").status_code == 401
    dump = json.dumps(events(services, "*"))
    assert secret not in dump and secret[:20] not in dump
    with services.meta.Session() as db:
        names = db.scalars(text("SELECT username FROM login_failures")).all()
    assert len(names) == 2 and secret not in " ".join(names)
    failed = events(services, "event.action:login_failed")
    assert len({e["actor"]["id"] for e in failed}) == 1          # one pseudonym: still grouped
    assert failed[0]["labels"]["reason"] == "unknown_user"
    # the same typed text is still throttled
    for _ in range(3):
        sign_in(app.test_client(), secret, "whatever")
    assert sign_in(app.test_client(), secret, "whatever").status_code == 429
    # a known username is recorded as itself
    services.meta.create_user("olga", "operations", "olga-password-1")
    sign_in(app.test_client(), "olga", "wrong-password")
    assert any(e["actor"]["id"] == "olga" for e in events(services, "event.action:login_failed"))


def test_the_brute_force_rule_still_groups_unknown_names(app, services):
    """alerts/brute-force-login-per-account.yaml groups login_failed by actor.id: attempts on one
    unknown name (from many addresses) share one pseudonym, so the shipped rule still fires."""
    import time
    [rule] = [r for r in load_rules(default_rules_dir()) if r.id == "brute-force-login-per-account"]
    for n in range(11):
        client = app.test_client()
        token = csrf_token(client.get("/login").get_data(as_text=True))
        client.post("/login", data={"username": "no-such-employee", "password": f"guess-{n}", "csrf_token": token},
                    environ_base={"REMOTE_ADDR": f"198.51.100.{n}"})
    services.store.refresh() if hasattr(services.store, "refresh") else None
    failed = events(services, "event.action:login_failed")
    assert len(failed) == 11 and "no-such-employee" not in json.dumps(failed)
    [finding] = [f for f in evaluate(rule, services.store, time.time_ns() // 1_000_000).findings if f.state == "alert"]
    assert finding.group == failed[0]["actor"]["id"] and finding.value == 11


def test_free_text_in_the_meta_database_is_masked(app, services):
    meta = services.meta
    user, _ = meta.create_user("olga", "operations", "olga-password-1")
    row = meta.save_search(user.id, f"card {CARD}", f'"{CARD}" OR password=hunter2xyz', None, None, None)
    with meta.Session() as db:
        name, query = db.execute(text("SELECT name, query FROM saved_searches WHERE id = :i"), {"i": row.id}).one()
    assert CARD not in name and MASKED in name
    assert CARD not in query and "hunter2xyz" not in query
    key, _ = meta.create_key(f"shipper {CARD}", ["ingest"])
    assert meta.key(key.id).name == f"shipper {MASKED}"
    assert services.redactor.scrub(CARD)[0] == MASKED


def test_every_text_column_of_the_meta_database_is_classified():
    """A new text column is either free text (scrubbed) or kept as given, on purpose (scrub.py)."""
    from sqlalchemy import String
    from app.alerts import lifecycle  # noqa: F401  (its tables are on the same Base)
    from app.meta.base import Base
    from app.meta.scrub import FREE_TEXT, KEPT
    text_columns = {(t.name, c.name) for t in Base.metadata.sorted_tables for c in t.columns
                    if isinstance(c.type, String)}
    classified = {(t, c) for spec in (FREE_TEXT, KEPT) for t, cols in spec.items() for c in cols}
    assert text_columns - classified == set(), "classify these in app/meta/scrub.py"
    assert classified - text_columns == set(), "scrub.py names columns that are gone"
    assert not {(t, c) for t, cols in FREE_TEXT.items() for c in cols} & {(t, c) for t, cols in KEPT.items() for c in cols}




def _column(meta, table: str, column: str) -> list[str]:
    with meta.engine.connect() as conn:
        return [r[0] for r in conn.execute(text(f"SELECT {column} FROM {table}"))]


def test_alert_free_text_is_masked_on_every_write(meta):
    """Acknowledgement comments, mutes, maintenance reasons, rules made on the pages (name, query,
    description) and their history: one choke point, whichever service writes them."""
    from app.alerts.lifecycle import Alerts
    from app.alerts.model import Evaluation, Finding, Rule
    alerts = Alerts(meta)
    t0 = 29_833_333 * 60_000
    rule = Rule(id="r1", name="r1", kind="threshold", query="*", window_s=300, threshold=1, group_by="actor.id")
    finding = Finding(rule_id="r1", group="p-1", state="alert", value=2.0, threshold=1.0)
    alerts.apply(rule, Evaluation(rule=rule, now_ms=t0, findings=[finding]), t0)
    inst = alerts.open_instance("r1", "p-1")
    alerts.acknowledge(inst.id, "sam", f"customer read out {CARD}", at_ms=t0)
    alerts.mute("r1", "p-1", t0 + 3_600_000, by="sam", comment=f"card {CARD} again", at_ms=t0)
    alerts.add_maintenance(rule_id="r1", group_pattern=None, start=t0, end=t0 + 60_000,
                           reason=f"provider said token=abcdef123456 and {CARD}", by="sam", at_ms=t0)
    definition = {"id": "ui-1", "name": f"card {CARD}", "description": f"see {CARD}", "query": f'"{CARD}"'}
    fake = lambda d: Rule(id=d["id"], name=d["name"], kind="threshold", query=d["query"], window_s=60,  # noqa: E731
                          threshold=1)
    alerts.save_ui_rule(definition, by="sam", validate=fake, at_ms=t0)
    written = (_column(meta, "alert_instances", "ack_comment") + _column(meta, "alert_mutes", "comment")
               + _column(meta, "alert_maintenance", "reason") + _column(meta, "alert_history", "comment")
               + _column(meta, "alert_ui_rules", "definition"))
    dump = json.dumps(written)
    assert CARD not in dump and "abcdef123456" not in dump and MASKED in dump
    [stored] = _column(meta, "alert_ui_rules", "definition")
    assert json.loads(stored) == {"id": "ui-1", "name": f"card {MASKED}", "description": f"see {MASKED}",
                                  "query": f'"{MASKED}"'}


def test_scrubbed_text_still_fits_its_column(meta):
    user, _ = meta.create_user("olga", "operations", "olga-password-1")
    name = ("pwd=x " * 21)[:128]       # each becomes pwd=[REDACTED]: longer than the column
    row = meta.save_search(user.id, name, "*", None, None, None)
    [stored] = _column(meta, "saved_searches", "name")
    assert len(stored) <= 128 and "pwd=x" not in stored and row.id


def test_sessions_table_on_both_databases(meta):
    sam, _ = meta.create_user("sam", "support", "sam-password-1")
    a = meta.start_session(sam.id, "Mozilla " + CARD, "192.0.2.1")
    b = meta.start_session(sam.id, None, None)
    assert meta.session_user(a).username == "sam" and meta.session_user("nope") is None
    assert meta.session_user("\x00" * 300) is None
    [ua] = [s.user_agent for s in meta.sessions_of(sam.id) if s.user_agent]
    assert CARD not in ua
    assert meta.live_session_counts() == {sam.id: 2}
    assert meta.set_password(sam.id, "another-password-1", keep_session=meta.session_user(b).session_id) == 1
    assert meta.session_user(a) is None and meta.session_user(b) is not None
    meta.update_user(sam.id, active=False)
    assert meta.session_user(b) is None and meta.sessions_of(sam.id) == []
    # idle and over-age sessions are over
    from datetime import timedelta
    from app.meta.sessions import SESSION_IDLE, SESSION_LIFETIME
    from app.meta.base import _now
    meta.update_user(sam.id, active=True)
    c = meta.start_session(sam.id)
    assert meta.session_user(c, now=_now() + SESSION_IDLE + timedelta(seconds=1)) is None
    d = meta.start_session(sam.id, now=_now() - SESSION_LIFETIME)
    assert meta.session_user(d) is None


def test_a_busy_database_does_not_fail_a_signed_in_request(tmp_path):
    """The last-seen time is written at most once a minute; when the database is locked at that
    moment (SQLite's busy timeout, 10 s, runs out) the request goes on with the user as read."""
    import sqlite3
    from datetime import timedelta
    from app.meta import MetaDB
    from app.meta.base import _now
    meta = MetaDB(f"sqlite:///{tmp_path / 'meta.db'}")
    meta.create_all()
    sam, _ = meta.create_user("sam", "support", "sam-password-1")
    token = meta.start_session(sam.id)
    lock = sqlite3.connect(tmp_path / "meta.db", isolation_level=None)
    try:
        lock.execute("BEGIN IMMEDIATE")
        user = meta.session_user(token, now=_now() + timedelta(minutes=2))
        assert (user.username, user.role, user.session_token) == ("sam", "support", token)
    finally:
        lock.close()
        meta.engine.dispose()


def test_a_card_in_a_saved_search_is_masked_through_the_api_and_the_page(app, services):
    olga = make_persona(app, "operations", "olga")
    token = csrf_token(olga.get("/").get_data(as_text=True))
    created = olga.post("/api/v1/saved-searches", json={"name": f"card {CARD}", "q": f'"{CARD}"'},
                        headers={"X-CSRFToken": token})
    assert created.status_code == 201, created.get_data(as_text=True)
    assert created.json["name"] == f"card {MASKED}" and CARD not in json.dumps(created.json)
    assert post(olga, "/saved-searches", {"name": f"page {CARD}", "q": CARD.replace(" ", "")
                                          }).status_code in (302, 303)
    dump = json.dumps(_column(services.meta, "saved_searches", "name") + _column(services.meta, "saved_searches", "query"))
    assert CARD not in dump and CARD.replace(" ", "") not in dump and dump.count("411111******1111") == 4


def test_the_command_line_signs_a_user_out_everywhere(app, services, env, monkeypatch):
    """`platlogs users sign-out NAME`: the same service as the administrators' button."""
    from click.testing import CliRunner
    from app.cli import main
    sam = make_persona(app, "support", "sam")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("PLATLOGS_META_DB", services.settings.meta_db_url)
    result = CliRunner().invoke(main, ["users", "sign-out", "sam"])
    assert result.exit_code == 0 and "sam: 1 session ended" in result.output, result.output
    assert signed_out(sam.get("/"))
    [event] = events(services, "event.action:sessions_revoked")
    assert event["actor"]["id"].startswith("cli:") and event["changes"] == [{"field": "sessions", "old": 1, "new": 0}]
    assert CliRunner().invoke(main, ["users", "sign-out", "nobody"]).exit_code != 0
