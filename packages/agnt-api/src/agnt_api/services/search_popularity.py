"""``agents.popularity``: the jobs an agent completed in the last ``POPULAR_DAYS``, stored on
the agent so that ``sort=popular`` walks an index instead of counting jobs per search.

The completion of a job recounts its agent (in the completing transaction), and recounts a
few agents whose count is more than ``STALE_AFTER`` old, so that completions leaving the
window are subtracted even for agents that no longer complete anything.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta

import sqlalchemy as sa

from agnt_api.db.tables import agents, jobs
from agnt_api.services.records import utc_now
from agnt_models import JobStatus

POPULAR_DAYS = 30
"""``popularity`` counts the jobs completed in this many days (by order time)."""

STALE_AFTER = timedelta(hours=1)
"""A count above zero older than this is redone by the next completion anywhere (up to
``STALE_READ`` of them, oldest first)."""

STALE_READ = 4


def _recent(agent_id: sa.ColumnElement[str]) -> sa.ScalarSelect[int]:
    since = utc_now() - timedelta(days=POPULAR_DAYS)
    return (
        sa.select(sa.func.count())
        .where(
            jobs.c.agent_id == agent_id,
            jobs.c.status == JobStatus.COMPLETED.value,
            jobs.c.created_at >= since,
        )
        .scalar_subquery()
    )


def recount(connection: sa.Connection, agent_ids: Iterable[str]) -> None:
    """Count again the recent completed jobs of ``agent_ids`` (an index range each)."""
    ids = sorted(set(agent_ids))
    if ids:
        connection.execute(agents.update().where(agents.c.id.in_(ids)).values(_counted()))


def job_completed(connection: sa.Connection, agent_id: str) -> None:
    """In the transaction completing a job of ``agent_id``: its count, and a few stale ones."""
    stale = connection.execute(
        sa.select(agents.c.id)
        .where(agents.c.popularity_at < utc_now() - STALE_AFTER, agents.c.id != agent_id)
        .order_by(agents.c.popularity_at)
        .limit(STALE_READ)
    ).scalars()
    recount(connection, [agent_id, *stale])


def recount_all(connection: sa.Connection) -> None:
    """Count every agent (a migration's backfill)."""
    connection.execute(agents.update().values(_counted()))


def _counted() -> dict[str, sa.ColumnElement[object]]:
    # ``popularity_at`` only on a count above zero: a zero cannot go stale (fall further).
    count = _recent(agents.c.id)
    return {
        "popularity": count,
        "popularity_at": sa.case((count > 0, utc_now()), else_=sa.null()),
    }
