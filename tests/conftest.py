"""Shared fixtures: a real SQLite store and meta DB in a temporary data directory per test."""
from __future__ import annotations

import re

import pytest

from app import create_app


@pytest.fixture
def cheap_hashes(monkeypatch):
    """Still scrypt, with a small cost, for tests that sign people in hundreds of times (a module
    opts in with `pytestmark = pytest.mark.usefixtures("cheap_hashes")`)."""
    from werkzeug.security import generate_password_hash
    cheap = lambda password, method=None: generate_password_hash(password, method="scrypt:1024:8:1")  # noqa: E731
    monkeypatch.setattr("app.meta.db.generate_password_hash", cheap)
    decoy = cheap("decoy-password")
    monkeypatch.setattr("app.meta.accounts._decoy_hash", lambda: decoy)


@pytest.fixture
def env(tmp_path):
    return {"PLATLOGS_DATA_DIR": str(tmp_path / "data")}


@pytest.fixture
def app(env):
    app = create_app(env)
    yield app
    app.extensions["platlogs"].close()


@pytest.fixture
def services(app):
    return app.extensions["platlogs"]


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def ingest_key(services):
    return services.meta.create_key("test ingest", ["ingest"])[1]


@pytest.fixture
def read_key(services):
    return services.meta.create_key("test read", ["read"])[1]


@pytest.fixture
def ingest_headers(ingest_key):
    return {"Authorization": f"Bearer {ingest_key}"}


@pytest.fixture
def read_headers(read_key):
    return {"Authorization": f"Bearer {read_key}"}


def csrf_token(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "page has no CSRF token"
    return match.group(1)


@pytest.fixture
def signed_in(client, services):
    """A client signed in as an operations user (password already chosen)."""
    services.meta.create_user("olga", "operations", "olga-password-1")
    page = client.get("/login").get_data(as_text=True)
    response = client.post("/login", data={"username": "olga", "password": "olga-password-1",
                                           "csrf_token": csrf_token(page)})
    assert response.status_code == 302
    return client


# -- real services for the tests that need them (started by scripts/test) ------------------

def _service_url(variable: str, what: str) -> str:
    """The URL in `variable`; without it the test skips — except in CI (PLATLOGS_CI=1), where a
    skipped backend would hide a failure, so the test fails instead."""
    import os
    url = os.environ.get(variable)
    if url:
        return url
    if os.environ.get("PLATLOGS_CI") == "1":
        pytest.fail(f"{variable} is not set: no {what}, and CI requires it (scripts/test starts one)", pytrace=False)
    pytest.skip(f"{variable} not set: no {what} to test against (scripts/test starts one when it can)")


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """SQLAlchemy URL of a real PostgreSQL database (PLATLOGS_TEST_POSTGRES)."""
    return _service_url("PLATLOGS_TEST_POSTGRES", "PostgreSQL server")


@pytest.fixture(scope="session")
def opensearch_url() -> str:
    """URL of a real OpenSearch node (PLATLOGS_TEST_OPENSEARCH)."""
    return _service_url("PLATLOGS_TEST_OPENSEARCH", "OpenSearch node")


# -- the contract suite: storage and search tests run on every backend --------------------

BACKENDS = ("sqlite", "tantivy", "opensearch")


def store_url_for(backend: str, tmp_path, request) -> str:
    """A fresh, empty store of `backend`: a directory for SQLite; indices under a prefix of
    their own on the test OpenSearch node (deleted, with their templates, after the test)."""
    # the contract tests write at fixed dates (November 2026): keep them in day partitions for
    # good (tests of the partition policy itself choose their own window)
    if backend == "sqlite":
        return f"sqlite://{tmp_path}/events?day_partition_days=36500"
    if backend == "tantivy":   # small writer heaps: many stores are open at once in a test run
        return f"tantivy://{tmp_path}/events?writer_heap_mb=16&writer_threads=1&day_partition_days=36500"
    import uuid
    from urllib.parse import urlsplit
    node = urlsplit(request.getfixturevalue("opensearch_url"))
    prefix = "t" + uuid.uuid4().hex[:12]
    request.addfinalizer(lambda: _drop_opensearch_prefix(node.geturl(), prefix))
    return f"opensearch://{node.hostname}:{node.port}?prefix={prefix}&day_partition_days=36500"


def _drop_opensearch_prefix(url: str, prefix: str) -> None:
    from opensearchpy import OpenSearch
    # a node busy with three test workers can take more than the client's default 10 s to delete
    # indices: wait for it, so a slow clean-up is not reported as a failed test
    client = OpenSearch(url, timeout=120, retry_on_timeout=True, max_retries=2)
    client.indices.delete(index=f"{prefix}-*", params={"ignore_unavailable": "true", "expand_wildcards": "all"})
    client.indices.delete_index_template(name=f"{prefix}-*", ignore=404)
    client.cluster.delete_component_template(name=f"{prefix}-*", ignore=404)
    client.close()


@pytest.fixture(params=BACKENDS)
def store_url(request, tmp_path):
    return store_url_for(request.param, tmp_path, request)


def all_events(store) -> list[dict]:
    """Every stored event, oldest first, read page by page."""
    from app.storage import SearchRequest
    events, cursor = [], None
    while True:
        page = store.search(SearchRequest(size=1000, cursor=cursor, newest_first=False, total_bound=0))
        events += page.hits
        cursor = page.next_cursor
        if cursor is None:
            return events


@pytest.fixture
def store(store_url):
    from app.storage import open_store
    s = open_store(store_url)
    yield s
    s.close()


# -- personas: a signed-in client per role (tests/test_admin.py, tests/test_roles.py) -------------

PERSONA_PASSWORD = "persona-password-1"


def sign_in(client, username: str, password: str):
    """POST the sign-in form (with its CSRF token); returns the response."""
    page = client.get("/login").get_data(as_text=True)
    return client.post("/login", data={"username": username, "password": password, "csrf_token": csrf_token(page)})


def make_persona(app, role: str, username: str | None = None, password: str = PERSONA_PASSWORD):
    """A new user of `role` (named `<role>-p` unless given) and a test client signed in as them."""
    username = username or f"{role}-p"
    app.extensions["platlogs"].meta.create_user(username, role, password)
    client = app.test_client()
    response = sign_in(client, username, password)
    assert response.status_code == 302 and "/login" not in response.headers["Location"], response.status_code
    return client


@pytest.fixture
def persona(app):
    """persona(role, username=None) -> a client signed in as a new user of that role."""
    return lambda role, username=None: make_persona(app, role, username)
