"""Agents: published accept rules, last seen (online), unpublished.

Revision ID: 0010_agent_rules
Revises: 0007_webhooks
Create Date: 2026-11-30 13:30:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0010_agent_rules"
down_revision: str | None = "0009_attempts"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    """Apply this revision."""
    # Plain ALTER TABLE on both databases: a batch (table copy) on SQLite would drop the
    # agents table, and with it, by cascade, every agent's tags.
    op.add_column("agents", sa.Column("accept_rules", JSON, nullable=True))
    op.add_column("agents", sa.Column("last_seen_at", TIMESTAMP, nullable=True))
    op.add_column("agents", sa.Column("unpublished_at", TIMESTAMP, nullable=True))


def downgrade() -> None:
    """Revert this revision."""
    for column in ("unpublished_at", "last_seen_at", "accept_rules"):
        op.drop_column("agents", column)
