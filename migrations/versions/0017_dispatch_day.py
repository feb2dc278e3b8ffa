"""A dispatcher's real day: visit locks (engineer, time) and the day a draft started from

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-02 18:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    op.add_column("visits", sa.Column("locked_engineer_id", sa.Uuid(), nullable=True))
    op.create_foreign_key(
        "fk_visits_locked_engineer_id_engineers",
        "visits",
        "engineers",
        ["locked_engineer_id"],
        ["id"],
        ondelete="RESTRICT",
    )
    op.add_column("visits", sa.Column("locked_start_at", sa.DateTime(timezone=True)))
    op.create_index("ix_visits_locked_engineer_id", "visits", ["locked_engineer_id"])
    op.add_column("dispatch_plans", sa.Column("day_before", postgresql.JSONB()))


def downgrade() -> None:
    """Revert this revision."""
    op.drop_column("dispatch_plans", "day_before")
    op.drop_index("ix_visits_locked_engineer_id", table_name="visits")
    op.drop_constraint("fk_visits_locked_engineer_id_engineers", "visits", type_="foreignkey")
    op.drop_column("visits", "locked_start_at")
    op.drop_column("visits", "locked_engineer_id")
