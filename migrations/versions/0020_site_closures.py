"""Site closure days: planning sends no work to a site on the days it is shut

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-03 15:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "site_closures",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("site_id", sa.Uuid(), nullable=False),
        sa.Column("first_day", sa.Date(), nullable=False),
        sa.Column("last_day", sa.Date(), nullable=False),
        sa.Column("reason", sa.String(200), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.CheckConstraint(
            "first_day <= last_day", name=op.f("ck_site_closures_first_day_not_after_last")
        ),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name="fk_site_closures_site_id_sites", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_site_closures"),
    )
    op.create_index("ix_site_closures_site_id_first_day", "site_closures", ["site_id", "first_day"])


def downgrade() -> None:
    """Revert this revision."""
    op.drop_index("ix_site_closures_site_id_first_day", table_name="site_closures")
    op.drop_table("site_closures")
