"""Sign-in brake by email and address with backoff: a throttle row remembers its last failure

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01 10:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    # The old keys (an email alone, an address alone) mean something else now; the rows
    # only ever held the last quarter of an hour, so forgetting them costs nothing.
    op.execute("DELETE FROM login_throttles")
    op.alter_column("login_throttles", "window_started_at", new_column_name="last_failure_at")


def downgrade() -> None:
    """Revert this revision."""
    op.execute("DELETE FROM login_throttles")
    op.alter_column("login_throttles", "last_failure_at", new_column_name="window_started_at")
