"""`platlogs db`: the meta database's schema — upgrade it, say where it stands, list the
revisions, write a new one (app/meta/migrate.py)."""

from __future__ import annotations

import click
from sqlalchemy.engine import make_url

from .cli_common import _settings


def _meta():
    from .events.redact import Redactor
    from .meta import MetaDB

    settings = _settings()
    try:
        return MetaDB(settings.meta_db_url, redactor=Redactor.from_file(settings.redaction_file))
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None


def _where(meta) -> str:
    return make_url(meta.url).render_as_string(hide_password=True)


@click.group()
def db() -> None:
    """The meta database's schema (users, keys, alerts, ...): Alembic revisions shipped with the app.

    The app upgrades it at start unless PLATLOGS_META_AUTO_UPGRADE=false; then run `platlogs db
    upgrade` before starting a new release."""


@db.command()
def upgrade() -> None:
    """Bring the meta database to the newest revision (a database made before migrations included)."""
    from .meta import migrate

    meta = _meta()
    try:
        before, after = migrate.upgrade(meta.engine)
    except (migrate.SchemaError, RuntimeError) as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        meta.engine.dispose()
    if before.current == after.current:
        click.echo(f"{_where(meta)}: {after.describe()}; nothing to do")
    else:
        click.echo(f"{_where(meta)}: was {before.describe()}; now {after.describe()}")


@db.command()
@click.option("--check", is_flag=True, help="Exit with status 1 unless the database is at the newest revision.")
def current(check: bool) -> None:
    """Where the meta database stands."""
    from .meta import migrate

    meta = _meta()
    try:
        state = migrate.status(meta.engine)
    finally:
        meta.engine.dispose()
    click.echo(f"{_where(meta)}: {state.describe()}")
    if check and not state.up_to_date:
        raise SystemExit(1)


@db.command()
def history() -> None:
    """The revisions this version has, newest first."""
    from .meta import migrate

    for script in migrate.history():
        marks = " (newest)" if script.is_head else ""
        click.echo(f"{script.revision}  {script.doc}{marks}")


@db.command()
@click.option("-m", "--message", required=True, help="What the revision changes (its file is named after it).")
def revision(message: str) -> None:
    """For developers: write a new revision into app/meta/migrations/versions by comparing the models
    with the configured meta database, which must be at the newest revision. Read and adjust it."""
    from .meta import migrate

    meta = _meta()
    try:
        if not migrate.differences(meta.engine) and migrate.status(meta.engine).up_to_date:
            click.echo("note: the models and the database agree; the revision is empty")
        path = migrate.new_revision(meta.engine, message)
    except migrate.SchemaError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        meta.engine.dispose()
    click.echo(f"wrote {path}")
