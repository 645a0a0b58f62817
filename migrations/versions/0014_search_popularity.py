"""Popularity in relevance: ``agents.search_level`` (0..3 from the jobs completed in the last
30 days and their success rate, ``search_popularity.level_of``), held also in the low part
of every posting's score (``dialect.SEARCH_LEVELS``) so that a word's postings, read in
score order, come in (text score, popularity, id) order. Backfilled: every agent's level,
then the postings rebuilt (they were the field bits alone).

Revision ID: 0014_search_popularity
Revises: 0013_search_speed
Create Date: 2026-11-30 20:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from agnt_api.services import search_index, search_popularity

revision: str = "0014_search_popularity"
down_revision: str | None = "0013_search_speed"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    # Plain ADD COLUMN on both databases (a batch copy on SQLite would drop ``agents``).
    op.add_column(
        "agents", sa.Column("search_level", sa.SmallInteger(), nullable=False, server_default="0")
    )
    bind = op.get_bind()
    search_index.reindex_all(bind)
    search_popularity.relevel_all(bind)


def downgrade() -> None:
    """Revert this revision: postings back to the field bits alone."""
    op.execute("UPDATE search_postings SET score = score / 4")
    op.drop_column("agents", "search_level")
