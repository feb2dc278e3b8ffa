"""Dispatch plan runs in the background

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23 13:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

plan_kind = sa.Enum("day", "insert", name="dispatch_plan_kind")


def upgrade() -> None:
    """Apply this revision."""
    # Allowed in a transaction since PostgreSQL 12 as long as this transaction does not use it.
    op.execute("ALTER TYPE dispatch_plan_status ADD VALUE IF NOT EXISTS 'solving' BEFORE 'draft'")
    plan_kind.create(op.get_bind(), checkfirst=True)
    op.add_column(
        "dispatch_plans",
        sa.Column("kind", plan_kind, server_default="day", nullable=False),
    )
    op.add_column("dispatch_plans", sa.Column("base_plan_id", sa.Uuid(), nullable=True))
    op.add_column(
        "dispatch_plans",
        sa.Column("progress", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    )
    op.add_column("dispatch_plans", sa.Column("error", sa.Text(), nullable=True))
    op.add_column(
        "dispatch_plans",
        sa.Column("solve_until_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.add_column(
        "dispatch_plans",
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_foreign_key(
        op.f("fk_dispatch_plans_base_plan_id_dispatch_plans"),
        "dispatch_plans",
        "dispatch_plans",
        ["base_plan_id"],
        ["id"],
        ondelete="SET NULL",
    )
    op.create_index(op.f("ix_dispatch_plans_base_plan_id"), "dispatch_plans", ["base_plan_id"])
    # Failed runs kept their message inside the plan document until now.
    op.execute(
        "UPDATE dispatch_plans SET error = plan ->> 'error', plan = '{}'::jsonb "
        "WHERE plan ->> 'error' IS NOT NULL"
    )


def downgrade() -> None:
    """Revert this revision."""
    op.execute(
        "UPDATE dispatch_plans SET plan = jsonb_build_object('error', error) "
        "WHERE error IS NOT NULL"
    )
    op.execute("UPDATE dispatch_plans SET status = 'failed' WHERE status = 'solving'")
    op.drop_index(op.f("ix_dispatch_plans_base_plan_id"), table_name="dispatch_plans")
    op.drop_constraint(
        op.f("fk_dispatch_plans_base_plan_id_dispatch_plans"), "dispatch_plans", type_="foreignkey"
    )
    op.drop_column("dispatch_plans", "finished_at")
    op.drop_column("dispatch_plans", "solve_until_at")
    op.drop_column("dispatch_plans", "error")
    op.drop_column("dispatch_plans", "progress")
    op.drop_column("dispatch_plans", "base_plan_id")
    op.drop_column("dispatch_plans", "kind")
    plan_kind.drop(op.get_bind(), checkfirst=True)
    # PostgreSQL cannot drop an enum value: rebuild the type without it.
    op.execute("ALTER TYPE dispatch_plan_status RENAME TO dispatch_plan_status_old")
    op.execute(
        "CREATE TYPE dispatch_plan_status AS ENUM ('draft', 'committed', 'superseded', 'failed')"
    )
    op.execute(
        "ALTER TABLE dispatch_plans ALTER COLUMN status TYPE dispatch_plan_status "
        "USING status::text::dispatch_plan_status"
    )
    op.execute("DROP TYPE dispatch_plan_status_old")
