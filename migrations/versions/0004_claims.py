"""Claims read pending jobs in arrival order; a completion remembers its Idempotency-Key.

Revision ID: 0004_claims
Revises: 0002
Create Date: 2026-11-30 10:40:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_claims"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_PENDING = sa.text("status = 'pending'")


def upgrade() -> None:
    """Apply this revision."""
    op.create_index(
        "ix_jobs_pending_created_at_id",
        "jobs",
        ["created_at", "id"],
        unique=False,
        postgresql_where=_PENDING,
        sqlite_where=_PENDING,
    )
    with op.batch_alter_table("job_results") as batch_op:
        batch_op.add_column(sa.Column("idempotency_key", sa.String(255), nullable=True))


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table("job_results") as batch_op:
        batch_op.drop_column("idempotency_key")
    op.drop_index("ix_jobs_pending_created_at_id", table_name="jobs")
