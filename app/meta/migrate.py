"""Migrations of the meta database (Alembic): bring a database to the newest revision, say where
it stands, list the revisions, write a new one.

Alembic is configured here, from code: its scripts are in migrations/ inside the package (a wheel
install has them) and no alembic.ini is read. One upgrade runs at a time per database (web
workers, the scheduler and the CLI may start together): PostgreSQL takes an advisory lock,
SQLite its write lock (BEGIN IMMEDIATE), for the whole upgrade, which is one transaction on both.
A database made before migrations (tables, no alembic_version) is brought up by the baseline
revision itself (migrations/versions/0001_baseline.py)."""

from __future__ import annotations

import functools
import re
import threading
from dataclasses import dataclass
from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import Script, ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import MetaData, inspect, text
from sqlalchemy.engine import Connection, Engine

SCRIPTS = Path(__file__).with_name("migrations")
UPGRADE_COMMAND = "platlogs db upgrade"
_LOCK = 0x706C_6D65_7461  # PostgreSQL advisory lock key of meta upgrades ("plmeta")
_COMMANDS = threading.Lock()  # Alembic's `op` and `context` are process-wide: one command at a time


class SchemaError(ValueError):
    """The meta database is not at the revision this code needs (behind, or from a newer release)."""


def config(connection: Connection | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(SCRIPTS).replace("%", "%%"))  # ConfigParser interpolates %
    cfg.set_main_option("file_template", "%%(rev)s_%%(slug)s")
    cfg.attributes["connection"] = connection
    return cfg


@functools.cache
def scripts() -> ScriptDirectory:
    """The revisions shipped with the code (read once a process)."""
    return ScriptDirectory.from_config(config())


def heads() -> tuple[str, ...]:
    return tuple(scripts().get_heads())


@dataclass(frozen=True)
class Status:
    current: tuple[str, ...]  # the database's revisions (none: new, or made before migrations)
    heads: tuple[str, ...]  # the newest revisions this code has
    legacy: bool  # tables of ours and no alembic_version: made by a release before migrations
    unknown: tuple[str, ...]  # revisions this code does not have (a newer release upgraded the database)

    @property
    def up_to_date(self) -> bool:
        return set(self.current) == set(self.heads)

    def describe(self) -> str:
        head = ", ".join(self.heads)
        if self.unknown:
            return (
                f"at revision {', '.join(self.unknown)}, which this version of Platform Logs does not have "
                f"(its newest is {head}): a newer release upgraded it"
            )
        if self.up_to_date:
            return f"at revision {head} (the newest)"
        if self.legacy:
            return f"made by a release before migrations (no revision); the newest is {head}"
        if not self.current:
            return f"empty (no revision); the newest is {head}"
        return f"at revision {', '.join(self.current)}, behind the newest, {head}"


def status(engine: Engine) -> Status:
    with engine.connect() as conn:
        return _status(conn)


def _status(conn: Connection) -> Status:
    from .models import metadata

    current = tuple(MigrationContext.configure(conn).get_current_heads())
    ours = set(inspect(conn).get_table_names()) & set(metadata.tables)
    directory = scripts()
    unknown = []
    for revision in current:
        try:
            directory.get_revision(revision)
        except CommandError:
            unknown.append(revision)
    return Status(current, tuple(directory.get_heads()), bool(ours) and not current, tuple(unknown))


def check(engine: Engine) -> Status:
    """The status when the database is at the newest revision, else SchemaError saying what to do."""
    state = status(engine)
    if state.unknown:
        raise SchemaError(
            f"meta database is {state.describe()}: run that release, or restore a backup made before the upgrade"
        )
    if not state.up_to_date:
        raise SchemaError(
            f"meta database is {state.describe()}: run `{UPGRADE_COMMAND}` first "
            "(or start with PLATLOGS_META_AUTO_UPGRADE=true)"
        )
    return state


def upgrade(engine: Engine, target: str = "head") -> tuple[Status, Status]:
    """Runs the revisions up to `target`, one upgrade at a time. Returns the status before and after."""
    before = status(engine)
    if before.unknown:
        check(engine)  # raises: never run older revisions over a newer schema
    if before.up_to_date and target == "head":
        return before, before  # the common start: nothing to lock or run
    with _COMMANDS, engine.connect() as conn:
        sqlite = conn.dialect.name == "sqlite"
        if sqlite:
            # batch operations copy a table and drop the old one: with foreign keys on, dropping
            # it would delete the rows that refer to it (ON DELETE CASCADE). Off for the upgrade
            # (it can only change outside a transaction), checked before the commit.
            conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
            conn.commit()
        try:
            if sqlite:
                conn.exec_driver_sql("BEGIN IMMEDIATE")  # the write lock: the next upgrader waits here
                broken = set(map(tuple, conn.exec_driver_sql("PRAGMA foreign_key_check")))
            else:
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK})
            before = _status(conn)  # as found under the lock: another process may have upgraded it meanwhile
            command.upgrade(config(conn), target)
            if sqlite:
                new = set(map(tuple, conn.exec_driver_sql("PRAGMA foreign_key_check"))) - broken
                if new:
                    raise RuntimeError(
                        f"meta database: the upgrade would break {len(new)} foreign "
                        f"key(s), first {min(new)}; nothing was changed"
                    )
            conn.commit()
        except BaseException:
            conn.rollback()
            raise
        finally:
            if sqlite:
                conn.exec_driver_sql("PRAGMA foreign_keys=ON")
                conn.commit()
    return before, status(engine)


def differences(engine: Engine, metadata: MetaData | None = None) -> list:
    """What differs between the database and the models (`metadata`: every model's, by default),
    by Alembic's autogenerate comparison: empty when the revisions made what the models declare."""
    from .models import metadata as models

    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        return compare_metadata(context, models if metadata is None else metadata)


def history() -> list[Script]:
    """Every revision, newest first."""
    return list(scripts().walk_revisions())


def new_revision(engine: Engine, message: str) -> Path:
    """A new revision file, written by comparing the models with `engine`'s database, which must
    be at the newest revision. Its id is the next number (0002, 0003, ...)."""
    check(engine)
    numbers = [int(s.revision) for s in history() if re.fullmatch(r"\d+", s.revision)]
    with _COMMANDS, engine.connect() as conn:
        script = command.revision(
            config(conn), message=message, autogenerate=True, rev_id=f"{max(numbers, default=0) + 1:04d}"
        )
    assert isinstance(script, Script)  # one revision, no branches
    return Path(script.path)
