"""Every route against every role: the permission a route declares (app/roles.yaml) decides.

One persona per role (a user with a known password, signed in once per module) plus the anonymous
and the two kinds of API key. For every route in the application's URL map, every method, and
every caller:
- a route that declares a permission answers 403 to a role without it and anything but a refusal
  (401/403, or a redirect to /login) to a role with it — pages and API alike; an API key is let
  through on the API when it has one of the scopes the route declares and its key roles
  (app/roles.yaml key_scopes) hold the permission: a `read` key, an `alerts:write` key, a read key
  made before keys kept their roles (acting as `api_reader` alone), and an `ingest` key (refused);
- the anonymous are sent to /login from a page and get 401 from the API; bearer keys never open a
  page;
- a route that declares no permission must be one of the few in UNDECLARED, so a new route that
  forgets to declare one fails here.

The list of routes is read from the application when the tests are collected: whatever routes
exist are covered. The app is built once per module, without CSRF checks (so a refusal is the
access check), and with an ingestor that stores nothing (no store writes, cheap cases).
"""
from __future__ import annotations

import shutil
import tempfile

import pytest
from flask import url_for

from app import create_app
from app.access import can, permissions, permissions_of, required_permission, required_scopes, roles
from app.ingest.pipeline import IngestReport

from conftest import PERSONA_PASSWORD

ROLES = tuple(roles())
# Routes that declare no permission, on purpose, and who may use them:
UNDECLARED = {
    "web.login": "public",              # the sign-in form
    "web.static": "public",             # CSS and scripts
    "read_api.schema": "public",        # the event format, not data
    "read_api.openapi": "public",       # the API's description (app/apidoc), not data
    "read_api.health": "public",        # liveness for load balancers
    "web.logout": "account",            # a signed-in user's own session
    "web.change_password": "account",   # ... and own password (checks the current one)
    "web.account_sessions": "account",  # ... and own sessions (list, end the others)
    "web.end_account_session": "account",
    "web.end_other_sessions": "account",
    "ingest_api.post_events": "ingest",  # an API key with the ingest scope, never a session
    "ingest_api.post_bulk": "ingest",
    # the Elasticsearch-compatible subset (app/ingest/es_views.py): shipping, with an ingest key
    "es_api.bulk": "ingest",
    "es_api.cluster_health": "ingest",
    "es_api.cat_health": "ingest",
    "es_api.license_": "ingest",
    "es_api.xpack": "ingest",
    "es_api.template": "ingest",
    "otlp.post_logs": "ingest",          # OTLP/HTTP logs (app/ingest/otlp_views.py)
}
# API routes a permitted role may use but an API key may not, whatever its role: none today (saved
# searches have a permission of their own that api_reader lacks).
SESSION_ONLY_API: set[str] = set()
KEYS = {"read_key": "read", "ingest_key": "ingest", "alerts_key": "alerts:write", "legacy_read_key": "read"}
CALLERS = ROLES + ("anonymous", *KEYS)
MISSING_ID = 999_999   # int arguments point at nothing: a permitted POST changes nothing


def _url_args(rule) -> dict:
    args = {}
    for name in rule.arguments:
        kind = type(rule._converters.get(name)).__name__
        args[name] = MISSING_ID if kind == "IntegerConverter" else "app.css" if kind == "PathConverter" else "x"
    return args


def _routes() -> list[tuple[str, str, str, dict, str | None]]:
    """(endpoint, method, rule, URL arguments, declared permission) of every route of the app."""
    data = tempfile.mkdtemp(prefix="platlogs-roles-")
    app = create_app({"PLATLOGS_DATA_DIR": data})
    try:
        SCOPES.update({endpoint: required_scopes(view) for endpoint, view in app.view_functions.items()})
        return [(rule.endpoint, method, rule.rule, _url_args(rule), required_permission(app.view_functions[rule.endpoint]))
                for rule in sorted(app.url_map.iter_rules(), key=lambda r: (r.rule, r.endpoint))
                for method in sorted(rule.methods - {"HEAD", "OPTIONS"})]
    finally:
        app.extensions["platlogs"].close()
        shutil.rmtree(data, ignore_errors=True)


SCOPES: dict[str, tuple[str, ...]] = {}   # endpoint -> the scopes an API key needs one of (filled by _routes)
ROUTES = _routes()


class _NoWrites:
    """Stands in for the Ingestor: reads the items, stores nothing (audit events included)."""

    def ingest(self, items, **_options):
        for _ in items:
            pass
        return IngestReport()


@pytest.fixture(scope="module")
def roles_app(tmp_path_factory):
    app = create_app({"PLATLOGS_DATA_DIR": str(tmp_path_factory.mktemp("roles") / "data")})
    app.config["WTF_CSRF_ENABLED"] = False
    yield app
    app.extensions["platlogs"].close()


@pytest.fixture(scope="module")
def personas(roles_app) -> dict:
    """role -> a test client signed in as a user of that role (each from its own address, so the
    sign-in throttling of one persona never touches another)."""
    clients = {}
    for number, role in enumerate(ROLES, start=1):
        client = roles_app.test_client()
        client.environ_base["REMOTE_ADDR"] = f"10.0.0.{number}"
        roles_app.extensions["platlogs"].meta.create_user(f"{role}-p", role, PERSONA_PASSWORD)
        response = client.post("/login", data={"username": f"{role}-p", "password": PERSONA_PASSWORD})
        assert response.status_code == 302, (role, response.status_code)
        clients[role] = client
    roles_app.extensions["platlogs"].ingestor = _NoWrites()   # after the sign-ins: nothing stored from here
    return clients


@pytest.fixture(scope="module")
def keys(roles_app) -> dict:
    """caller -> (its request headers, the key roles it acts as)."""
    from sqlalchemy import text
    meta = roles_app.extensions["platlogs"].meta
    made = {caller: meta.create_key(caller, [scope]) for caller, scope in KEYS.items()}
    with meta.engine.begin() as conn:   # as a key made before revision 0002 is
        conn.execute(text("UPDATE api_keys SET roles = NULL WHERE id = :id"), {"id": made["legacy_read_key"][0].id})
    return {caller: ({"Authorization": f"Bearer {key}"}, meta.key(row.id).acts_as) for caller, (row, key) in made.items()}


def _client(app, personas, caller, endpoint=None):
    """A fresh client for one request (a logout in one case never signs a persona out for the next:
    it signs out a session of its own, since sessions end on the server)."""
    client = app.test_client()
    if caller in personas and endpoint == "web.logout":
        client.environ_base["REMOTE_ADDR"] = personas[caller].environ_base["REMOTE_ADDR"]
        assert client.post("/login", data={"username": f"{caller}-p", "password": PERSONA_PASSWORD}).status_code == 302
    elif caller in personas:
        source = personas[caller]
        client.environ_base["REMOTE_ADDR"] = source.environ_base["REMOTE_ADDR"]
        client.set_cookie("session", source.get_cookie("session").value)
    else:
        client.environ_base["REMOTE_ADDR"] = "10.0.1.1"
    return client


def _to_login(response) -> bool:
    return response.status_code == 302 and response.headers["Location"].split("?")[0].endswith("/login")


def _refused(response) -> bool:
    return response.status_code in (401, 403) or _to_login(response)


def test_every_route_declares_a_permission_or_is_listed():
    """A new route must declare its permission (page_access / api_access) — or be added to
    UNDECLARED here, on purpose."""
    assert {r[0] for r in ROUTES} >= {"web.index", "web.users", "ingest_api.post_events", "read_api.latest_events"}
    undeclared = sorted({f"{endpoint} ({rule})" for endpoint, _, rule, _, permission in ROUTES
                         if permission is None and endpoint not in UNDECLARED})
    assert not undeclared, f"routes that declare no permission: {undeclared}"
    assert set(UNDECLARED) | SESSION_ONLY_API <= {r[0] for r in ROUTES}, "a list here names a route that is gone"
    assert {permission for *_, permission in ROUTES if permission} <= set(permissions())


def test_every_role_has_a_persona(personas):
    assert set(personas) == set(ROLES) and len(ROLES) == 7


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize("endpoint,method,rule,args,permission", ROUTES,
                         ids=[f"{r[1]} {r[2]}" for r in ROUTES])
def test_route_answers_by_role(roles_app, personas, keys, endpoint, method, rule, args, permission, caller):
    with roles_app.test_request_context():
        url = url_for(endpoint, **args)
    headers, acts_as = keys.get(caller, ({}, ()))
    response = _client(roles_app, personas, caller, endpoint).open(url, method=method, headers=headers)
    try:
        _check(response, endpoint, method, rule, permission, caller, acts_as)
    finally:
        response.close()   # a stream (live tail) is never read


def _check(response, endpoint, method, rule, permission, caller, acts_as=()):
    status, api = response.status_code, rule.startswith("/api/")
    what = f"{caller} {method} {rule} ({permission or UNDECLARED.get(endpoint)}) -> {status}"
    if permission is None:
        kind = UNDECLARED.get(endpoint)
        assert kind is not None, f"{endpoint} declares no permission"
        if kind == "public":
            assert status != 403 and not _to_login(response), what
            if method == "GET":
                assert status == 200, what
        elif kind == "account":
            if caller in ROLES:
                assert status not in (401, 403), what
            else:
                assert _to_login(response), what
        elif kind == "ingest":
            if caller == "ingest_key":
                assert status not in (401, 403), what
            elif caller in KEYS:
                assert status == 403, what   # lacks the ingest scope
            else:
                assert status == 401, what   # a session never ingests
        return
    if caller in ROLES:
        if can(caller, permission):
            assert not _refused(response), what
        else:
            assert status == 403, what
    elif endpoint == "web.index" and caller in KEYS:
        # `/` for an API client (a key) is the Elasticsearch-compatible root (app/ingest/es_views.py)
        assert status == 200 and response.headers["X-Elastic-Product"] == "Elasticsearch", what
    elif not api:                             # pages: the anonymous and bearer keys alike go to sign in
        assert _to_login(response), what
    elif caller == "anonymous":
        assert status == 401, what
    else:                                     # an API key: a scope of the route's, and the permission
        if (KEYS[caller] in SCOPES[endpoint] and permission in permissions_of(*acts_as)
                and endpoint not in SESSION_ONLY_API):
            assert not _refused(response), what
        else:
            assert status == 403, what


def test_navigation_shows_what_the_role_may_open(roles_app, personas):
    for role in ROLES:
        html = _client(roles_app, personas, role).get("/").get_data(as_text=True)
        assert ('href="/admin/users"' in html) == can(role, "manage_users"), role
        assert ('href="/tail"' in html) == can(role, "live_tail"), role
