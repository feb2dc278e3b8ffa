"""Mail in (received messages held for a dispatcher), webhook endpoints and their deliveries

Revision ID: 0017
Revises: 0011
Create Date: 2026-12-02 18:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0017"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MAIL_STATE = postgresql.ENUM(
    "accepted", "held", "discarded", name="inbound_mail_state", create_type=False
)
HOLD_REASON = postgresql.ENUM(
    "unknown_sender",
    "ambiguous_sender",
    "site_unknown",
    "not_the_senders_order",
    name="inbound_mail_hold_reason",
    create_type=False,
)


def upgrade() -> None:
    """Apply this revision."""
    MAIL_STATE.create(op.get_bind())
    HOLD_REASON.create(op.get_bind())
    op.create_table(
        "inbound_mails",
        sa.Column("message_id", sa.String(998), nullable=False),
        sa.Column("sender", sa.String(320), nullable=False),
        sa.Column("subject", sa.String(998), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column(
            "received_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("state", MAIL_STATE, nullable=False),
        sa.Column("hold_reason", HOLD_REASON, nullable=True),
        sa.Column("client_id", sa.Uuid(), nullable=True),
        sa.Column("work_order_id", sa.Uuid(), nullable=True),
        sa.Column("image_count", sa.SmallInteger(), server_default="0", nullable=False),
        sa.Column("raw", sa.LargeBinary(), nullable=True),
        sa.Column("decided_by_id", sa.Uuid(), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["clients.id"],
            name=op.f("fk_inbound_mails_client_id_clients"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["work_order_id"],
            ["work_orders.id"],
            name=op.f("fk_inbound_mails_work_order_id_work_orders"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["decided_by_id"],
            ["users.id"],
            name=op.f("fk_inbound_mails_decided_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inbound_mails")),
        sa.UniqueConstraint("message_id", name=op.f("uq_inbound_mails_message_id")),
    )
    op.create_index("ix_inbound_mails_state_received_at", "inbound_mails", ["state", "received_at"])
    op.create_index(op.f("ix_inbound_mails_work_order_id"), "inbound_mails", ["work_order_id"])


def downgrade() -> None:
    """Revert this revision."""
    op.drop_table("inbound_mails")
    HOLD_REASON.drop(op.get_bind())
    MAIL_STATE.drop(op.get_bind())
