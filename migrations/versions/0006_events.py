"""Each job's event log, and the bytes of handler log lines it holds.

Revision ID: 0006_events
Revises: 0005_search
Create Date: 2026-11-30 11:40:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0006_events"
down_revision: str | None = "0005_search"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "job_events",
        sa.Column("job_id", sa.Uuid(), nullable=False),
        sa.Column("seq", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("data", _JSON, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["job_id"], ["jobs.id"], name="fk_job_events_job_id_jobs", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("job_id", "seq", name="pk_job_events"),
    )
    with op.batch_alter_table("jobs") as batch_op:
        batch_op.add_column(
            sa.Column("log_bytes", sa.Integer(), nullable=False, server_default="0")
        )


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table("jobs") as batch_op:
        batch_op.drop_column("log_bytes")
    op.drop_table("job_events")
