"""Documents and reports: the client's signature on a visit, the client's time zone, the
engineer's cost rate

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02 18:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    op.add_column("visits", sa.Column("signature_photo_id", sa.Uuid(), nullable=True))
    op.add_column("visits", sa.Column("signed_by_name", sa.String(length=200), nullable=True))
    op.add_column("visits", sa.Column("signed_at", sa.DateTime(timezone=True), nullable=True))
    op.create_foreign_key(
        op.f("fk_visits_signature_photo_id_photos"),
        "visits",
        "photos",
        ["signature_photo_id"],
        ["id"],
        ondelete="SET NULL",
    )
    op.create_check_constraint(
        op.f("ck_visits_signature_has_name_and_time"),
        "visits",
        "(signed_by_name IS NULL) = (signed_at IS NULL)",
    )
    op.add_column(
        "clients",
        sa.Column("timezone", sa.String(length=64), server_default="UTC", nullable=False),
    )
    op.add_column("engineers", sa.Column("cost_rate_cents", sa.Integer(), nullable=True))
    # A client's zone until someone sets it: the zone of its first site.
    op.execute(
        """
        UPDATE clients SET timezone = first_site.timezone
        FROM (
            SELECT DISTINCT ON (client_id) client_id, timezone
            FROM sites ORDER BY client_id, created_at, id
        ) AS first_site
        WHERE first_site.client_id = clients.id
        """
    )


def downgrade() -> None:
    """Revert this revision."""
    op.drop_column("clients", "timezone")
    op.drop_column("engineers", "cost_rate_cents")
    op.drop_constraint(op.f("ck_visits_signature_has_name_and_time"), "visits", type_="check")
    op.drop_constraint(op.f("fk_visits_signature_photo_id_photos"), "visits", type_="foreignkey")
    op.drop_column("visits", "signed_at")
    op.drop_column("visits", "signed_by_name")
    op.drop_column("visits", "signature_photo_id")
