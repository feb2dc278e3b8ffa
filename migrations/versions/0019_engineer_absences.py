"""Engineer absences (vacation, sickness, training): planning and assignment leave them out

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-03 15:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    absence_kind = postgresql.ENUM(
        "vacation", "sickness", "training", "other", name="absence_kind", create_type=False
    )
    absence_kind.create(op.get_bind(), checkfirst=True)
    op.create_table(
        "engineer_absences",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("engineer_id", sa.Uuid(), nullable=False),
        sa.Column("kind", absence_kind, nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("created_by_id", sa.Uuid(), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.CheckConstraint(
            "starts_at < ends_at", name=op.f("ck_engineer_absences_starts_before_it_ends")
        ),
        sa.ForeignKeyConstraint(
            ["engineer_id"],
            ["engineers.id"],
            name="fk_engineer_absences_engineer_id_engineers",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["users.id"],
            name="fk_engineer_absences_created_by_id_users",
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_engineer_absences"),
    )
    op.create_index(
        "ix_engineer_absences_engineer_id_starts_at",
        "engineer_absences",
        ["engineer_id", "starts_at"],
    )


def downgrade() -> None:
    """Revert this revision."""
    op.drop_index("ix_engineer_absences_engineer_id_starts_at", table_name="engineer_absences")
    op.drop_table("engineer_absences")
    op.execute("DROP TYPE absence_kind")
