"""Search: pre-tokenized search columns scored alike on both databases; Postgres finds the
matches through a GIN index over the same words ('simple' config) instead of the stemmed
``search_vector`` of 0001.

Revision ID: 0005_search
Revises: 0004_claims
Create Date: 2026-11-30 11:40:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from agnt_api.db import dialect

revision: str = "0005_search"
down_revision: str | None = "0004_claims"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_COLUMNS = ("search_name", "search_key", "search_tags", "search_body")


def upgrade() -> None:
    """Apply this revision."""
    # Plain ADD/DROP COLUMN (SQLite >= 3.35 has both): a batch copy of ``agents`` would drop
    # the old table, and with foreign keys on that cascades to ``agent_tags``.
    for column in _COLUMNS:
        op.add_column("agents", sa.Column(column, sa.Text(), nullable=False, server_default=""))
    op.create_index(op.f("ix_agents_created_at_id"), "agents", ["created_at", "id"])
    bind = op.get_bind()
    table = sa.table(
        "agents",
        sa.column("id", sa.String()),
        sa.column("name", sa.String()),
        sa.column("tags_text", sa.Text()),
        sa.column("description", sa.Text()),
        *(sa.column(column, sa.Text()) for column in _COLUMNS),
    )
    rows = bind.execute(
        sa.select(table.c.id, table.c.name, table.c.tags_text, table.c.description)
    ).all()
    for row in rows:
        fields = dialect.search_fields(row.id, row.name, row.tags_text.split(), row.description)
        bind.execute(table.update().where(table.c.id == row.id).values(**fields))
    dialect.drop_search_index(op)
    dialect.create_search_document(op)


def downgrade() -> None:
    """Revert this revision."""
    dialect.drop_search_document(op)
    dialect.create_search_index(op)
    op.drop_index(op.f("ix_agents_created_at_id"), table_name="agents")
    for column in reversed(_COLUMNS):
        op.drop_column("agents", column)
