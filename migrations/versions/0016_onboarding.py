"""Onboarding: external keys matched by re-imports, unlocated sites, import runs

Revision ID: 0016
Revises: 0011
Create Date: 2026-12-02 18:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0016"
down_revision: str | None = "0011"
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


def downgrade() -> None:
    """Revert this revision."""
    op.drop_table("import_runs")
    op.execute("DROP TYPE import_status")
    # Unlocated sites have no point to keep; they cannot survive the NOT NULL.
    op.execute("DELETE FROM sites WHERE location IS NULL")
    op.alter_column("sites", "location", nullable=False)
    for table in reversed(_KEYED):
        op.drop_constraint(f"uq_{table}_external_key", table, type_="unique")
        op.drop_column(table, "external_key")
