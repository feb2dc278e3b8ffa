"""Mobile app: idempotency keys, change feed, positions, ratings

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-23 13:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# The engineer change feed is fed by the database itself, so every writer (visit service,
# dispatch plans, work-order cancellation, bulk SQL) is covered:
# - a visit inserted or changed: a row for its engineer, and for the previous engineer when
#   it moved away from them (the feed then says "removed");
# - a work order's details changed: a row per engineer with a visit on it;
# - a comment added: a row per engineer with a (not cancelled) visit on its work order.
_FEED_TRIGGERS = (
    """
    CREATE FUNCTION engineer_changes_from_visit() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'UPDATE' AND OLD.engineer_id IS NOT NULL
           AND OLD.engineer_id IS DISTINCT FROM NEW.engineer_id THEN
            INSERT INTO engineer_changes (engineer_id, visit_id, kind)
            VALUES (OLD.engineer_id, OLD.id, 'visit');
        END IF;
        IF NEW.engineer_id IS NOT NULL THEN
            INSERT INTO engineer_changes (engineer_id, visit_id, kind)
            VALUES (NEW.engineer_id, NEW.id, 'visit');
        END IF;
        RETURN NULL;
    END
    $$
    """,
    """
    CREATE TRIGGER engineer_changes_on_visit_insert AFTER INSERT ON visits
    FOR EACH ROW WHEN (NEW.engineer_id IS NOT NULL)
    EXECUTE FUNCTION engineer_changes_from_visit()
    """,
    """
    CREATE TRIGGER engineer_changes_on_visit_update AFTER UPDATE ON visits
    FOR EACH ROW WHEN (OLD.* IS DISTINCT FROM NEW.*)
    EXECUTE FUNCTION engineer_changes_from_visit()
    """,
    """
    CREATE FUNCTION engineer_changes_from_work_order() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO engineer_changes (engineer_id, visit_id, kind)
        SELECT v.engineer_id, v.id, 'visit' FROM visits v
        WHERE v.work_order_id = NEW.id AND v.engineer_id IS NOT NULL
          AND v.status <> 'cancelled';
        RETURN NULL;
    END
    $$
    """,
    """
    CREATE TRIGGER engineer_changes_on_work_order_update AFTER UPDATE ON work_orders
    FOR EACH ROW WHEN (
        (OLD.title, OLD.description, OLD.type, OLD.priority, OLD.equipment_id, OLD.site_id)
        IS DISTINCT FROM
        (NEW.title, NEW.description, NEW.type, NEW.priority, NEW.equipment_id, NEW.site_id)
    )
    EXECUTE FUNCTION engineer_changes_from_work_order()
    """,
    """
    CREATE FUNCTION engineer_changes_from_comment() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO engineer_changes (engineer_id, visit_id, kind, comment_id)
        SELECT v.engineer_id, v.id, 'comment', NEW.id FROM visits v
        WHERE v.work_order_id = NEW.work_order_id AND v.engineer_id IS NOT NULL
          AND v.status <> 'cancelled';
        RETURN NULL;
    END
    $$
    """,
    """
    CREATE TRIGGER engineer_changes_on_comment_insert AFTER INSERT ON comments
    FOR EACH ROW EXECUTE FUNCTION engineer_changes_from_comment()
    """,
)
_DROP_FEED_TRIGGERS = (
    "DROP TRIGGER engineer_changes_on_comment_insert ON comments",
    "DROP FUNCTION engineer_changes_from_comment()",
    "DROP TRIGGER engineer_changes_on_work_order_update ON work_orders",
    "DROP FUNCTION engineer_changes_from_work_order()",
    "DROP TRIGGER engineer_changes_on_visit_update ON visits",
    "DROP TRIGGER engineer_changes_on_visit_insert ON visits",
    "DROP FUNCTION engineer_changes_from_visit()",
)


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "idempotency_keys",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("key", sa.Uuid(), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("method", sa.String(length=10), nullable=False),
        sa.Column("path", sa.String(length=500), nullable=False),
        sa.Column("status_code", sa.SmallInteger(), nullable=True),
        sa.Column("response_body", sa.LargeBinary(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_idempotency_keys_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", "key", name=op.f("pk_idempotency_keys")),
    )
    op.create_index("ix_idempotency_keys_expires_at", "idempotency_keys", ["expires_at"])
    op.create_table(
        "engineer_changes",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("engineer_id", sa.Uuid(), nullable=False),
        sa.Column("visit_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("comment_id", sa.Uuid(), nullable=True),
        sa.Column(
            "txid",
            sa.BigInteger(),
            server_default=sa.text("pg_current_xact_id()::text::bigint"),
            nullable=False,
        ),
        sa.Column(
            "occurred_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["engineer_id"],
            ["engineers.id"],
            name=op.f("fk_engineer_changes_engineer_id_engineers"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["visit_id"],
            ["visits.id"],
            name=op.f("fk_engineer_changes_visit_id_visits"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["comment_id"],
            ["comments.id"],
            name=op.f("fk_engineer_changes_comment_id_comments"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_engineer_changes")),
    )
    op.create_index(
        "ix_engineer_changes_engineer_id_txid_id",
        "engineer_changes",
        ["engineer_id", "txid", "id"],
    )
    # "Was this visit ever mine?" (a reassigned visit is a 410-like 404 with its own code).
    op.create_index(
        "ix_engineer_changes_engineer_id_visit_id", "engineer_changes", ["engineer_id", "visit_id"]
    )
    # The daily purge deletes by age; cascades from visits and comments find their rows.
    op.create_index("ix_engineer_changes_occurred_at", "engineer_changes", ["occurred_at"])
    op.create_index("ix_engineer_changes_visit_id", "engineer_changes", ["visit_id"])
    op.create_index("ix_engineer_changes_comment_id", "engineer_changes", ["comment_id"])
    op.add_column("visits", sa.Column("client_summary", sa.String(length=2000), nullable=True))
    for statement in _FEED_TRIGGERS:
        op.execute(statement)


def downgrade() -> None:
    """Revert this revision."""
    for statement in _DROP_FEED_TRIGGERS:
        op.execute(statement)
    op.drop_column("visits", "client_summary")
    op.drop_index("ix_engineer_changes_comment_id", table_name="engineer_changes")
    op.drop_index("ix_engineer_changes_visit_id", table_name="engineer_changes")
    op.drop_index("ix_engineer_changes_occurred_at", table_name="engineer_changes")
    op.drop_index("ix_engineer_changes_engineer_id_visit_id", table_name="engineer_changes")
    op.drop_index("ix_engineer_changes_engineer_id_txid_id", table_name="engineer_changes")
    op.drop_table("engineer_changes")
    op.drop_index("ix_idempotency_keys_expires_at", table_name="idempotency_keys")
    op.drop_table("idempotency_keys")
