"""The popularity sweep: agents' popularity is recounted by one round per interval across
all API processes (``search_popularity.take_round``), instead of by every completion.
``sweeps`` holds where the last round began (the popularity row starts now: the
completions before this revision were counted by themselves). ``ix_jobs_completed_at``:
jobs by the time they ended, for the round (the agents of jobs that ended since the last
one) and the event-log sweep; partial, open jobs are not in it.

Revision ID: 0015_popularity_sweep
Revises: 0014_search_popularity
Create Date: 2026-11-30 22:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0015_popularity_sweep"
down_revision: str | None = "0014_search_popularity"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ENDED = sa.text("completed_at IS NOT NULL")


def upgrade() -> None:
    """Apply this revision."""
    sweeps = op.create_table(
        "sweeps",
        sa.Column("name", sa.String(32), nullable=False),
        sa.Column("done_until", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_sweeps")),
    )
    op.bulk_insert(sweeps, [{"name": "popularity", "done_until": datetime.now(UTC)}])
    op.create_index(
        "ix_jobs_completed_at",
        "jobs",
        ["completed_at"],
        postgresql_where=_ENDED,
        sqlite_where=_ENDED,
    )


def downgrade() -> None:
    """Revert this revision."""
    op.drop_index("ix_jobs_completed_at", table_name="jobs")
    op.drop_table("sweeps")
