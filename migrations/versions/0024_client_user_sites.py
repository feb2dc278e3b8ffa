"""Client users limited to some of their company's sites (a branch manager sees one branch)

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-04 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0024"
down_revision: str | None = "0023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    # No rows for a user means the whole company, so every existing user keeps what they see.
    # The targets of the foreign keys below, which keep a user's sites within their company.
    op.create_unique_constraint(op.f("uq_users_id_client_id"), "users", ["id", "client_id"])
    op.create_unique_constraint(op.f("uq_sites_id_client_id"), "sites", ["id", "client_id"])
    op.create_table(
        "client_user_sites",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("site_id", sa.Uuid(), nullable=False),
        sa.Column("client_id", sa.Uuid(), nullable=False),
        # Over client_id: only a client user (who has one) gets sites, and only its company's.
        sa.ForeignKeyConstraint(
            ["user_id", "client_id"],
            ["users.id", "users.client_id"],
            name=op.f("fk_client_user_sites_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["site_id", "client_id"],
            ["sites.id", "sites.client_id"],
            name=op.f("fk_client_user_sites_site_id_sites"),
            # Not CASCADE: a user losing their last site would see the whole company.
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("user_id", "site_id", name=op.f("pk_client_user_sites")),
    )
    op.create_index(
        op.f("ix_client_user_sites_site_id"), "client_user_sites", ["site_id"], unique=False
    )


def downgrade() -> None:
    """Revert this revision."""
    op.drop_index(op.f("ix_client_user_sites_site_id"), table_name="client_user_sites")
    op.drop_table("client_user_sites")
    op.drop_constraint(op.f("uq_sites_id_client_id"), "sites", type_="unique")
    op.drop_constraint(op.f("uq_users_id_client_id"), "users", type_="unique")
