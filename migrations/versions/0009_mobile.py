"""Mobile app: idempotency keys, change feed, positions, ratings

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-23 13:00:00
"""

from collections.abc import Sequence

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""


def downgrade() -> None:
    """Revert this revision."""
