"""Site contacts (a client contact tied to one site) and the requester of a work order

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-03 16:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    op.add_column("client_contacts", sa.Column("site_id", sa.Uuid(), nullable=True))
    op.create_foreign_key(
        "fk_client_contacts_site_id_sites",
        "client_contacts",
        "sites",
        ["site_id"],
        ["id"],
        ondelete="SET NULL",
    )
    op.create_index("ix_client_contacts_site_id", "client_contacts", ["site_id"])
    op.add_column("work_orders", sa.Column("requester_contact_id", sa.Uuid(), nullable=True))
    op.create_foreign_key(
        "fk_work_orders_requester_contact_id_client_contacts",
        "work_orders",
        "client_contacts",
        ["requester_contact_id"],
        ["id"],
        ondelete="SET NULL",
    )


def downgrade() -> None:
    """Revert this revision."""
    op.drop_constraint(
        "fk_work_orders_requester_contact_id_client_contacts", "work_orders", type_="foreignkey"
    )
    op.drop_column("work_orders", "requester_contact_id")
    op.drop_index("ix_client_contacts_site_id", table_name="client_contacts")
    op.drop_constraint("fk_client_contacts_site_id_sites", "client_contacts", type_="foreignkey")
    op.drop_column("client_contacts", "site_id")
