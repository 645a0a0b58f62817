"""Job lifecycle: attempts (requeue on a lost lease or a release), deadlines, agent limits.

Revision ID: 0009_attempts
Revises: 0007_webhooks
Create Date: 2026-11-30 13:30:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009_attempts"
down_revision: str | None = "0008_inputs"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIMESTAMP = sa.DateTime(timezone=True)
_OPEN_WITH_DEADLINE = sa.text(
    "deadline_at IS NOT NULL AND status IN ('pending', 'accepted', 'running')"
)


def upgrade() -> None:
    """Apply this revision."""
    with op.batch_alter_table("agents") as batch_op:
        batch_op.add_column(sa.Column("timeout_default_seconds", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("timeout_max_seconds", sa.Float(), nullable=True))
        batch_op.add_column(
            sa.Column("max_attempts", sa.Integer(), nullable=False, server_default="3")
        )
        batch_op.add_column(
            sa.Column("retry_on_failure", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    with op.batch_alter_table("jobs") as batch_op:
        batch_op.add_column(sa.Column("attempt", sa.Integer(), nullable=False, server_default="1"))
        batch_op.add_column(
            sa.Column("max_attempts", sa.Integer(), nullable=False, server_default="3")
        )
        batch_op.add_column(
            sa.Column("retry_on_failure", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(sa.Column("deadline_at", TIMESTAMP, nullable=True))
    op.create_index(
        "ix_jobs_open_deadline_at",
        "jobs",
        ["deadline_at"],
        unique=False,
        postgresql_where=_OPEN_WITH_DEADLINE,
        sqlite_where=_OPEN_WITH_DEADLINE,
    )


def downgrade() -> None:
    """Revert this revision."""
    op.drop_index("ix_jobs_open_deadline_at", table_name="jobs")
    with op.batch_alter_table("jobs") as batch_op:
        batch_op.drop_column("deadline_at")
        batch_op.drop_column("retry_on_failure")
        batch_op.drop_column("max_attempts")
        batch_op.drop_column("attempt")
    with op.batch_alter_table("agents") as batch_op:
        batch_op.drop_column("retry_on_failure")
        batch_op.drop_column("max_attempts")
        batch_op.drop_column("timeout_max_seconds")
        batch_op.drop_column("timeout_default_seconds")
