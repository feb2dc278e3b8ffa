"""Checklist templates, versions and runs

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23 13:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "checklist_templates",
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), server_default="", nullable=False),
        sa.Column("is_active", sa.Boolean(), server_default="true", nullable=False),
        sa.Column(
            "categories",
            postgresql.ARRAY(sa.String(length=100)),
            server_default="{}",
            nullable=False,
        ),
        sa.Column(
            "work_types",
            postgresql.ARRAY(sa.String(length=30)),
            server_default="{}",
            nullable=False,
        ),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_checklist_templates")),
    )
    op.create_table(
        "checklist_template_models",
        sa.Column("template_id", sa.Uuid(), nullable=False),
        sa.Column("equipment_model_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["equipment_model_id"],
            ["equipment_models.id"],
            name=op.f("fk_checklist_template_models_equipment_model_id_equipment_models"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["template_id"],
            ["checklist_templates.id"],
            name=op.f("fk_checklist_template_models_template_id_checklist_templates"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "template_id", "equipment_model_id", name=op.f("pk_checklist_template_models")
        ),
    )
    op.create_index(
        op.f("ix_checklist_template_models_equipment_model_id"),
        "checklist_template_models",
        ["equipment_model_id"],
        unique=False,
    )
    op.create_table(
        "checklist_template_versions",
        sa.Column("template_id", sa.Uuid(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("definition", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["users.id"],
            name=op.f("fk_checklist_template_versions_created_by_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["template_id"],
            ["checklist_templates.id"],
            name=op.f("fk_checklist_template_versions_template_id_checklist_templates"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_checklist_template_versions")),
        sa.UniqueConstraint(
            "template_id",
            "version",
            name=op.f("uq_checklist_template_versions_template_id_version"),
        ),
    )
    op.create_index(
        "uq_checklist_template_versions_one_draft",
        "checklist_template_versions",
        ["template_id"],
        unique=True,
        postgresql_where=sa.text("published_at IS NULL"),
    )
    op.create_table(
        "checklist_runs",
        sa.Column("visit_id", sa.Uuid(), nullable=False),
        sa.Column("template_version_id", sa.Uuid(), nullable=False),
        sa.Column(
            "status",
            sa.Enum("not_started", "in_progress", "complete", name="checklist_run_status"),
            nullable=False,
        ),
        sa.Column("required_total", sa.Integer(), server_default="0", nullable=False),
        sa.Column("required_answered", sa.Integer(), server_default="0", nullable=False),
        sa.Column("open_findings", sa.Integer(), server_default="0", nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["template_version_id"],
            ["checklist_template_versions.id"],
            name=op.f("fk_checklist_runs_template_version_id_checklist_template_versions"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["visit_id"],
            ["visits.id"],
            name=op.f("fk_checklist_runs_visit_id_visits"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_checklist_runs")),
        sa.UniqueConstraint("visit_id", name=op.f("uq_checklist_runs_visit_id")),
    )
    op.create_index(
        op.f("ix_checklist_runs_template_version_id"),
        "checklist_runs",
        ["template_version_id"],
        unique=False,
    )
    op.create_table(
        "checklist_answers",
        sa.Column("run_id", sa.Uuid(), nullable=False),
        sa.Column("item_key", sa.String(length=63), nullable=False),
        sa.Column("value", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("flag", sa.String(length=30), nullable=True),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("answered_by", sa.Uuid(), nullable=True),
        sa.Column(
            "recorded_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["answered_by"],
            ["users.id"],
            name=op.f("fk_checklist_answers_answered_by_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["checklist_runs.id"],
            name=op.f("fk_checklist_answers_run_id_checklist_runs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("run_id", "item_key", name=op.f("pk_checklist_answers")),
    )
    op.create_table(
        "checklist_findings",
        sa.Column("run_id", sa.Uuid(), nullable=False),
        sa.Column("work_order_id", sa.Uuid(), nullable=False),
        sa.Column("item_key", sa.String(length=63), nullable=False),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("message", sa.String(length=500), nullable=False),
        sa.Column("follow_up_work_order_id", sa.Uuid(), nullable=True),
        sa.Column("raised_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("cleared_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["follow_up_work_order_id"],
            ["work_orders.id"],
            name=op.f("fk_checklist_findings_follow_up_work_order_id_work_orders"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["checklist_runs.id"],
            name=op.f("fk_checklist_findings_run_id_checklist_runs"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["work_order_id"],
            ["work_orders.id"],
            name=op.f("fk_checklist_findings_work_order_id_work_orders"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_checklist_findings")),
        sa.UniqueConstraint(
            "run_id", "item_key", name=op.f("uq_checklist_findings_run_id_item_key")
        ),
    )
    op.create_index(
        "ix_checklist_findings_open_raised_at",
        "checklist_findings",
        ["raised_at"],
        unique=False,
        postgresql_where=sa.text("cleared_at IS NULL"),
    )
    op.create_index(
        "ix_checklist_findings_work_order_id", "checklist_findings", ["work_order_id"], unique=False
    )
    op.create_foreign_key(
        op.f("fk_equipment_models_default_checklist_template_id_checklist_templates"),
        "equipment_models",
        "checklist_templates",
        ["default_checklist_template_id"],
        ["id"],
        ondelete="SET NULL",
    )


def downgrade() -> None:
    """Revert this revision."""
    op.drop_constraint(
        op.f("fk_equipment_models_default_checklist_template_id_checklist_templates"),
        "equipment_models",
        type_="foreignkey",
    )
    op.drop_index("ix_checklist_findings_work_order_id", table_name="checklist_findings")
    op.drop_index(
        "ix_checklist_findings_open_raised_at",
        table_name="checklist_findings",
        postgresql_where=sa.text("cleared_at IS NULL"),
    )
    op.drop_table("checklist_findings")
    op.drop_table("checklist_answers")
    op.drop_index(op.f("ix_checklist_runs_template_version_id"), table_name="checklist_runs")
    op.drop_table("checklist_runs")
    op.drop_index(
        "uq_checklist_template_versions_one_draft",
        table_name="checklist_template_versions",
        postgresql_where=sa.text("published_at IS NULL"),
    )
    op.drop_table("checklist_template_versions")
    op.drop_index(
        op.f("ix_checklist_template_models_equipment_model_id"),
        table_name="checklist_template_models",
    )
    op.drop_table("checklist_template_models")
    op.drop_table("checklist_templates")
    op.execute("DROP TYPE checklist_run_status")
