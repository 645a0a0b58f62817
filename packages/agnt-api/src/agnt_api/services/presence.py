"""Who is online: executors' claims and watches mark their agents "last seen".

An agent is ``online`` when an executor serving it was seen within ``ONLINE_LEASES`` lease
periods. The mark is one conditional UPDATE of ``agents.last_seen_at``, written at most
once per ``seen_interval`` per executor and call kind in each process (``SeenThrottle``) and
skipped in SQL when another replica wrote it lately, so an idle fleet's long-polls cost
almost nothing.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Hashable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.exc import SQLAlchemyError

from agnt_api.auth import Principal
from agnt_api.db.tables import agents, jobs
from agnt_api.services.records import utc_now
from agnt_api.settings import Settings
from agnt_models import ClaimRequest, JobWatch

if TYPE_CHECKING:
    from agnt_api.db import Database
    from agnt_api.runtime import Runtime

log = logging.getLogger(__name__)

ONLINE_LEASES = 2
"""An agent is online when an executor serving it was seen within this many lease periods."""

SEEN_WRITE_SECONDS = 5.0
"""At most one "seen" write per executor and call kind per this many seconds (per process)."""


class SeenThrottle:
    """In-process memory of when each "seen" mark was last written."""

    def __init__(self) -> None:
        """Nothing marked yet."""
        self._written: dict[Hashable, float] = {}

    def due(self, key: Hashable, interval: float) -> bool:
        """True (and remembered) when ``key`` was not marked in the last ``interval`` s."""
        now = time.monotonic()
        last = self._written.get(key)
        if last is not None and now - last < interval:
            return False
        if len(self._written) > 100_000:
            self._written.clear()
        self._written[key] = now
        return True


def seen_interval(settings: Settings) -> float:
    """How often a mark is written: well inside the online window."""
    return min(SEEN_WRITE_SECONDS, settings.lease_seconds / 4)


def online_after(settings: Settings) -> datetime:
    """Agents last seen at or after this time are online."""
    return utc_now() - timedelta(seconds=ONLINE_LEASES * settings.lease_seconds)


def mark_seen(
    connection: sa.Connection,
    owner_id: uuid.UUID,
    agent_ids: list[str] | None,
    job_ids: list[uuid.UUID] | None,
    interval: float,
) -> None:
    """Set ``last_seen_at`` of the owner's agents (those named, or those of ``job_ids``)."""
    now = utc_now()
    statement = agents.update().where(
        agents.c.owner_id == owner_id,
        sa.or_(
            agents.c.last_seen_at.is_(None),
            agents.c.last_seen_at < now - timedelta(seconds=interval),
        ),
    )
    if agent_ids is not None:
        statement = statement.where(agents.c.id.in_(agent_ids))
    if job_ids is not None:
        statement = statement.where(
            agents.c.id.in_(sa.select(jobs.c.agent_id).where(jobs.c.id.in_(job_ids)))
        )
    connection.execute(statement.values(last_seen_at=now))


async def _record(
    database: Database,
    throttle: SeenThrottle,
    settings: Settings,
    key: Hashable,
    owner: Principal,
    agent_ids: list[str] | None,
    job_ids: list[uuid.UUID] | None,
) -> None:
    interval = seen_interval(settings)
    if not throttle.due(key, interval):
        return
    try:
        await database.write(mark_seen, owner.id, agent_ids, job_ids, interval)
    except SQLAlchemyError as exc:
        # A missed mark costs a moment of "offline", never the claim that carried it.
        log.warning("could not record executor %s as seen: %s", owner.id, exc)


async def record_claim(rt: Runtime, executor: Principal, request: ClaimRequest) -> None:
    """A claim long-poll: its agents (all the executor's when unnamed) are served."""
    if request.job_ids:
        # ``agnt-handoff`` claims one given job; it serves nothing after that.
        return
    names = tuple(sorted(request.agent_ids)) if request.agent_ids else None
    await _record(
        rt.database,
        rt.seen,
        rt.settings,
        ("claim", executor.id, names),
        executor,
        None if names is None else list(names),
        None,
    )


async def record_watch(rt: Runtime, executor: Principal, request: JobWatch) -> None:
    """A watch of held jobs: a busy executor (no free slot to claim) still serves their agents."""
    if not request.job_ids:
        return
    await _record(
        rt.database,
        rt.seen,
        rt.settings,
        ("watch", executor.id),
        executor,
        None,
        list(request.job_ids),
    )
