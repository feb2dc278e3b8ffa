"""Hot paths at a million work orders; planned maintenance on preferred hours

Queue indexes the plans use at scale: open work by next deadline (partial), orders still
waiting for a reaction by next deadline (partial), the id as the keyset tie-breaker of the
"newest first" indexes, and covered by the priority-and-status index. Visits get `weekly_hours`: the hours within their window work
may start (planned maintenance on the contract's preferred weekdays and hours the site is
open).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02 18:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OPEN = "status IN ('new', 'scheduled', 'in_progress', 'on_hold', 'reopened')"


def upgrade() -> None:
    """Apply this revision."""
    op.add_column(
        "visits",
        sa.Column(
            "weekly_hours",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default="[]",
            nullable=False,
        ),
    )
    op.create_index(
        "ix_work_orders_open_sla_next_due_at",
        "work_orders",
        ["sla_next_due_at", "id"],
        postgresql_where=sa.text(OPEN),
    )
    op.create_index(
        "ix_work_orders_awaiting_reaction_sla_next_due_at",
        "work_orders",
        ["sla_next_due_at", "id"],
        postgresql_where=sa.text("first_response_at IS NULL"),
    )
    op.drop_index("ix_work_orders_priority_status", table_name="work_orders")
    op.create_index(
        "ix_work_orders_priority_status",
        "work_orders",
        ["priority", "status"],
        postgresql_include=["id"],
    )
    for name, columns in (
        ("ix_work_orders_client_id_created_at", ["client_id", "created_at"]),
        ("ix_work_orders_site_id_created_at", ["site_id", "created_at"]),
        ("ix_work_orders_created_at", ["created_at"]),
    ):
        op.drop_index(name, table_name="work_orders")
        op.create_index(
            name.replace("created_at", "created_at_id"), "work_orders", [*columns, "id"]
        )


def downgrade() -> None:
    """Revert this revision."""
    for name, columns in (
        ("ix_work_orders_client_id_created_at", ["client_id", "created_at"]),
        ("ix_work_orders_site_id_created_at", ["site_id", "created_at"]),
        ("ix_work_orders_created_at", ["created_at"]),
    ):
        op.drop_index(name.replace("created_at", "created_at_id"), table_name="work_orders")
        op.create_index(name, "work_orders", columns)
    op.drop_index("ix_work_orders_priority_status", table_name="work_orders")
    op.create_index("ix_work_orders_priority_status", "work_orders", ["priority", "status"])
    op.drop_index("ix_work_orders_awaiting_reaction_sla_next_due_at", table_name="work_orders")
    op.drop_index("ix_work_orders_open_sla_next_due_at", table_name="work_orders")
    op.drop_column("visits", "weekly_hours")
