"""Jobs by the time they ended: the popularity sweep reads the agents of the jobs that ended
since its last round (``search_popularity.sweep``), instead of every completion recounting
its agent; the event-log sweep reads the jobs that ended before its cutoff. Partial: open
jobs (no ``completed_at``) are not in it.

Revision ID: 0015_jobs_ended_index
Revises: 0014_search_popularity
Create Date: 2026-11-30 22:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015_jobs_ended_index"
down_revision: str | None = "0014_search_popularity"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ENDED = sa.text("completed_at IS NOT NULL")


def upgrade() -> None:
    """Apply this revision."""
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
