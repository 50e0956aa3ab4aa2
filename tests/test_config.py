"""Settings: defaults under the data directory, secrets kept, bad values named."""
from __future__ import annotations

import stat

import pytest

from app.config import ConfigError, Settings


def test_defaults_live_under_the_data_dir(tmp_path):
    s = Settings.from_env({"PLATLOGS_DATA_DIR": str(tmp_path)})
    assert s.store_url == f"sqlite:///{tmp_path}/events"
    assert s.meta_db_url == f"sqlite:///{tmp_path}/meta.db"


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
])
def test_bad_values_name_the_setting(tmp_path, name, value, message):
    with pytest.raises(ConfigError, match=message):
        Settings.from_env({"PLATLOGS_DATA_DIR": str(tmp_path), name: value})
