"""API keys keep the key roles they were given: api_keys.roles (issue 16.5, alerts by the JSON API).

A key made from now on is given the key roles of app/roles.yaml's key_scopes for its scopes
(`read`: api_reader and api_alert_reader, which lists the alerts) and keeps them, so a later
change to key_scopes never widens it. The keys already there keep NULL: they act as their scopes
did when they were made (roles.yaml's legacy_key_scopes, `read`: api_reader alone, no alerts) —
exactly what they could do before this revision.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("api_keys") as batch:
        batch.add_column(sa.Column("roles", sa.String(length=256), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("api_keys") as batch:
        batch.drop_column("roles")
