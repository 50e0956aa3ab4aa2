"""The meta database's migrations (Alembic, app/meta/migrate.py) on a real SQLite file and a real
PostgreSQL: a new database upgraded to the newest revision; databases made by releases before
migrations (tests/data/meta_pre_alembic/: what their create_all made) upgraded with their rows
kept; the models and the revisions agree, so a column added to a model without a revision fails
here; one upgrade at a time; a database behind (or ahead) refused when automatic upgrades are off.

The PostgreSQL runs need PLATLOGS_TEST_POSTGRES; each test gets a schema of its own (mig_*),
dropped afterwards."""
from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import Column, MetaData, String, create_engine, inspect, text
from sqlalchemy.engine import make_url
from test_meta_db import pg_schema_url  # noqa: F401  (fixture: a fresh PostgreSQL schema)
from werkzeug.security import generate_password_hash

from app import create_app
from app.cli import main as cli
from app.meta import MetaDB, migrate
from app.meta.migrate import SchemaError
from app.meta.models import metadata as models_metadata

SNAPSHOTS = Path(__file__).parent / "data" / "meta_pre_alembic"
RELEASES = ("24f3bc2", "7e65308")   # the last release before migrations; an early one (README there)
WHEN = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
HEAD = migrate.heads()[0]            # the newest revision shipped; a test's own revision comes next
NEXT = f"{int(HEAD) + 1:04d}"


@pytest.fixture(params=["sqlite", "postgres"])
def url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'meta.db'}"
    return request.getfixturevalue("pg_schema_url")


@pytest.fixture
def meta(url):
    db = MetaDB(url)
    yield db
    db.engine.dispose()


def load_release(engine, release: str) -> None:
    """The schema `release`'s create_all made, from its snapshot, on an empty database."""
    dialect = "postgresql" if engine.dialect.name == "postgresql" else "sqlite"
    sql = (SNAPSHOTS / f"{release}_{dialect}.sql").read_text()
    with engine.begin() as conn:
        for statement in sql.split(";\n"):
            statement = "\n".join(line for line in statement.splitlines() if not line.startswith("--")).strip()
            if statement:
                conn.exec_driver_sql(statement)


def tables(engine) -> set[str]:
    return set(inspect(engine).get_table_names()) - {"alembic_version"}


# -- a new database ---------------------------------------------------------------------

def test_a_new_database_is_upgraded_to_the_newest_revision(meta):
    before = migrate.status(meta.engine)
    assert before.current == () and not before.legacy and not before.up_to_date
    meta.upgrade()
    after = migrate.status(meta.engine)
    assert after.up_to_date and after.current == migrate.heads() and after.describe().endswith("(the newest)")
    assert tables(meta.engine) == set(models_metadata.tables)
    user, _ = meta.create_user("olga", "operations", "olga-password-1")
    assert meta.user_by_name("olga").id == user.id
    meta.upgrade()   # again: nothing to do
    assert migrate.status(meta.engine).current == migrate.heads()


def test_the_models_and_the_migrations_agree(meta):
    """Alembic's autogenerate comparison finds nothing between the upgraded database and the
    models. A model changed without a revision (a column, an index, a type) fails this test:
    write the revision (`platlogs db revision -m ...`)."""
    meta.upgrade()
    assert migrate.differences(meta.engine) == []


def test_the_comparison_sees_a_column_added_or_changed_in_a_model_without_a_revision(meta):
    meta.upgrade()
    changed = MetaData()
    for table in models_metadata.sorted_tables:
        table.to_metadata(changed)
    changed.tables["users"].append_column(Column("nickname", String(64)))
    diff = migrate.differences(meta.engine, changed)
    assert [(d[0], d[2], d[3].name) for d in diff] == [("add_column", "users", "nickname")]
    changed.tables["api_keys"].c.name.type = String(200)     # and a longer column
    modified = [d for d in migrate.differences(meta.engine, changed) if isinstance(d, list)]
    assert [(m[0][0], m[0][2], m[0][3]) for m in modified] == [("modify_type", "api_keys", "name")]


# -- databases made before migrations ----------------------------------------------------

def _old_rows(engine, release: str) -> None:
    """A user, an API key and a saved search (every release has them); for the last release an
    alert instance with its history and a session too."""
    password = generate_password_hash("kept-password-1", method="scrypt:1024:8:1")
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO users (username, password_hash, role, active, must_change_password, created_at) "
                          "VALUES ('kept', :hash, 'administrator', :yes, :no, :at)"),
                     {"hash": password, "yes": True, "no": False, "at": WHEN})
        user_id = conn.execute(text("SELECT id FROM users WHERE username = 'kept'")).scalar_one()
        conn.execute(text("INSERT INTO api_keys (name, key_hash, display, scopes, created_at, created_by) "
                          "VALUES ('shipper', :hash, 'plk_abcdef', 'ingest', :at, :user)"),
                     {"hash": "a" * 64, "at": WHEN, "user": user_id})
        conn.execute(text("INSERT INTO saved_searches (owner_id, name, query, created_at) "
                          "VALUES (:user, 'errors', 'event.outcome:failure', :at)"), {"user": user_id, "at": WHEN})
        if release != "24f3bc2":
            return
        conn.execute(text(
            "INSERT INTO alert_instances (rule_id, group_key, state, severity, detail, sample_ids, search_query, "
            "first_seen_at, last_seen_at, notify_count) VALUES ('r1', '', 'firing', 'warning', 'd', '[]', '', "
            ":at, :at, 0)"), {"at": WHEN})
        instance = conn.execute(text("SELECT id FROM alert_instances")).scalar_one()
        conn.execute(text("INSERT INTO alert_history (instance_id, rule_id, group_key, at, actor, action, comment) "
                          "VALUES (:instance, 'r1', '', :at, 'scheduler', 'fire', '')"),
                     {"instance": instance, "at": WHEN})
        conn.execute(text("INSERT INTO user_sessions (id, user_id, created_at, last_seen_at) "
                          "VALUES ('s1', :user, :at, :at)"), {"user": user_id, "at": WHEN})


@pytest.mark.parametrize("release", RELEASES)
def test_a_database_from_before_migrations_is_upgraded_with_its_rows(meta, release):
    load_release(meta.engine, release)
    _old_rows(meta.engine, release)
    state = migrate.status(meta.engine)
    assert state.legacy and not state.up_to_date and "before migrations" in state.describe()
    if release == "7e65308":
        assert "last_used_at" not in {c["name"] for c in inspect(meta.engine).get_columns("api_keys")}

    meta.upgrade()

    assert migrate.status(meta.engine).current == migrate.heads()
    assert migrate.differences(meta.engine) == []    # exactly the models' schema, like a new database
    assert tables(meta.engine) == set(models_metadata.tables)
    kept = meta.user_by_name("kept")
    assert kept.check_password("kept-password-1") and kept.created_at == WHEN
    keys = meta.keys()
    assert [k.name for k in keys] == ["shipper"] and keys[0].last_used_at is None
    assert [s.name for s in meta.saved_searches(kept)] == ["errors"]
    with meta.engine.connect() as conn:
        counts = {t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one()
                  for t in ("alert_instances", "alert_history", "user_sessions")}
    assert counts == ({"alert_instances": 1, "alert_history": 1, "user_sessions": 1} if release == "24f3bc2"
                      else {"alert_instances": 0, "alert_history": 0, "user_sessions": 0})
    _, key = meta.create_key("new", ["read"])        # the tables work as the code expects
    assert meta.key_for(key).last_used_at is not None
    meta.upgrade()                                   # and again: nothing to do
    assert migrate.differences(meta.engine) == []


def test_an_old_table_missing_a_column_that_cannot_be_added_empty_is_refused(meta):
    """A NOT NULL column missing from a table with rows: the upgrade stops, changes nothing."""
    with meta.engine.begin() as conn:
        conn.execute(text("CREATE TABLE provider_states (provider VARCHAR(256) PRIMARY KEY, status VARCHAR(16) NOT NULL)"))
    with pytest.raises(RuntimeError, match=r"provider_states\.since is missing"):
        meta.upgrade()
    assert migrate.status(meta.engine).current == ()
    assert tables(meta.engine) == {"provider_states"}     # one transaction: nothing else was created


# -- starting the app --------------------------------------------------------------------

def test_the_app_upgrades_at_start_by_default(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    engine = create_engine(f"sqlite:///{data / 'meta.db'}")
    load_release(engine, "24f3bc2")
    engine.dispose()
    app = create_app({"PLATLOGS_DATA_DIR": str(data)})
    try:
        assert migrate.status(app.extensions["platlogs"].meta.engine).up_to_date
    finally:
        app.extensions["platlogs"].close()


@pytest.mark.parametrize("old", [False, True], ids=["new", "before-migrations"])
def test_without_automatic_upgrades_the_app_refuses_a_database_behind_and_names_the_command(tmp_path, old):
    data = tmp_path / "data"
    data.mkdir()
    if old:
        engine = create_engine(f"sqlite:///{data / 'meta.db'}")
        load_release(engine, "24f3bc2")
        engine.dispose()
    env = {"PLATLOGS_DATA_DIR": str(data), "PLATLOGS_META_AUTO_UPGRADE": "false"}
    with pytest.raises(SchemaError, match=r"run `platlogs db upgrade` first"):
        create_app(env)
    result = CliRunner().invoke(cli, ["users", "list"], env=env)
    assert result.exit_code == 1 and "platlogs db upgrade" in result.output

    result = CliRunner().invoke(cli, ["db", "upgrade"], env=env)
    assert result.exit_code == 0, result.output
    assert "now at revision" in result.output
    app = create_app(env)
    app.extensions["platlogs"].close()


def test_a_database_from_a_newer_release_is_refused(meta):
    meta.upgrade()
    with meta.engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    with pytest.raises(SchemaError, match="9999, which this version of Platform Logs does not have"):
        meta.check_schema()
    with pytest.raises(SchemaError, match="a newer release upgraded it"):
        meta.upgrade()
    assert migrate.status(meta.engine).current == ("9999",)


# -- one upgrade at a time ----------------------------------------------------------------

def test_processes_starting_together_upgrade_once(url):
    """Web workers, the scheduler and the CLI may start at once on a new database: one upgrades,
    the others wait for it and find nothing to do — none fails."""
    databases = [MetaDB(url) for _ in range(4)]
    barrier, errors = threading.Barrier(len(databases)), []

    def start(db):
        barrier.wait()
        try:
            db.upgrade()
        except Exception as exc:   # noqa: BLE001  reported below
            errors.append(exc)

    threads = [threading.Thread(target=start, args=(db,)) for db in databases]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        assert errors == []
        with databases[0].engine.connect() as conn:
            assert conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all() == list(migrate.heads())
        assert migrate.differences(databases[0].engine) == []
    finally:
        for db in databases:
            db.engine.dispose()


def test_sqlite_foreign_keys_are_on_again_after_an_upgrade(tmp_path):
    db = MetaDB(f"sqlite:///{tmp_path / 'meta.db'}")
    try:
        db.upgrade()
        for _ in range(3):   # every pooled connection
            with db.engine.connect() as conn:
                assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    finally:
        db.engine.dispose()


# -- the command ------------------------------------------------------------------------

def test_db_commands(tmp_path):
    env = {"PLATLOGS_DATA_DIR": str(tmp_path / "data")}
    runner = CliRunner()
    result = runner.invoke(cli, ["db", "current", "--check"], env=env)
    assert result.exit_code == 1 and "empty (no revision)" in result.output
    result = runner.invoke(cli, ["db", "history"], env=env)
    assert result.exit_code == 0 and result.output.startswith(f"{HEAD}  ") and "0001  Baseline" in result.output
    assert "(newest)" in result.output
    result = runner.invoke(cli, ["db", "upgrade"], env=env)
    assert result.exit_code == 0 and "was empty" in result.output and f"now at revision {HEAD}" in result.output
    result = runner.invoke(cli, ["db", "upgrade"], env=env)
    assert result.exit_code == 0 and "nothing to do" in result.output
    result = runner.invoke(cli, ["db", "current", "--check"], env=env)
    assert result.exit_code == 0 and "(the newest)" in result.output


def test_db_current_hides_a_password_in_the_url(pg_schema_url, tmp_path):  # noqa: F811  (the fixture)
    password_url = make_url(pg_schema_url).set(password="s3cret-pw").render_as_string(hide_password=False)
    result = CliRunner().invoke(cli, ["db", "current"], env={"PLATLOGS_META_DB": password_url,
                                                             "PLATLOGS_DATA_DIR": str(tmp_path)})
    assert "s3cret-pw" not in result.output and "empty (no revision)" in result.output


def test_db_revision_writes_the_next_numbered_revision_which_upgrades(tmp_path, monkeypatch):
    """`platlogs db revision -m ...` (here into a copy of the scripts): the models agree with the
    database, so the revision is empty; it is numbered after the newest (NEXT), and the database
    upgrades to it."""
    scripts = _scripts_copy(tmp_path, monkeypatch)
    try:
        env = {"PLATLOGS_DATA_DIR": str(tmp_path / "data")}
        runner = CliRunner()
        result = runner.invoke(cli, ["db", "revision", "-m", "nothing yet"], env=env)
        assert result.exit_code == 1 and "run `platlogs db upgrade` first" in result.output
        assert runner.invoke(cli, ["db", "upgrade"], env=env).exit_code == 0
        result = runner.invoke(cli, ["db", "revision", "-m", "nothing yet"], env=env)
        assert result.exit_code == 0, result.output
        written = scripts / "versions" / f"{NEXT}_nothing_yet.py"
        assert f"wrote {written}" in result.output and "the revision is empty" in result.output
        source = written.read_text()
        assert f"revision = '{NEXT}'" in source and f"down_revision = '{HEAD}'" in source
        migrate.scripts.cache_clear()
        assert migrate.heads() == (NEXT,)
        result = runner.invoke(cli, ["db", "upgrade"], env=env)
        assert result.exit_code == 0 and f"now at revision {NEXT}" in result.output, result.output
    finally:
        migrate.scripts.cache_clear()



def imported_modules(source: str, module: str) -> set[str]:
    """The absolute names `module`'s source imports (for `from x import y`: x and x.y)."""
    import ast
    package = module.split(".")[:-1]
    names = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or "" if node.level == 0 else ".".join(
                package[:len(package) - node.level + 1] + ([node.module] if node.module else []))
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def test_meta_imports_nothing_from_the_layers_above_it():
    """app/meta owns the engine, the Base and every model: it imports nothing from alerts, web,
    services, search, dashboards or the commands (the alerting code uses the alert tables, not the
    other way round)."""
    above = ("app.alerts", "app.web", "app.services", "app.search", "app.dashboards", "app.cli")
    package = Path(migrate.__file__).parent
    # the check sees the import the meta package had before (db.py, inside create_all)
    assert "app.alerts.lifecycle" in imported_modules("def f():\n    from ..alerts import lifecycle\n", "app.meta.db")
    found = []
    for path in sorted(package.rglob("*.py")):
        parts = path.relative_to(package.parent.parent).with_suffix("").parts
        module = ".".join(parts if parts[-1] != "__init__" else (*parts[:-1], "x"))
        found += [f"{path.name}: {name}" for name in imported_modules(path.read_text(), module)
                  if name.startswith(above)]
    assert found == []


def _scripts_copy(tmp_path, monkeypatch) -> Path:
    """A copy of the revisions the test may add to (migrate.SCRIPTS points at it until the end)."""
    import shutil
    scripts = tmp_path / "migrations"
    shutil.copytree(migrate.SCRIPTS, scripts, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(migrate, "SCRIPTS", scripts)
    migrate.scripts.cache_clear()
    return scripts


def test_a_batch_revision_on_sqlite_keeps_the_rows_that_refer_to_the_table_it_copies(tmp_path, monkeypatch):
    """SQLite alters a table by copying it and dropping the old one: with foreign keys on, the drop
    would delete every saved search and session of every user (ON DELETE CASCADE). The upgrade
    runs with them off and checks them before its commit."""
    scripts = _scripts_copy(tmp_path, monkeypatch)
    (scripts / "versions" / f"{NEXT}_users_role_longer.py").write_text(
        f'from alembic import op\nimport sqlalchemy as sa\n\nrevision = "{NEXT}"\ndown_revision = "{HEAD}"\n\n\n'
        "def upgrade():\n"
        '    with op.batch_alter_table("users", recreate="always") as batch:\n'
        '        batch.alter_column("role", type_=sa.String(40))\n')
    db = MetaDB(f"sqlite:///{tmp_path / 'meta.db'}")
    try:
        migrate.upgrade(db.engine, HEAD)
        user, _ = db.create_user("kept", "operations", "kept-password-1")
        db.save_search(user.id, "errors", "event.outcome:failure", None, None, None)
        db.start_session(user.id, "pytest", "192.0.2.1")
        migrate.scripts.cache_clear()
        before, after = migrate.upgrade(db.engine)
        assert before.current == (HEAD,) and after.current == (NEXT,)
        assert [s.name for s in db.saved_searches(db.user_by_name("kept"))] == ["errors"]
        with db.engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM user_sessions")).scalar_one() == 1
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    finally:
        db.engine.dispose()
        migrate.scripts.cache_clear()


def test_commands_started_together_upgrade_once(url, tmp_path):
    """The same with processes (a web server's workers, the scheduler and a command at once)."""
    import os
    import subprocess
    import sys
    env = {**os.environ, "PLATLOGS_DATA_DIR": str(tmp_path / "data"), "PLATLOGS_META_DB": url}
    runs = [subprocess.Popen([sys.executable, "-c", "from app.cli import main; main()", "db", "upgrade"], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for _ in range(3)]
    outputs = [run.communicate(timeout=120)[0] for run in runs]
    assert [run.returncode for run in runs] == [0, 0, 0], outputs
    assert sum("now at revision" in output for output in outputs) == 1, outputs
    assert sum("nothing to do" in output for output in outputs) == 2, outputs


def test_a_later_revision_adds_a_not_null_column_and_an_index_to_a_table_with_rows(url, tmp_path, monkeypatch):
    """What create_all and _add_missing_columns could not do on an existing database: a NOT NULL
    column (its default for the rows there) and an index on an alert table, on both databases."""
    scripts = _scripts_copy(tmp_path, monkeypatch)
    (scripts / "versions" / f"{NEXT}_alert_priority.py").write_text(
        f'from alembic import op\nimport sqlalchemy as sa\n\nrevision = "{NEXT}"\ndown_revision = "{HEAD}"\n\n\n'
        "def upgrade():\n"
        '    with op.batch_alter_table("alert_instances") as batch:\n'
        '        batch.add_column(sa.Column("priority", sa.Integer(), nullable=False, server_default="3"))\n'
        '        batch.create_index("ix_alert_instances_priority", ["priority", "state"])\n')
    engine = create_engine(url)
    try:
        migrate.upgrade(engine, HEAD)
        with engine.begin() as conn:
            conn.execute(text(
                "INSERT INTO alert_instances (rule_id, group_key, state, severity, detail, sample_ids, search_query, "
                "first_seen_at, last_seen_at, notify_count) VALUES ('r1', '', 'firing', 'warning', 'd', '[]', '', "
                ":at, :at, 0)"), {"at": WHEN})
        migrate.scripts.cache_clear()
        assert migrate.upgrade(engine)[1].current == (NEXT,)
        with engine.connect() as conn:
            assert conn.execute(text("SELECT rule_id, priority FROM alert_instances")).all() == [("r1", 3)]
        assert "ix_alert_instances_priority" in {i["name"] for i in inspect(engine).get_indexes("alert_instances")}
        assert sorted(d[0] for d in migrate.differences(engine)) == ["remove_column", "remove_index"]   # not in the models
    finally:
        engine.dispose()
        migrate.scripts.cache_clear()
