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
    # Plain ADD COLUMNs: a batch copy of ``agents`` or ``jobs`` on SQLite would
    # cascade-delete the rows that reference them (agent_tags, events, results).
    op.add_column("agents", sa.Column("timeout_default_seconds", sa.Float(), nullable=True))
    op.add_column("agents", sa.Column("timeout_max_seconds", sa.Float(), nullable=True))
    for table in ("agents", "jobs"):
        op.add_column(
            table, sa.Column("max_attempts", sa.Integer(), nullable=False, server_default="3")
        )
        op.add_column(
            table,
            sa.Column("retry_on_failure", sa.Boolean(), nullable=False, server_default=sa.false()),
        )
    op.add_column("jobs", sa.Column("attempt", sa.Integer(), nullable=False, server_default="1"))
    op.add_column("jobs", sa.Column("deadline_at", TIMESTAMP, nullable=True))
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
    # Plain DROP COLUMNs: a batch copy of ``jobs`` or ``agents`` on SQLite would
    # cascade-delete the rows that reference them (events, tags, results).
    for column in ("deadline_at", "retry_on_failure", "max_attempts", "attempt"):
        op.drop_column("jobs", column)
    for column in ("retry_on_failure", "max_attempts", "timeout_max_seconds"):
        op.drop_column("agents", column)
    op.drop_column("agents", "timeout_default_seconds")
