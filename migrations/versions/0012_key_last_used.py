"""API keys: when each was last used (throttled to about once a minute per key).

Revision ID: 0012_key_last_used
Revises: 0011_postings
Create Date: 2026-11-30 14:45:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012_key_last_used"
down_revision: str | None = "0011_postings"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    """Apply this revision."""
    # Plain ALTER TABLE on both databases: a batch (table copy) on SQLite would drop
    # api_keys, and with it, by cascade, every web session signed in with a key.
    op.add_column("api_keys", sa.Column("last_used_at", TIMESTAMP, nullable=True))


def downgrade() -> None:
    """Revert this revision."""
    op.drop_column("api_keys", "last_used_at")
