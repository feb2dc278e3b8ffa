"""Client admins: a client user who invites and removes their own company's users

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-03 16:15:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    op.add_column(
        "users",
        sa.Column("is_client_admin", sa.Boolean(), server_default="false", nullable=False),
    )
    op.create_check_constraint(
        op.f("ck_users_client_admins_are_clients"),
        "users",
        "role = 'client' OR NOT is_client_admin",
    )


def downgrade() -> None:
    """Revert this revision."""
    op.drop_constraint(op.f("ck_users_client_admins_are_clients"), "users", type_="check")
    op.drop_column("users", "is_client_admin")
