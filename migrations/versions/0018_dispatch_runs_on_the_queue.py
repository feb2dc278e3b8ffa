"""Background dispatch runs on the job queue: the stored solve request and the job that holds it

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-03 14:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    op.add_column("dispatch_plans", sa.Column("run_request", postgresql.JSONB()))
    op.add_column("dispatch_plans", sa.Column("run_job_id", sa.BigInteger()))


def downgrade() -> None:
    """Revert this revision."""
    op.drop_column("dispatch_plans", "run_job_id")
    op.drop_column("dispatch_plans", "run_request")
