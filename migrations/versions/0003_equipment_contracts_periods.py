"""equipment

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 09:47:00.409078
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    # btree_gist lets one GiST exclusion constraint compare a uuid (=) and a range (&&).
    op.execute("CREATE EXTENSION IF NOT EXISTS btree_gist")
    op.create_table(
        "equipment_models",
        sa.Column("manufacturer", sa.String(length=200), nullable=False),
        sa.Column("model", sa.String(length=200), nullable=False),
        sa.Column("category", sa.String(length=100), nullable=False),
        sa.Column("maintenance_interval_days", sa.Integer(), nullable=True),
        sa.Column("default_checklist_template_id", sa.Uuid(), nullable=True),
        sa.Column("instructions", sa.Text(), server_default="", nullable=False),
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
        sa.PrimaryKeyConstraint("id", name=op.f("pk_equipment_models")),
        sa.UniqueConstraint(
            "manufacturer", "model", name=op.f("uq_equipment_models_manufacturer_model")
        ),
    )
    op.create_index(
        op.f("ix_equipment_models_category"), "equipment_models", ["category"], unique=False
    )
    op.create_table(
        "equipment_model_skills",
        sa.Column("equipment_model_id", sa.Uuid(), nullable=False),
        sa.Column("skill_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["equipment_model_id"],
            ["equipment_models.id"],
            name=op.f("fk_equipment_model_skills_equipment_model_id_equipment_models"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["skill_id"],
            ["skills.id"],
            name=op.f("fk_equipment_model_skills_skill_id_skills"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint(
            "equipment_model_id", "skill_id", name=op.f("pk_equipment_model_skills")
        ),
    )
    op.create_index(
        op.f("ix_equipment_model_skills_skill_id"),
        "equipment_model_skills",
        ["skill_id"],
        unique=False,
    )
    op.create_table(
        "contracts",
        sa.Column("client_id", sa.Uuid(), nullable=False),
        sa.Column("number", sa.String(length=50), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("valid_to", sa.Date(), nullable=False),
        sa.Column(
            "status",
            sa.Enum("draft", "active", "suspended", "expired", name="contract_status"),
            nullable=False,
        ),
        sa.Column("sla_policy_id", sa.Uuid(), nullable=True),
        sa.Column(
            "billing_period",
            sa.Enum("month", "quarter", "year", name="billing_period"),
            nullable=False,
        ),
        sa.Column("included_labour_minutes", sa.Integer(), server_default="0", nullable=False),
        sa.Column("hourly_rate_cents", sa.Integer(), server_default="0", nullable=False),
        sa.Column("callout_fee_cents", sa.Integer(), server_default="0", nullable=False),
        sa.Column("currency", sa.String(length=3), server_default="EUR", nullable=False),
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
        sa.CheckConstraint(
            "included_labour_minutes >= 0", name=op.f("ck_contracts_included_not_negative")
        ),
        sa.CheckConstraint(
            "valid_from <= valid_to", name=op.f("ck_contracts_valid_from_before_valid_to")
        ),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["clients.id"],
            name=op.f("fk_contracts_client_id_clients"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["sla_policy_id"],
            ["sla_policies.id"],
            name=op.f("fk_contracts_sla_policy_id_sla_policies"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contracts")),
        sa.UniqueConstraint("number", name=op.f("uq_contracts_number")),
    )
    op.create_index(
        "ix_contracts_client_id_status", "contracts", ["client_id", "status"], unique=False
    )
    op.create_table(
        "equipment",
        sa.Column("client_id", sa.Uuid(), nullable=False),
        sa.Column("site_id", sa.Uuid(), nullable=False),
        sa.Column("model_id", sa.Uuid(), nullable=False),
        sa.Column("serial_number", sa.String(length=100), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=True),
        sa.Column("installed_on", sa.Date(), nullable=True),
        sa.Column("warranty_ends_on", sa.Date(), nullable=True),
        sa.Column(
            "status",
            sa.Enum("active", "out_of_service", "decommissioned", name="equipment_status"),
            nullable=False,
        ),
        sa.Column(
            "attributes",
            postgresql.JSONB(astext_type=sa.Text()),
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
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["clients.id"],
            name=op.f("fk_equipment_client_id_clients"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["model_id"],
            ["equipment_models.id"],
            name=op.f("fk_equipment_model_id_equipment_models"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name=op.f("fk_equipment_site_id_sites"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_equipment")),
        sa.UniqueConstraint(
            "model_id", "serial_number", name=op.f("uq_equipment_model_id_serial_number")
        ),
    )
    op.create_index(
        "ix_equipment_client_id_site_id", "equipment", ["client_id", "site_id"], unique=False
    )
    op.create_index("ix_equipment_site_id", "equipment", ["site_id"], unique=False)
    op.create_table(
        "contract_coverages",
        sa.Column("contract_id", sa.Uuid(), nullable=False),
        sa.Column("equipment_id", sa.Uuid(), nullable=False),
        sa.Column("period", postgresql.DATERANGE(), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("interval_count", sa.Integer(), nullable=False),
        sa.Column(
            "interval_unit", sa.Enum("day", "week", "month", name="interval_unit"), nullable=False
        ),
        sa.Column("visit_minutes", sa.Integer(), nullable=False),
        sa.Column(
            "skills", postgresql.JSONB(astext_type=sa.Text()), server_default="[]", nullable=False
        ),
        sa.Column(
            "preferred_weekdays",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default="[]",
            nullable=False,
        ),
        sa.Column("preferred_start", sa.Time(), nullable=True),
        sa.Column("preferred_end", sa.Time(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        postgresql.ExcludeConstraint(
            (sa.column("equipment_id"), "="),
            (sa.column("period"), "&&"),
            where=sa.text("is_active"),
            using="gist",
            name="ex_contract_coverages_equipment_id_period",
        ),
        sa.CheckConstraint(
            "interval_count > 0", name=op.f("ck_contract_coverages_interval_positive")
        ),
        sa.CheckConstraint(
            "visit_minutes > 0", name=op.f("ck_contract_coverages_visit_minutes_positive")
        ),
        sa.ForeignKeyConstraint(
            ["contract_id"],
            ["contracts.id"],
            name=op.f("fk_contract_coverages_contract_id_contracts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["equipment_id"],
            ["equipment.id"],
            name=op.f("fk_contract_coverages_equipment_id_equipment"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contract_coverages")),
    )
    op.create_index(
        "ix_contract_coverages_contract_id", "contract_coverages", ["contract_id"], unique=False
    )
    op.create_index(
        op.f("ix_contract_coverages_equipment_id"),
        "contract_coverages",
        ["equipment_id"],
        unique=False,
    )
    op.create_table(
        "equipment_moves",
        sa.Column("equipment_id", sa.Uuid(), nullable=False),
        sa.Column("from_site_id", sa.Uuid(), nullable=False),
        sa.Column("to_site_id", sa.Uuid(), nullable=False),
        sa.Column("moved_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor_id", sa.Uuid(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["actor_id"],
            ["users.id"],
            name=op.f("fk_equipment_moves_actor_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["equipment_id"],
            ["equipment.id"],
            name=op.f("fk_equipment_moves_equipment_id_equipment"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["from_site_id"],
            ["sites.id"],
            name=op.f("fk_equipment_moves_from_site_id_sites"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["to_site_id"],
            ["sites.id"],
            name=op.f("fk_equipment_moves_to_site_id_sites"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_equipment_moves")),
    )
    op.create_index(
        op.f("ix_equipment_moves_equipment_id"), "equipment_moves", ["equipment_id"], unique=False
    )
    op.create_table(
        "service_periods",
        sa.Column("coverage_id", sa.Uuid(), nullable=False),
        sa.Column("contract_id", sa.Uuid(), nullable=False),
        sa.Column("equipment_id", sa.Uuid(), nullable=False),
        sa.Column("starts_on", sa.Date(), nullable=False),
        sa.Column("ends_on", sa.Date(), nullable=False),
        sa.Column(
            "status",
            sa.Enum("planned", "scheduled", "done", "missed", name="service_period_status"),
            nullable=False,
        ),
        sa.Column("work_order_id", sa.Uuid(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.CheckConstraint(
            "starts_on <= ends_on", name=op.f("ck_service_periods_starts_before_it_ends")
        ),
        sa.ForeignKeyConstraint(
            ["contract_id"],
            ["contracts.id"],
            name=op.f("fk_service_periods_contract_id_contracts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["coverage_id"],
            ["contract_coverages.id"],
            name=op.f("fk_service_periods_coverage_id_contract_coverages"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["equipment_id"],
            ["equipment.id"],
            name=op.f("fk_service_periods_equipment_id_equipment"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["work_order_id"],
            ["work_orders.id"],
            name=op.f("fk_service_periods_work_order_id_work_orders"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_service_periods")),
        sa.UniqueConstraint(
            "coverage_id", "starts_on", name=op.f("uq_service_periods_coverage_id_starts_on")
        ),
        sa.UniqueConstraint("work_order_id", name=op.f("uq_service_periods_work_order_id")),
    )
    op.create_index(
        "ix_service_periods_equipment_id_starts_on",
        "service_periods",
        ["equipment_id", "starts_on"],
        unique=False,
    )
    op.create_index(
        "ix_service_periods_status_starts_on",
        "service_periods",
        ["status", "starts_on"],
        unique=False,
    )
    op.add_column("work_orders", sa.Column("service_period_id", sa.Uuid(), nullable=True))
    op.create_index("ix_work_orders_contract_id", "work_orders", ["contract_id"], unique=False)
    op.create_unique_constraint(
        op.f("uq_work_orders_service_period_id"), "work_orders", ["service_period_id"]
    )
    op.create_foreign_key(
        op.f("fk_work_orders_equipment_id_equipment"),
        "work_orders",
        "equipment",
        ["equipment_id"],
        ["id"],
        ondelete="RESTRICT",
    )
    op.create_foreign_key(
        op.f("fk_work_orders_contract_id_contracts"),
        "work_orders",
        "contracts",
        ["contract_id"],
        ["id"],
        ondelete="RESTRICT",
    )


def downgrade() -> None:
    """Revert this revision."""
    op.drop_constraint(
        op.f("fk_work_orders_contract_id_contracts"), "work_orders", type_="foreignkey"
    )
    op.drop_constraint(
        op.f("fk_work_orders_equipment_id_equipment"), "work_orders", type_="foreignkey"
    )
    op.drop_constraint(op.f("uq_work_orders_service_period_id"), "work_orders", type_="unique")
    op.drop_index("ix_work_orders_contract_id", table_name="work_orders")
    op.drop_column("work_orders", "service_period_id")
    op.drop_index("ix_service_periods_status_starts_on", table_name="service_periods")
    op.drop_index("ix_service_periods_equipment_id_starts_on", table_name="service_periods")
    op.drop_table("service_periods")
    op.drop_index(op.f("ix_equipment_moves_equipment_id"), table_name="equipment_moves")
    op.drop_table("equipment_moves")
    op.drop_index(op.f("ix_contract_coverages_equipment_id"), table_name="contract_coverages")
    op.drop_index("ix_contract_coverages_contract_id", table_name="contract_coverages")
    op.drop_table("contract_coverages")
    op.drop_index("ix_equipment_site_id", table_name="equipment")
    op.drop_index("ix_equipment_client_id_site_id", table_name="equipment")
    op.drop_table("equipment")
    op.drop_index("ix_contracts_client_id_status", table_name="contracts")
    op.drop_table("contracts")
    op.drop_index(op.f("ix_equipment_model_skills_skill_id"), table_name="equipment_model_skills")
    op.drop_table("equipment_model_skills")
    op.drop_index(op.f("ix_equipment_models_category"), table_name="equipment_models")
    op.drop_table("equipment_models")
    for enum_name in (
        "contract_status",
        "billing_period",
        "interval_unit",
        "equipment_status",
        "service_period_status",
    ):
        sa.Enum(name=enum_name).drop(op.get_bind(), checkfirst=True)
