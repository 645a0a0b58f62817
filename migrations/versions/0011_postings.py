"""Search postings: one row per (word, agent) with the word's score, read in score order, and
per-word tag counts for facets, so a common word's first page and facets cost an index seek
instead of ranking every match; backfilled from the existing agents.

Revision ID: 0011_postings
Revises: 0007_webhooks
Create Date: 2026-11-30 13:40:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from agnt_api.services import search_index

revision: str = "0011_postings"
down_revision: str | None = "0010_agent_rules"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BATCH = 2_000


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "search_postings",
        sa.Column("agent_id", sa.String(length=64), nullable=False),
        sa.Column("term", sa.String(length=64), nullable=False),
        sa.Column("score", sa.SmallInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["agent_id"],
            ["agents.id"],
            name=op.f("fk_search_postings_agent_id_agents"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("agent_id", "term", name=op.f("pk_search_postings")),
    )
    op.create_index(
        "ix_search_postings_rank",
        "search_postings",
        ["term", sa.literal_column("score DESC"), "agent_id"],
    )
    op.create_table(
        "search_term_tags",
        sa.Column("term", sa.String(length=64), nullable=False),
        sa.Column("tag", sa.String(length=50), nullable=False),
        sa.Column("agents", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("term", "tag", name=op.f("pk_search_term_tags")),
    )
    op.create_index(op.f("ix_agents_search_name"), "agents", ["search_name"])
    bind = op.get_bind()
    agents = sa.table(
        "agents",
        sa.column("id", sa.String()),
        sa.column("name", sa.String()),
        sa.column("description", sa.Text()),
    )
    tags = sa.table("agent_tags", sa.column("agent_id", sa.String()), sa.column("tag", sa.String()))
    last = ""
    while True:
        # Keyset batches: a large catalogue is indexed a bounded number of rows at a time.
        batch = bind.execute(
            sa.select(agents.c.id, agents.c.name, agents.c.description)
            .where(agents.c.id > last)
            .order_by(agents.c.id)
            .limit(_BATCH)
        ).all()
        if not batch:
            break
        last = batch[-1].id
        tags_of: dict[str, list[str]] = {}
        for agent_id, tag in bind.execute(
            sa.select(tags.c.agent_id, tags.c.tag).where(
                tags.c.agent_id.in_([row.id for row in batch])
            )
        ):
            tags_of.setdefault(agent_id, []).append(tag)
        search_index.index_agents(
            bind,
            [
                search_index.IndexedAgent(
                    row.id, row.name, sorted(tags_of.get(row.id, [])), row.description, 0
                )
                for row in batch
            ],
        )


def downgrade() -> None:
    """Revert this revision."""
    op.drop_index(op.f("ix_agents_search_name"), table_name="agents")
    op.drop_table("search_term_tags")
    op.drop_index("ix_search_postings_rank", table_name="search_postings")
    op.drop_table("search_postings")
