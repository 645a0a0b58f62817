"""Index agents on (name, id): browsing and tag-only search pages walk it instead of sorting.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 10:50:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_index(op.f("ix_agents_name_id"), "agents", ["name", "id"], unique=False)


def downgrade() -> None:
    """Revert this revision."""
    op.drop_index(op.f("ix_agents_name_id"), table_name="agents")
