"""Onboarding: external keys matched by re-imports, unlocated sites, import runs; versioned
SLA policies and calendars; the audit log of admin changes;
one-time password reset tokens

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-02 18:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_KEYED = ("clients", "client_contacts", "sites", "equipment_models", "equipment")


def upgrade() -> None:
    """Apply this revision."""
    for table in _KEYED:
        op.add_column(table, sa.Column("external_key", sa.String(100), nullable=True))
        op.create_unique_constraint(f"uq_{table}_external_key", table, ["external_key"])
    # A site imported without coordinates is kept, unlocated, rather than refused.
    op.alter_column("sites", "location", nullable=True)
    import_status = postgresql.ENUM(
        "running", "checked", "done", "rejected", name="import_status", create_type=False
    )
    import_status.create(op.get_bind(), checkfirst=True)
    op.create_table(
        "import_runs",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(50), nullable=False),
        sa.Column("file_format", sa.String(10), nullable=False),
        sa.Column("is_dry_run", sa.Boolean(), nullable=False),
        sa.Column("status", import_status, nullable=False),
        sa.Column("total_rows", sa.Integer(), nullable=False),
        sa.Column("processed_rows", sa.Integer(), nullable=False),
        sa.Column("created_rows", sa.Integer(), nullable=False),
        sa.Column("updated_rows", sa.Integer(), nullable=False),
        sa.Column("unchanged_rows", sa.Integer(), nullable=False),
        sa.Column("problems", postgresql.JSONB(), nullable=False),
        sa.Column("started_by_id", sa.Uuid(), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["started_by_id"],
            ["users.id"],
            name="fk_import_runs_started_by_id_users",
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_import_runs"),
    )

    # Versioned SLA terms: an edit writes the next version; names are unique among current ones.
    for table in ("sla_calendars", "sla_policies"):
        op.add_column(table, sa.Column("family_id", sa.Uuid(), nullable=True))
        op.execute(f"UPDATE {table} SET family_id = id")  # noqa: S608 - our own table names
        op.alter_column(table, "family_id", nullable=False)
        op.create_index(f"ix_{table}_family_id", table, ["family_id"])
        op.add_column(table, sa.Column("version", sa.Integer(), server_default="1", nullable=False))
        op.add_column(table, sa.Column("superseded_at", sa.DateTime(timezone=True), nullable=True))
        op.drop_constraint(f"uq_{table}_name", table, type_="unique")
        op.create_index(
            f"uq_{table}_current_name",
            table,
            ["name"],
            unique=True,
            postgresql_where=sa.text("superseded_at IS NULL"),
        )
    op.add_column("work_orders", sa.Column("sla_policy_version", sa.Integer(), nullable=True))
    op.create_table(
        "audit_entries",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("actor_id", sa.Uuid(), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("action", sa.String(20), nullable=False),
        sa.Column("entity", sa.String(100), nullable=False),
        sa.Column("entity_id", sa.String(100), nullable=False),
        sa.Column("before", postgresql.JSONB(), nullable=False),
        sa.Column("after", postgresql.JSONB(), nullable=False),
        sa.ForeignKeyConstraint(
            ["actor_id"], ["users.id"], name="fk_audit_entries_actor_id_users", ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_audit_entries"),
    )
    op.create_index("ix_audit_entries_entity_entity_id", "audit_entries", ["entity", "entity_id"])
    op.create_index("ix_audit_entries_at", "audit_entries", ["at"])
    op.create_table(
        "one_time_tokens",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("purpose", sa.String(30), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_one_time_tokens_user_id_users", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_one_time_tokens"),
        sa.UniqueConstraint("token_hash", name="uq_one_time_tokens_token_hash"),
    )
    op.create_index("ix_one_time_tokens_user_id", "one_time_tokens", ["user_id"])
    op.execute("UPDATE work_orders SET sla_policy_version = 1 WHERE sla_policy_id IS NOT NULL")


def downgrade() -> None:
    """Revert this revision."""
    op.drop_table("one_time_tokens")
    op.drop_table("audit_entries")
    op.drop_column("work_orders", "sla_policy_version")
    for table in ("sla_policies", "sla_calendars"):
        # Superseded versions may share names with current ones; only current ones stay.
        op.drop_index(f"uq_{table}_current_name", table_name=table)
        # Our own table names, not input.
        op.execute(
            f"UPDATE {table} SET name = left(name, 180) || ' (v' || version || ')' "  # noqa: S608
            "WHERE superseded_at IS NOT NULL"
        )
        op.create_unique_constraint(f"uq_{table}_name", table, ["name"])
        op.drop_column(table, "superseded_at")
        op.drop_column(table, "version")
        op.drop_index(f"ix_{table}_family_id", table_name=table)
        op.drop_column(table, "family_id")
    op.drop_table("import_runs")
    op.execute("DROP TYPE import_status")
    # Unlocated sites have no point to keep; they cannot survive the NOT NULL.
    op.execute("DELETE FROM sites WHERE location IS NULL")
    op.alter_column("sites", "location", nullable=False)
    for table in reversed(_KEYED):
        op.drop_constraint(f"uq_{table}_external_key", table, type_="unique")
        op.drop_column(table, "external_key")
