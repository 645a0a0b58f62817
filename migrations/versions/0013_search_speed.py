"""Search speed: the sort keys ``price`` and ``popular`` as stored, indexed columns of
``agents`` (``price_cents`` from the pricing, ``popularity``: jobs completed in the last
30 days, counted at each completion), so a sorted page walks an index instead of sorting
every match; ``pricing_model`` as a column, so the planner estimates ``pricing=`` right.

Revision ID: 0013_search_speed
Revises: 0012_key_last_used
Create Date: 2026-11-30 17:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from agnt_api.services import search_popularity

revision: str = "0013_search_speed"
down_revision: str | None = "0012_key_last_used"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    # Plain ADD COLUMN on both databases (a batch copy on SQLite would drop ``agents``).
    op.add_column(
        "agents", sa.Column("price_cents", sa.Integer(), nullable=False, server_default="0")
    )
    op.add_column(
        "agents", sa.Column("popularity", sa.Integer(), nullable=False, server_default="0")
    )
    op.add_column("agents", sa.Column("popularity_at", sa.DateTime(timezone=True)))
    op.add_column(
        "agents",
        sa.Column("pricing_model", sa.String(length=16), nullable=False, server_default="free"),
    )
    agents = sa.table(
        "agents",
        sa.column("price_cents", sa.Integer()),
        sa.column("pricing_model", sa.String()),
        sa.column("pricing", sa.JSON()),
    )
    op.get_bind().execute(
        agents.update().values(
            price_cents=sa.func.coalesce(agents.c.pricing["amount_cents"].as_integer(), 0),
            pricing_model=sa.func.coalesce(agents.c.pricing["model"].as_string(), "free"),
        )
    )
    search_popularity.recount_all(op.get_bind())
    op.create_index("ix_agents_price_cents_id", "agents", ["price_cents", "id"])
    op.create_index(
        "ix_agents_popularity_id", "agents", [sa.literal_column("popularity DESC"), "id"]
    )
    op.create_index(op.f("ix_agents_popularity_at"), "agents", ["popularity_at"])


def downgrade() -> None:
    """Revert this revision."""
    op.drop_index(op.f("ix_agents_popularity_at"), table_name="agents")
    op.drop_index("ix_agents_popularity_id", table_name="agents")
    op.drop_index("ix_agents_price_cents_id", table_name="agents")
    for column in ("pricing_model", "popularity_at", "popularity", "price_cents"):
        op.drop_column("agents", column)
