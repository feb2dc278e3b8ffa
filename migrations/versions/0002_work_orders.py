"""work orders, visits, sla, timeline, comments, custom fields, reply templates

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 09:30:04.958283
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "custom_field_definitions",
        sa.Column(
            "work_order_type",
            sa.Enum("repair", "maintenance", "installation", "inspection", name="work_order_type"),
            nullable=False,
        ),
        sa.Column("key", sa.String(length=50), nullable=False),
        sa.Column("label", sa.String(length=200), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "text",
                "long_text",
                "number",
                "date",
                "checkbox",
                "dropdown",
                "dependent_dropdown",
                name="custom_field_kind",
            ),
            nullable=False,
        ),
        sa.Column(
            "required_at",
            sa.Enum("creation", "resolution", "never", name="custom_field_required_at"),
            nullable=False,
        ),
        sa.Column(
            "options", postgresql.JSONB(astext_type=sa.Text()), server_default="{}", nullable=False
        ),
        sa.Column("position", sa.Integer(), server_default="0", nullable=False),
        sa.Column("is_active", sa.Boolean(), server_default="true", nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_custom_field_definitions")),
        sa.UniqueConstraint(
            "work_order_type", "key", name=op.f("uq_custom_field_definitions_work_order_type_key")
        ),
    )
    op.create_table(
        "reply_templates",
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("is_active", sa.Boolean(), server_default="true", nullable=False),
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
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reply_templates")),
        sa.UniqueConstraint("name", name=op.f("uq_reply_templates_name")),
    )
    op.create_table(
        "sla_calendars",
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("hours", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column(
            "holidays", postgresql.JSONB(astext_type=sa.Text()), server_default="[]", nullable=False
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
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sla_calendars")),
        sa.UniqueConstraint("name", name=op.f("uq_sla_calendars_name")),
    )
    op.create_table(
        "work_order_counters",
        sa.Column("year", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("last_number", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("year", name=op.f("pk_work_order_counters")),
    )
    op.create_table(
        "sla_policies",
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("calendar_id", sa.Uuid(), nullable=True),
        sa.Column("targets", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("pause_statuses", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("reaction_statuses", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("is_default", sa.Boolean(), server_default="false", nullable=False),
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
            ["calendar_id"],
            ["sla_calendars.id"],
            name=op.f("fk_sla_policies_calendar_id_sla_calendars"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sla_policies")),
        sa.UniqueConstraint("name", name=op.f("uq_sla_policies_name")),
    )
    op.create_index(
        "uq_sla_policies_default",
        "sla_policies",
        ["is_default"],
        unique=True,
        postgresql_where=sa.text("is_default"),
    )
    op.create_table(
        "work_orders",
        sa.Column("number", sa.String(length=20), nullable=False),
        sa.Column("client_id", sa.Uuid(), nullable=False),
        sa.Column("site_id", sa.Uuid(), nullable=False),
        sa.Column("equipment_id", sa.Uuid(), nullable=True),
        sa.Column("contract_id", sa.Uuid(), nullable=True),
        sa.Column(
            "type",
            sa.Enum("repair", "maintenance", "installation", "inspection", name="work_order_type"),
            nullable=False,
        ),
        sa.Column(
            "priority",
            sa.Enum("low", "normal", "high", "critical", name="work_order_priority"),
            nullable=False,
        ),
        sa.Column(
            "channel",
            sa.Enum("client_app", "phone", "email", "web", "scheduled", name="work_order_channel"),
            nullable=False,
        ),
        sa.Column(
            "status",
            sa.Enum(
                "new",
                "scheduled",
                "in_progress",
                "on_hold",
                "resolved",
                "reopened",
                "closed",
                "cancelled",
                name="work_order_status",
            ),
            nullable=False,
        ),
        sa.Column(
            "status_before_hold",
            sa.Enum(
                "new",
                "scheduled",
                "in_progress",
                "on_hold",
                "resolved",
                "reopened",
                "closed",
                "cancelled",
                name="work_order_status",
            ),
            nullable=True,
        ),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), server_default="", nullable=False),
        sa.Column(
            "custom_fields",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default="{}",
            nullable=False,
        ),
        sa.Column("created_by_id", sa.Uuid(), nullable=True),
        sa.Column("sla_policy_id", sa.Uuid(), nullable=True),
        sa.Column("reaction_due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolution_due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("first_response_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("is_reaction_breached", sa.Boolean(), server_default="false", nullable=False),
        sa.Column("is_resolution_breached", sa.Boolean(), server_default="false", nullable=False),
        sa.Column("paused_minutes", sa.Integer(), server_default="0", nullable=False),
        sa.Column("sla_next_due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sla_at_risk_notified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reopen_count", sa.Integer(), server_default="0", nullable=False),
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
            "reopen_count >= 0", name=op.f("ck_work_orders_reopen_count_not_negative")
        ),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["clients.id"],
            name=op.f("fk_work_orders_client_id_clients"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["users.id"],
            name=op.f("fk_work_orders_created_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["site_id"],
            ["sites.id"],
            name=op.f("fk_work_orders_site_id_sites"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["sla_policy_id"],
            ["sla_policies.id"],
            name=op.f("fk_work_orders_sla_policy_id_sla_policies"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_work_orders")),
        sa.UniqueConstraint("number", name=op.f("uq_work_orders_number")),
    )
    op.create_index(
        "ix_work_orders_awaiting_reaction",
        "work_orders",
        ["created_at"],
        unique=False,
        postgresql_where=sa.text("first_response_at IS NULL"),
    )
    op.create_index(
        "ix_work_orders_client_id_created_at",
        "work_orders",
        ["client_id", "created_at"],
        unique=False,
    )
    op.create_index("ix_work_orders_created_at", "work_orders", ["created_at"], unique=False)
    op.create_index("ix_work_orders_equipment_id", "work_orders", ["equipment_id"], unique=False)
    op.create_index(
        "ix_work_orders_priority_status", "work_orders", ["priority", "status"], unique=False
    )
    op.create_index(
        "ix_work_orders_site_id_created_at", "work_orders", ["site_id", "created_at"], unique=False
    )
    op.create_index(
        "ix_work_orders_title_trgm",
        "work_orders",
        ["title"],
        unique=False,
        postgresql_using="gin",
        postgresql_ops={"title": "gin_trgm_ops"},
    )
    op.create_index(
        "ix_work_orders_number_trgm",
        "work_orders",
        ["number"],
        unique=False,
        postgresql_using="gin",
        postgresql_ops={"number": "gin_trgm_ops"},
    )
    op.create_index(
        "ix_work_orders_status_sla_next_due_at",
        "work_orders",
        ["status", "sla_next_due_at", "id"],
        unique=False,
    )
    op.create_table(
        "comments",
        sa.Column("work_order_id", sa.Uuid(), nullable=False),
        sa.Column("author_id", sa.Uuid(), nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("is_internal", sa.Boolean(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["author_id"],
            ["users.id"],
            name=op.f("fk_comments_author_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["work_order_id"],
            ["work_orders.id"],
            name=op.f("fk_comments_work_order_id_work_orders"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_comments")),
    )
    op.create_index(
        "ix_comments_work_order_id_created_at",
        "comments",
        ["work_order_id", "created_at"],
        unique=False,
    )
    op.create_table(
        "sla_pauses",
        sa.Column("work_order_id", sa.Uuid(), nullable=False),
        sa.Column("paused_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("resumed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reason", sa.String(length=500), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.CheckConstraint(
            "resumed_at IS NULL OR resumed_at >= paused_at",
            name=op.f("ck_sla_pauses_resumes_after_pause"),
        ),
        sa.ForeignKeyConstraint(
            ["work_order_id"],
            ["work_orders.id"],
            name=op.f("fk_sla_pauses_work_order_id_work_orders"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sla_pauses")),
    )
    op.create_index(
        op.f("ix_sla_pauses_work_order_id"), "sla_pauses", ["work_order_id"], unique=False
    )
    op.create_index(
        "uq_sla_pauses_running",
        "sla_pauses",
        ["work_order_id"],
        unique=True,
        postgresql_where=sa.text("resumed_at IS NULL"),
    )
    op.create_table(
        "visits",
        sa.Column("work_order_id", sa.Uuid(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "planned",
                "assigned",
                "en_route",
                "on_site",
                "completed",
                "cancelled",
                name="visit_status",
            ),
            nullable=False,
        ),
        sa.Column("window_starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("window_ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("estimated_minutes", sa.Integer(), nullable=False),
        sa.Column("engineer_id", sa.Uuid(), nullable=True),
        sa.Column("planned_start_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("route_position", sa.Integer(), nullable=True),
        sa.Column("labour_minutes", sa.Integer(), nullable=True),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cancel_reason", sa.String(length=500), nullable=True),
        sa.Column("version", sa.Integer(), server_default="1", nullable=False),
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
            "estimated_minutes > 0", name=op.f("ck_visits_estimated_minutes_positive")
        ),
        sa.CheckConstraint(
            "labour_minutes IS NULL OR labour_minutes >= 0",
            name=op.f("ck_visits_labour_not_negative"),
        ),
        sa.CheckConstraint(
            "window_starts_at < window_ends_at", name=op.f("ck_visits_window_is_forward")
        ),
        sa.ForeignKeyConstraint(
            ["engineer_id"],
            ["engineers.id"],
            name=op.f("fk_visits_engineer_id_engineers"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["work_order_id"],
            ["work_orders.id"],
            name=op.f("fk_visits_work_order_id_work_orders"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_visits")),
    )
    op.create_index(
        "ix_visits_engineer_id_planned_start_at",
        "visits",
        ["engineer_id", "planned_start_at"],
        unique=False,
    )
    op.create_index(
        "ix_visits_status_window_starts_at", "visits", ["status", "window_starts_at"], unique=False
    )
    op.create_index(op.f("ix_visits_work_order_id"), "visits", ["work_order_id"], unique=False)
    op.create_table(
        "work_order_events",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("work_order_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=50), nullable=False),
        sa.Column(
            "visibility", sa.Enum("public", "internal", name="event_visibility"), nullable=False
        ),
        sa.Column("actor_id", sa.Uuid(), nullable=True),
        sa.Column(
            "occurred_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "data", postgresql.JSONB(astext_type=sa.Text()), server_default="{}", nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["actor_id"],
            ["users.id"],
            name=op.f("fk_work_order_events_actor_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["work_order_id"],
            ["work_orders.id"],
            name=op.f("fk_work_order_events_work_order_id_work_orders"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_work_order_events")),
    )
    op.create_index(
        "ix_work_order_events_work_order_id_id",
        "work_order_events",
        ["work_order_id", "id"],
        unique=False,
    )
    op.create_table(
        "work_order_skills",
        sa.Column("work_order_id", sa.Uuid(), nullable=False),
        sa.Column("skill_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["skill_id"],
            ["skills.id"],
            name=op.f("fk_work_order_skills_skill_id_skills"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["work_order_id"],
            ["work_orders.id"],
            name=op.f("fk_work_order_skills_work_order_id_work_orders"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("work_order_id", "skill_id", name=op.f("pk_work_order_skills")),
    )
    op.create_index(
        op.f("ix_work_order_skills_skill_id"), "work_order_skills", ["skill_id"], unique=False
    )
    op.create_table(
        "visit_skills",
        sa.Column("visit_id", sa.Uuid(), nullable=False),
        sa.Column("skill_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["skill_id"],
            ["skills.id"],
            name=op.f("fk_visit_skills_skill_id_skills"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["visit_id"],
            ["visits.id"],
            name=op.f("fk_visit_skills_visit_id_visits"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("visit_id", "skill_id", name=op.f("pk_visit_skills")),
    )
    op.create_index(op.f("ix_visit_skills_skill_id"), "visit_skills", ["skill_id"], unique=False)
    op.create_geospatial_table(  # type: ignore[attr-defined]
        "visit_status_events",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("visit_id", sa.Uuid(), nullable=False),
        sa.Column(
            "from_status",
            sa.Enum(
                "planned",
                "assigned",
                "en_route",
                "on_site",
                "completed",
                "cancelled",
                name="visit_status",
            ),
            nullable=True,
        ),
        sa.Column(
            "to_status",
            sa.Enum(
                "planned",
                "assigned",
                "en_route",
                "on_site",
                "completed",
                "cancelled",
                name="visit_status",
            ),
            nullable=False,
        ),
        sa.Column("actor_id", sa.Uuid(), nullable=True),
        sa.Column(
            "occurred_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("device_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "location",
            Geometry(
                geometry_type="POINT",
                srid=4326,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
            ),
            nullable=True,
        ),
        sa.Column("note", sa.String(length=500), nullable=True),
        sa.ForeignKeyConstraint(
            ["actor_id"],
            ["users.id"],
            name=op.f("fk_visit_status_events_actor_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["visit_id"],
            ["visits.id"],
            name=op.f("fk_visit_status_events_visit_id_visits"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_visit_status_events")),
    )
    op.create_index(
        "ix_visit_status_events_visit_id_id",
        "visit_status_events",
        ["visit_id", "id"],
        unique=False,
    )


def downgrade() -> None:
    """Revert this revision."""
    op.drop_index("ix_visit_status_events_visit_id_id", table_name="visit_status_events")
    op.drop_geospatial_table(  # type: ignore[attr-defined]
        "visit_status_events"
    )
    op.drop_index(op.f("ix_visit_skills_skill_id"), table_name="visit_skills")
    op.drop_table("visit_skills")
    op.drop_index(op.f("ix_work_order_skills_skill_id"), table_name="work_order_skills")
    op.drop_table("work_order_skills")
    op.drop_index("ix_work_order_events_work_order_id_id", table_name="work_order_events")
    op.drop_table("work_order_events")
    op.drop_index(op.f("ix_visits_work_order_id"), table_name="visits")
    op.drop_index("ix_visits_status_window_starts_at", table_name="visits")
    op.drop_index("ix_visits_engineer_id_planned_start_at", table_name="visits")
    op.drop_table("visits")
    op.drop_index(
        "uq_sla_pauses_running",
        table_name="sla_pauses",
        postgresql_where=sa.text("resumed_at IS NULL"),
    )
    op.drop_index(op.f("ix_sla_pauses_work_order_id"), table_name="sla_pauses")
    op.drop_table("sla_pauses")
    op.drop_index("ix_comments_work_order_id_created_at", table_name="comments")
    op.drop_table("comments")
    op.drop_index("ix_work_orders_status_sla_next_due_at", table_name="work_orders")
    op.drop_index("ix_work_orders_site_id_created_at", table_name="work_orders")
    op.drop_index("ix_work_orders_priority_status", table_name="work_orders")
    op.drop_index("ix_work_orders_equipment_id", table_name="work_orders")
    op.drop_index("ix_work_orders_created_at", table_name="work_orders")
    op.drop_index("ix_work_orders_client_id_created_at", table_name="work_orders")
    op.drop_index(
        "ix_work_orders_awaiting_reaction",
        table_name="work_orders",
        postgresql_where=sa.text("first_response_at IS NULL"),
    )
    op.drop_table("work_orders")
    op.drop_index(
        "uq_sla_policies_default", table_name="sla_policies", postgresql_where=sa.text("is_default")
    )
    op.drop_table("sla_policies")
    op.drop_table("work_order_counters")
    op.drop_table("sla_calendars")
    op.drop_table("reply_templates")
    op.drop_table("custom_field_definitions")
    for enum_name in (
        "work_order_type",
        "work_order_priority",
        "work_order_channel",
        "work_order_status",
        "custom_field_kind",
        "custom_field_required_at",
        "event_visibility",
        "visit_status",
    ):
        sa.Enum(name=enum_name).drop(op.get_bind(), checkfirst=True)
