"""Baseline: the meta database as the last release before migrations made it (19 tables).

On an empty database it creates them. A database made by an earlier release (`create_all`,
which never altered a table, plus `_add_missing_columns`, which added nullable columns) has no
alembic_version table, so Alembic runs this revision on it too: every table it lacks is created,
and the nullable columns and the indexes added to a model since its table was made are added.
After it, such a database is the schema below, like a new one.

The tables are written out here as they were, not imported from the models: a revision must say
what the schema was at its time, whatever the models say later.

Revision ID: 0001
Revises:
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def schema() -> sa.MetaData:
    """The tables and indexes of this revision."""
    metadata = sa.MetaData()

    def table(name, *items):
        sa.Table(name, metadata, *items)

    def index(table_name, name, columns, **options):
        sa.Index(name, *(metadata.tables[table_name].c[c] for c in columns), **options)

    table(
        "alert_destinations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("target", sa.String(length=2048), nullable=False),
        sa.Column("secret", sa.String(length=512), nullable=True),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    table(
        "alert_instances",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("rule_id", sa.String(length=128), nullable=False),
        sa.Column("group_key", sa.String(length=512), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("threshold", sa.Float(), nullable=True),
        sa.Column("detail", sa.String(length=1024), nullable=False),
        sa.Column("sample_ids", sa.Text(), nullable=False),
        sa.Column("search_query", sa.String(length=4096), nullable=False),
        sa.Column("window_start_ms", sa.BigInteger(), nullable=True),
        sa.Column("window_end_ms", sa.BigInteger(), nullable=True),
        sa.Column("first_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("fired_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_notified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("notify_count", sa.Integer(), nullable=False),
        sa.Column("suppressed", sa.String(length=512), nullable=True),
        sa.Column("ack_owner", sa.String(length=64), nullable=True),
        sa.Column("ack_comment", sa.String(length=1024), nullable=True),
        sa.Column("acked_by", sa.String(length=64), nullable=True),
        sa.Column("acked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("muted_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_delivery_error", sa.String(length=1024), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    index("alert_instances", "ix_alert_instances_rule", ["rule_id", "first_seen_at"], unique=False)
    index("alert_instances", "ix_alert_instances_state", ["state"], unique=False)
    index(
        "alert_instances",
        "ux_alert_instances_open",
        ["rule_id", "group_key"],
        unique=True,
        sqlite_where=sa.text("state != 'resolved'"),
        postgresql_where=sa.text("state != 'resolved'"),
    )
    table(
        "alert_maintenance",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("rule_id", sa.String(length=128), nullable=True),
        sa.Column("group_pattern", sa.String(length=512), nullable=True),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.String(length=1024), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    index("alert_maintenance", "ix_alert_maintenance_ends", ["ends_at"], unique=False)
    table(
        "alert_mutes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("rule_id", sa.String(length=128), nullable=False),
        sa.Column("group_key", sa.String(length=512), nullable=True),
        sa.Column("until", sa.DateTime(timezone=True), nullable=False),
        sa.Column("comment", sa.String(length=1024), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lifted_by", sa.String(length=64), nullable=True),
        sa.Column("lifted_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    index("alert_mutes", "ix_alert_mutes_rule", ["rule_id", "until"], unique=False)
    table(
        "alert_rule_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("rule_id", sa.String(length=128), nullable=False),
        sa.Column("moment_ms", sa.BigInteger(), nullable=False),
        sa.Column("claimed_by", sa.String(length=128), nullable=False),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("outcome", sa.String(length=1024), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("rule_id", "moment_ms", name="uq_alert_rule_runs_moment"),
    )
    index("alert_rule_runs", "ix_alert_rule_runs_moment", ["moment_ms"], unique=False)
    table(
        "alert_rule_state",
        sa.Column("rule_id", sa.String(length=128), nullable=False),
        sa.Column("last_moment_ms", sa.BigInteger(), nullable=True),
        sa.Column("last_run_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.String(length=1024), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("rule_id"),
    )
    table(
        "alert_ui_rules",
        sa.Column("rule_id", sa.String(length=128), nullable=False),
        sa.Column("definition", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(length=64), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("rule_id"),
    )
    table(
        "error_group_sync",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("synced_until", sa.DateTime(timezone=True), nullable=False),
        sa.Column("synced_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    table(
        "error_groups",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("title", sa.String(length=256), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("first_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("regressed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("regression", sa.Boolean(), nullable=False),
        sa.Column("status_by", sa.String(length=64), nullable=True),
        sa.Column("status_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("merged_into", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["merged_into"], ["error_groups.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("fingerprint"),
    )
    index("error_groups", "ix_error_groups_created", ["created_at"], unique=False)
    index("error_groups", "ix_error_groups_merged", ["merged_into"], unique=False)
    index("error_groups", "ix_error_groups_regressed", ["regressed_at"], unique=False)
    table(
        "login_failures",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("address", sa.String(length=64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    index("login_failures", "ix_login_failures_address_at", ["address", "at"], unique=False)
    index("login_failures", "ix_login_failures_at", ["at"], unique=False)
    index("login_failures", "ix_login_failures_username_at", ["username", "at"], unique=False)
    table(
        "provider_notes",
        sa.Column("provider", sa.String(length=256), nullable=False),
        sa.Column("owner", sa.String(length=128), nullable=False),
        sa.Column("slo_target", sa.Float(), nullable=True),
        sa.Column("quiet_at_night", sa.Boolean(), nullable=False),
        sa.Column("note", sa.String(length=1000), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("provider"),
    )
    table(
        "provider_states",
        sa.Column("provider", sa.String(length=256), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("since", sa.DateTime(timezone=True), nullable=False),
        sa.Column("checked_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("provider"),
    )
    table(
        "users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("must_change_password", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_login_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("username"),
    )
    table(
        "alert_deliveries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("instance_id", sa.Integer(), nullable=False),
        sa.Column("destination", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("claimed_by", sa.String(length=128), nullable=True),
        sa.Column("last_error", sa.String(length=1024), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["instance_id"], ["alert_instances.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    index("alert_deliveries", "ix_alert_deliveries_due", ["status", "next_attempt_at"], unique=False)
    index("alert_deliveries", "ix_alert_deliveries_instance", ["instance_id", "destination", "id"], unique=False)
    table(
        "alert_history",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("instance_id", sa.Integer(), nullable=True),
        sa.Column("rule_id", sa.String(length=128), nullable=True),
        sa.Column("group_key", sa.String(length=512), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("from_state", sa.String(length=16), nullable=True),
        sa.Column("to_state", sa.String(length=16), nullable=True),
        sa.Column("comment", sa.String(length=2048), nullable=False),
        sa.ForeignKeyConstraint(["instance_id"], ["alert_instances.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    index("alert_history", "ix_alert_history_at", ["at"], unique=False)
    index("alert_history", "ix_alert_history_instance", ["instance_id", "id"], unique=False)
    index("alert_history", "ix_alert_history_rule", ["rule_id", "at"], unique=False)
    table(
        "api_keys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("display", sa.String(length=16), nullable=False),
        sa.Column("scopes", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["created_by"], ["users.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key_hash"),
    )
    table(
        "saved_searches",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("query", sa.String(length=4096), nullable=False),
        sa.Column("time_from", sa.String(length=64), nullable=True),
        sa.Column("time_to", sa.String(length=64), nullable=True),
        sa.Column("shared_role", sa.String(length=32), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["owner_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    table(
        "stored_dashboards",
        sa.Column("id", sa.String(length=80), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=False),
        sa.Column("owner_name", sa.String(length=64), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("yaml_text", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["owner_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    index("stored_dashboards", "ix_stored_dashboards_owner_id", ["owner_id"], unique=False)
    table(
        "user_sessions",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("user_agent", sa.String(length=256), nullable=True),
        sa.Column("address", sa.String(length=64), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_why", sa.String(length=32), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    index("user_sessions", "ix_user_sessions_seen", ["last_seen_at"], unique=False)
    index("user_sessions", "ix_user_sessions_user", ["user_id", "ended_at"], unique=False)
    return metadata


def upgrade() -> None:
    bind = op.get_bind()
    present = set(sa.inspect(bind).get_table_names())
    for table in schema().sorted_tables:
        if table.name in present:
            _complete(bind, table)
        else:
            table.create(bind)


def _complete(bind, table: sa.Table) -> None:
    """`table` as an earlier release left it: the columns and indexes it lacks, added."""
    inspector = sa.inspect(bind)
    columns = {c["name"] for c in inspector.get_columns(table.name)}
    for column in table.columns:
        if column.name in columns:
            continue
        if not column.nullable:
            raise RuntimeError(
                f"meta database: column {table.name}.{column.name} is missing and, being "
                "NOT NULL without a default, cannot be added to the rows already there"
            )
        op.add_column(table.name, sa.Column(column.name, column.type, nullable=True))
    indexes = {i["name"] for i in inspector.get_indexes(table.name)}
    for index in table.indexes:
        if index.name not in indexes:
            index.create(bind)


def downgrade() -> None:
    raise NotImplementedError("the baseline is not undone: restore a backup of the meta database instead")
