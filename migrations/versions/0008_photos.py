"""Photo evidence

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-23 13:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_geospatial_table(  # type: ignore[attr-defined]
        "photos",
        sa.Column("work_order_id", sa.Uuid(), nullable=False),
        sa.Column("visit_id", sa.Uuid(), nullable=True),
        sa.Column("uploaded_by_id", sa.Uuid(), nullable=True),
        sa.Column("object_key", sa.String(length=300), nullable=False),
        sa.Column("thumbnail_key", sa.String(length=300), nullable=True),
        sa.Column("content_type", sa.String(length=100), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=True),
        sa.Column(
            "state",
            sa.Enum("pending", "stored", "verified", "rejected", name="photo_state"),
            nullable=False,
        ),
        sa.Column("reject_reason", sa.String(length=50), nullable=True),
        sa.Column("taken_at", sa.DateTime(timezone=True), nullable=True),
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
        sa.Column("checklist_item_key", sa.String(length=100), nullable=True),
        sa.Column("is_client_visible", sa.Boolean(), server_default="false", nullable=False),
        sa.Column("stored_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("verified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("thumbnail_attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("thumbnail_next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("thumbnail_failed_at", sa.DateTime(timezone=True), nullable=True),
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
        sa.CheckConstraint("size_bytes > 0", name=op.f("ck_photos_size_positive")),
        sa.CheckConstraint(
            "sha256 IS NULL OR sha256 ~ '^[0-9a-f]{64}$'", name=op.f("ck_photos_sha256_is_hex")
        ),
        sa.CheckConstraint(
            "(state = 'rejected') = (reject_reason IS NOT NULL)",
            name=op.f("ck_photos_rejected_has_reason"),
        ),
        sa.CheckConstraint(
            "state NOT IN ('stored', 'verified') OR sha256 IS NOT NULL",
            name=op.f("ck_photos_stored_has_sha256"),
        ),
        sa.CheckConstraint(
            "state <> 'verified' OR thumbnail_key IS NOT NULL",
            name=op.f("ck_photos_verified_has_thumbnail"),
        ),
        sa.ForeignKeyConstraint(
            ["uploaded_by_id"],
            ["users.id"],
            name=op.f("fk_photos_uploaded_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["visit_id"], ["visits.id"], name=op.f("fk_photos_visit_id_visits"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["work_order_id"],
            ["work_orders.id"],
            name=op.f("fk_photos_work_order_id_work_orders"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_photos")),
        sa.UniqueConstraint("object_key", name=op.f("uq_photos_object_key")),
    )
    op.create_index("ix_photos_work_order_id_created_at", "photos", ["work_order_id", "created_at"])
    op.create_index(
        "ix_photos_visit_id_checklist_item_key", "photos", ["visit_id", "checklist_item_key"]
    )
    op.create_index(
        "ix_photos_awaiting_thumbnail",
        "photos",
        ["thumbnail_next_attempt_at", "created_at"],
        postgresql_where=sa.text("state = 'stored' AND thumbnail_failed_at IS NULL"),
    )
    op.create_index(op.f("ix_photos_uploaded_by_id"), "photos", ["uploaded_by_id"])


def downgrade() -> None:
    """Revert this revision."""
    op.drop_index(op.f("ix_photos_uploaded_by_id"), table_name="photos")
    op.drop_index("ix_photos_awaiting_thumbnail", table_name="photos")
    op.drop_index("ix_photos_visit_id_checklist_item_key", table_name="photos")
    op.drop_index("ix_photos_work_order_id_created_at", table_name="photos")
    op.drop_geospatial_table(  # type: ignore[attr-defined]
        "photos"
    )
    sa.Enum(name="photo_state").drop(op.get_bind(), checkfirst=True)
