"""Alembic's entry point for the meta database: runs the revisions on the connection that
app/meta/migrate.py opened (and locked), against every model's metadata (app/meta/models.py)."""

from alembic import context

from app.meta.base import UTCDateTime
from app.meta.models import metadata


def _render_item(kind, value, _context):
    """Autogenerate writes the models' UTC time type as the plain column type it creates, so a
    revision does not import the app."""
    if kind == "type" and isinstance(value, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError(
        "the meta database's migrations run through app.meta.migrate (`platlogs db upgrade`), which hands them a connection"
    )
context.configure(
    connection=connection,
    target_metadata=metadata,
    render_item=_render_item,
    render_as_batch=True,  # SQLite alters a table by copying it: autogenerate writes batch operations
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
