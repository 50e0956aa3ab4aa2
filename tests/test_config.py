"""Settings: defaults under the data directory, secrets kept, bad values named."""
from __future__ import annotations

import stat

import pytest

from app.config import ConfigError, Settings


def test_defaults_live_under_the_data_dir(tmp_path):
    s = Settings.from_env({"PLATLOGS_DATA_DIR": str(tmp_path)})
    assert s.store_url == f"tantivy:///{tmp_path}/store"
    assert s.meta_db_url == f"sqlite:///{tmp_path}/meta.db"
    assert s.trail_store_url == f"sqlite:///{tmp_path}/trail"   # small durable writes: SQLite


def test_an_sqlite_store_of_an_earlier_version_stays_in_use(tmp_path):
    from app.storage import open_store
    open_store(f"sqlite://{tmp_path}/events").close()
    s = Settings.from_env({"PLATLOGS_DATA_DIR": str(tmp_path)})
    assert s.store_url == f"sqlite:///{tmp_path}/events"


def test_secret_key_is_generated_once_and_kept_private(tmp_path):
    first = Settings.from_env({"PLATLOGS_DATA_DIR": str(tmp_path)}).secret_key
    second = Settings.from_env({"PLATLOGS_DATA_DIR": str(tmp_path)}).secret_key
    assert first == second and len(first) >= 32
    assert stat.S_IMODE((tmp_path / "secret_key").stat().st_mode) == 0o600


def test_file_secrets(tmp_path):
    (tmp_path / "key").write_text("from-a-file-0123456789\n")
    s = Settings.from_env({"PLATLOGS_DATA_DIR": str(tmp_path), "PLATLOGS_SECRET_KEY_FILE": str(tmp_path / "key")})
    assert s.secret_key == "from-a-file-0123456789"


@pytest.mark.parametrize("name,value,message", [
    ("PLATLOGS_MAX_EVENT_BYTES", "12", "PLATLOGS_MAX_EVENT_BYTES: must be between"),
    ("PLATLOGS_BATCH_SIZE", "many", "PLATLOGS_BATCH_SIZE: expected an integer"),
    ("PLATLOGS_STORE", "/var/lib/x", "PLATLOGS_STORE: expected a URL"),
    ("PLATLOGS_SECRET_KEY", "short", "PLATLOGS_SECRET_KEY: must be at least 16"),
    ("PLATLOGS_SECRET_KEY_FILE", "/nonexistent/key", "PLATLOGS_SECRET_KEY_FILE: cannot read"),
    ("PLATLOGS_CLASSIFICATION_FILE", "/nonexistent.yaml", "PLATLOGS_CLASSIFICATION_FILE: no such file"),
    ("PLATLOGS_SECURE_COOKIES", "maybe", "PLATLOGS_SECURE_COOKIES: expected true or false"),
    ("PLATLOGS_STORE_VERIFY_TLS", "perhaps", "PLATLOGS_STORE_VERIFY_TLS: expected true or false, got 'perhaps'"),
    ("PLATLOGS_STORE_CA_FILE", "/nonexistent/ca.pem", "PLATLOGS_STORE_CA_FILE: no such file /nonexistent/ca.pem"),
    ("PLATLOGS_STORE_PASSWORD_FILE", "/nonexistent/pw", "PLATLOGS_STORE_PASSWORD_FILE: cannot read"),
    ("PLATLOGS_META_DB", "postgresql+psycopg://x:notaport/db", "PLATLOGS_META_DB: not a valid SQLAlchemy URL"),
    ("PLATLOGS_META_DB", "no such://x", "PLATLOGS_META_DB: not a valid SQLAlchemy URL"),
])
def test_bad_values_name_the_setting(tmp_path, name, value, message):
    with pytest.raises(ConfigError, match=message):
        Settings.from_env({"PLATLOGS_DATA_DIR": str(tmp_path), name: value})


def test_store_connection_settings(tmp_path):
    (tmp_path / "pw").write_text("s3cret: with spaces\n")
    (tmp_path / "ca.pem").write_text("-----BEGIN CERTIFICATE-----\n")
    s = Settings.from_env({"PLATLOGS_DATA_DIR": str(tmp_path), "PLATLOGS_STORE": "opensearch+https://os:9200",
                           "PLATLOGS_STORE_USERNAME": "admin", "PLATLOGS_STORE_PASSWORD_FILE": str(tmp_path / "pw"),
                           "PLATLOGS_STORE_CA_FILE": str(tmp_path / "ca.pem"), "PLATLOGS_STORE_VERIFY_TLS": "false"})
    assert s.store_username == "admin" and s.store_password == "s3cret: with spaces"
    assert s.store_ca_file == tmp_path / "ca.pem" and s.store_verify_tls is False
    assert s.store_options() == {"username": "admin", "password": "s3cret: with spaces",
                                 "ca_file": str(tmp_path / "ca.pem"), "verify_tls": False}
    assert "s3cret" not in repr(s)


def test_store_options_hold_only_what_was_set(tmp_path):
    s = Settings.from_env({"PLATLOGS_DATA_DIR": str(tmp_path)})
    assert s.store_verify_tls is True and s.store_options() == {}
    s = Settings.from_env({"PLATLOGS_DATA_DIR": str(tmp_path), "PLATLOGS_STORE_VERIFY_TLS": "true",
                           "PLATLOGS_STORE_PASSWORD": "pw"})
    assert s.store_options() == {"password": "pw"}


def test_the_sqlite_store_ignores_connection_settings(tmp_path):
    """Connection settings left over from an OpenSearch setup do not stop the embedded store."""
    from app import create_app
    app = create_app({"PLATLOGS_DATA_DIR": str(tmp_path), "PLATLOGS_STORE_USERNAME": "admin",
                      "PLATLOGS_STORE_PASSWORD": "pw", "PLATLOGS_STORE_VERIFY_TLS": "false"})
    app.extensions["platlogs"].close()


def test_meta_db_password_goes_into_the_url(tmp_path):
    from sqlalchemy.engine import make_url
    (tmp_path / "pgpw").write_text("p@ss/w:rd%1\n")
    s = Settings.from_env({"PLATLOGS_DATA_DIR": str(tmp_path),
                           "PLATLOGS_META_DB": "postgresql+psycopg://platlogs@postgres/platlogs",
                           "PLATLOGS_META_DB_PASSWORD_FILE": str(tmp_path / "pgpw")})
    url = make_url(s.meta_db_url)
    assert (url.username, url.password, url.host, url.database) == ("platlogs", "p@ss/w:rd%1", "postgres", "platlogs")


@pytest.mark.parametrize("meta_db,message", [
    (None, "an SQLite meta database takes no password"),
    ("postgresql+psycopg://u:already@db/platlogs", "PLATLOGS_META_DB already holds a password"),
])
def test_meta_db_password_refused_where_it_cannot_apply(tmp_path, meta_db, message):
    env = {"PLATLOGS_DATA_DIR": str(tmp_path), "PLATLOGS_META_DB_PASSWORD": "pw"}
    if meta_db:
        env["PLATLOGS_META_DB"] = meta_db
    with pytest.raises(ConfigError, match=f"PLATLOGS_META_DB_PASSWORD: {message}"):
        Settings.from_env(env)


def test_forwarded_addresses_are_believed_only_from_trusted_proxies(tmp_path):
    from app import create_app
    from app.query import parse
    from app.storage import SearchRequest

    def recorded_ip(env: dict) -> str:
        app = create_app({"PLATLOGS_DATA_DIR": str(tmp_path / str(len(env))), **env})
        services = app.extensions["platlogs"]
        key = services.meta.create_key("r", ["read"])[1]
        app.test_client().get("/api/v1/search", headers={"Authorization": f"Bearer {key}",
                                                         "X-Forwarded-For": "198.51.100.7"})
        [event] = services.trail.search(SearchRequest(query=parse("event.action:search"))).hits
        services.close()
        return event["source"]["ip"]

    assert recorded_ip({}) == "127.0.0.1"   # a client cannot choose its own address
    assert recorded_ip({"PLATLOGS_TRUSTED_PROXIES": "1"}) == "198.51.100.7"
