"""Revision 0002 (api_keys.roles): the keys already in a database keep exactly what they could do.

Before it a read key acted as `api_reader` (no alerts). From it on a key keeps the key roles its
scopes gave it at creation (app/roles.yaml key_scopes: a new read key lists alerts too); the keys
already there keep NULL and act as roles.yaml's legacy_key_scopes say — `api_reader` alone. On a
real SQLite file and a real PostgreSQL (PLATLOGS_TEST_POSTGRES), from revision 0001 and from a
database made before migrations; then through the app with real HTTP requests."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, inspect, text
from test_meta_db import pg_schema_url  # noqa: F401  (fixture: a fresh PostgreSQL schema)
from test_meta_migrations import WHEN, load_release

from app import create_app
from app.meta import MetaDB, migrate
from app.meta.db import hash_key

READ_KEY = "plk_made-before-0002-read-key-000000000000000"
INGEST_KEY = "plk_made-before-0002-ingest-key-00000000000000"


@pytest.fixture(params=["sqlite", "postgres"])
def url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'meta.db'}"
    return request.getfixturevalue("pg_schema_url")


def _keys_as_before(engine) -> None:
    """An administrator and the two keys they made before revision 0002 (as its tables took them)."""
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO users (username, password_hash, role, active, must_change_password, created_at) "
                "VALUES ('kept', 'x', 'administrator', :yes, :no, :at)"
            ),
            {"yes": True, "no": False, "at": WHEN},
        )
        user = conn.execute(text("SELECT id FROM users WHERE username = 'kept'")).scalar_one()
        for name, key, scopes in (("reports", READ_KEY, "read"), ("shipper", INGEST_KEY, "ingest")):
            conn.execute(
                text(
                    "INSERT INTO api_keys (name, key_hash, display, scopes, created_at, created_by) "
                    "VALUES (:name, :hash, :display, :scopes, :at, :user)"
                ),
                {"name": name, "hash": hash_key(key), "display": key[:10], "scopes": scopes, "at": WHEN, "user": user},
            )


@pytest.mark.parametrize("start", ["0001", "before migrations"])
def test_keys_made_before_the_revision_keep_what_they_could_do(url, start):
    engine = create_engine(url)
    try:
        if start == "0001":
            migrate.upgrade(engine, "0001")
        else:
            load_release(engine, "24f3bc2")
        assert "roles" not in {c["name"] for c in inspect(engine).get_columns("api_keys")}
        _keys_as_before(engine)
    finally:
        engine.dispose()

    meta = MetaDB(url)
    try:
        meta.upgrade()
        assert migrate.status(meta.engine).current == migrate.heads()
        assert migrate.differences(meta.engine) == []
        read, ingest = meta.key_for(READ_KEY), meta.key_for(INGEST_KEY)
        assert (read.roles, read.scopes, read.acts_as) == (None, "read", ("api_reader",))
        assert (ingest.roles, ingest.acts_as) == (None, ())
        row, _ = meta.create_key("new reports", ["read"])  # a key made now keeps what it was given
        assert meta.key(row.id).roles == "api_alert_reader,api_reader"
    finally:
        meta.engine.dispose()


def test_through_the_app_an_old_read_key_reads_as_before_and_a_new_one_lists_alerts(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    engine = create_engine(f"sqlite:///{data / 'meta.db'}")
    migrate.upgrade(engine, "0001")
    _keys_as_before(engine)
    engine.dispose()
    app = create_app({"PLATLOGS_DATA_DIR": str(data)})  # upgrades at start
    try:
        client = app.test_client()
        old = {"Authorization": f"Bearer {READ_KEY}"}
        assert client.get("/api/v1/search?q=*", headers=old).status_code == 200
        assert client.get("/api/v1/ingest/status", headers=old).status_code == 200
        refused = client.get("/api/v1/alerts", headers=old)
        assert refused.status_code == 403 and "view_alerts" in refused.get_json()["error"]["message"]
        assert client.post("/api/v1/events", json={"message": "x"}, headers=old).status_code == 403
        shipper = {"Authorization": f"Bearer {INGEST_KEY}"}
        assert client.post("/api/v1/events", json={"message": "x"}, headers=shipper).status_code in (200, 201, 202)
        assert client.get("/api/v1/search?q=*", headers=shipper).status_code == 403

        _, key = app.extensions["platlogs"].meta.create_key("new reports", ["read"])
        assert client.get("/api/v1/alerts", headers={"Authorization": f"Bearer {key}"}).status_code == 200
    finally:
        app.extensions["platlogs"].close()
