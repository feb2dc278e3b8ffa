"""Outbox of events to tell, the job queue (procrastinate), mail deliveries and preferences

Revision ID: 0013
Revises: 0011
Create Date: 2026-12-02 18:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from procrastinate.schema import SchemaManager
from sqlalchemy.dialects import postgresql

revision: str = "0013"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# What procrastinate's schema creates, for the downgrade (its package has no drop script).
_QUEUE_TABLES = (
    "procrastinate_events",
    "procrastinate_periodic_defers",
    "procrastinate_jobs",
    "procrastinate_workers",
)
_QUEUE_TYPES = (
    "procrastinate_job_to_defer_v1",
    "procrastinate_job_event_type",
    "procrastinate_job_status",
)


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "outbox_events",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column(
            "txid",
            sa.BigInteger(),
            server_default=sa.text("(pg_current_xact_id()::text::bigint)"),
            nullable=False,
        ),
        sa.Column("kind", sa.String(length=50), nullable=False),
        sa.Column("audience", sa.String(length=20), nullable=False),
        sa.Column(
            "occurred_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("client_id", sa.Uuid(), nullable=True),
        sa.Column("work_order_id", sa.Uuid(), nullable=True),
        sa.Column("visit_id", sa.Uuid(), nullable=True),
        sa.Column("engineer_id", sa.Uuid(), nullable=True),
        sa.Column(
            "payload", postgresql.JSONB(astext_type=sa.Text()), server_default="{}", nullable=False
        ),
        sa.Column(
            "staff", postgresql.JSONB(astext_type=sa.Text()), server_default="{}", nullable=False
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox_events")),
    )
    op.create_index("ix_outbox_events_txid_id", "outbox_events", ["txid", "id"])
    op.create_index("ix_outbox_events_client_id_id", "outbox_events", ["client_id", "id"])
    # Listeners wake when a transaction that wrote events commits (never on rollback).
    op.execute(
        """
        CREATE FUNCTION fsm_outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify('fsm_outbox', '');
            RETURN NULL;
        END;
        $$;
        CREATE TRIGGER outbox_events_notify AFTER INSERT ON outbox_events
            FOR EACH STATEMENT EXECUTE FUNCTION fsm_outbox_notify();
        """
    )
    op.create_table(
        "outbox_consumers",
        sa.Column("name", sa.String(length=50), nullable=False),
        sa.Column("txid", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("event_id", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_outbox_consumers")),
    )
    op.add_column(
        "users", sa.Column("language", sa.String(length=5), server_default="en", nullable=False)
    )
    op.create_table(
        "notification_preferences",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=50), nullable=False),
        sa.Column("by_mail", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_notification_preferences_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", "kind", name=op.f("pk_notification_preferences")),
    )
    status = postgresql.ENUM("pending", "sent", "failed", name="mail_delivery_status")
    op.create_table(
        "mail_deliveries",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("event_id", sa.BigInteger(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("address", sa.String(length=320), nullable=False),
        sa.Column("language", sa.String(length=5), nullable=False),
        sa.Column("status", status, server_default="pending", nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["outbox_events.id"],
            name=op.f("fk_mail_deliveries_event_id_outbox_events"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_mail_deliveries_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mail_deliveries")),
        sa.UniqueConstraint(
            "event_id", "user_id", name=op.f("uq_mail_deliveries_event_id_user_id")
        ),
    )
    op.create_index(
        "ix_mail_deliveries_pending",
        "mail_deliveries",
        ["created_at"],
        postgresql_where=sa.text("status = 'pending'"),
    )
    # The job queue's own tables and functions, exactly as the pinned procrastinate ships
    # them; a procrastinate upgrade brings its migrations in a new revision.
    op.get_bind().exec_driver_sql(SchemaManager.get_schema().replace("%", "%%"))


def downgrade() -> None:
    """Revert this revision."""
    op.execute("DROP TABLE " + ", ".join(_QUEUE_TABLES) + " CASCADE")
    functions = op.get_bind().execute(
        sa.text("SELECT proname FROM pg_proc WHERE proname LIKE 'procrastinate%'")
    )
    for (name,) in functions:
        op.execute(f"DROP FUNCTION IF EXISTS {name} CASCADE")
    op.execute("DROP TYPE " + ", ".join(_QUEUE_TYPES))
    op.drop_index("ix_mail_deliveries_pending", table_name="mail_deliveries")
    op.drop_table("mail_deliveries")
    op.execute("DROP TYPE mail_delivery_status")
    op.drop_table("notification_preferences")
    op.drop_column("users", "language")
    op.drop_table("outbox_consumers")
    op.execute("DROP TRIGGER outbox_events_notify ON outbox_events")
    op.execute("DROP FUNCTION fsm_outbox_notify()")
    op.drop_index("ix_outbox_events_client_id_id", table_name="outbox_events")
    op.drop_index("ix_outbox_events_txid_id", table_name="outbox_events")
    op.drop_table("outbox_events")
