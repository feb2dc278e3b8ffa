"""The on-call rota: who answers critical work outside the shifts, with which skills, where

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-03 17:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry
from sqlalchemy.dialects import postgresql

revision: str = "0025"
down_revision: str | None = "0024"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "engineer_on_call",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("engineer_id", sa.Uuid(), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "skills",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default="[]",
            nullable=False,
        ),
        sa.Column(
            "area_centre",
            Geometry(geometry_type="POINT", srid=4326, spatial_index=False),
            nullable=True,
        ),
        sa.Column("area_radius_km", sa.Integer(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("created_by_id", sa.Uuid(), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.CheckConstraint(
            "starts_at < ends_at", name=op.f("ck_engineer_on_call_starts_before_it_ends")
        ),
        sa.CheckConstraint(
            "(area_centre IS NULL) = (area_radius_km IS NULL)",
            name=op.f("ck_engineer_on_call_area_centre_and_radius"),
        ),
        sa.CheckConstraint(
            "area_radius_km BETWEEN 1 AND 500", name=op.f("ck_engineer_on_call_area_radius_range")
        ),
        sa.ForeignKeyConstraint(
            ["engineer_id"],
            ["engineers.id"],
            name=op.f("fk_engineer_on_call_engineer_id_engineers"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["users.id"],
            name=op.f("fk_engineer_on_call_created_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_engineer_on_call")),
    )
    op.create_index("ix_engineer_on_call_starts_at", "engineer_on_call", ["starts_at"])
    op.create_index(
        "ix_engineer_on_call_engineer_id_starts_at",
        "engineer_on_call",
        ["engineer_id", "starts_at"],
    )


def downgrade() -> None:
    """Revert this revision."""
    op.drop_table("engineer_on_call")
