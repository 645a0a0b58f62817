"""``agents.popularity``: the jobs an agent completed in the last ``POPULAR_DAYS``, stored on
the agent so that ``sort=popular`` walks an index instead of counting jobs per search; and
``agents.search_level``, the popularity level blended into relevance (``level_of``).

Counts are kept by a sweep, not by the completion: every API process tries a round every
``popularity_interval_seconds`` (``run_popularity``), and one round per interval runs
across all of them (``take_round``: a row of ``sweeps`` holds where the last round began).
A round recounts the agents whose jobs ended (completed or failed) since the last one, and
a few agents whose count is more than ``STALE_AFTER`` old, so that completions leaving the
window are subtracted even for agents that no longer complete anything (levels decay the
same way). A recount whose level differs from the one the agent's postings hold rewrites
their scores (``dialect.SEARCH_LEVELS``) in the same transaction: rare, a level changes at
1, 8 and 64 completions. Popularity is a slow signal: it lags a completion by about an
interval, and the job path pays nothing for it (a recount counts the agent's 30 days of
jobs: done per completion, it was a quarter of the completion's server CPU).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import anyio
import sqlalchemy as sa

from agnt_api.db import dialect
from agnt_api.db.tables import agents, jobs, search_postings, sweeps
from agnt_api.services.records import as_utc, utc_now
from agnt_models import JobStatus

if TYPE_CHECKING:
    from agnt_api.runtime import Runtime

log = logging.getLogger(__name__)

POPULAR_DAYS = 30
"""``popularity`` counts the jobs completed in this many days (by order time)."""

STALE_AFTER = timedelta(hours=1)
"""A count above zero older than this is redone by the next sweep (up to ``STALE_READ`` of
them per round, oldest first)."""

STALE_READ = 100

RECOUNT_CHUNK = 100
"""Agents recounted per statement (and per transaction in a round)."""

LEVEL_COMPLETED = (1, 8, 64)
"""Level 1, 2, 3 from this many completions in ``POPULAR_DAYS`` (every third power of 2)."""


def level_of(completed: int, failed: int) -> int:
    """The popularity level (0 .. ``dialect.SEARCH_LEVELS`` - 1) of an agent that completed
    ``completed`` and failed ``failed`` jobs in the last ``POPULAR_DAYS``.

    One level per ``LEVEL_COMPLETED`` step reached, one less when fewer than 80 % of the
    jobs that ran completed, two less under 50 % (never below 0). Coarse on purpose: a
    level changes rarely, and each change rewrites the agent's postings.
    """
    base = sum(completed >= step for step in LEVEL_COMPLETED)
    penalty = 2 if completed < failed else 1 if completed < 4 * failed else 0
    return max(0, base - penalty)


_SINCE = sa.bindparam("p_since", type_=jobs.c.created_at.type)
_NOW = sa.bindparam("p_now", type_=agents.c.popularity_at.type)
_IDS: sa.BindParameter[list[str]] = sa.bindparam("p_ids", expanding=True)


def _recent(agent_id: sa.ColumnElement[str]) -> sa.ScalarSelect[int]:
    return (
        sa.select(sa.func.count())
        .where(
            jobs.c.agent_id == agent_id,
            jobs.c.status == JobStatus.COMPLETED.value,
            jobs.c.created_at >= _SINCE,
        )
        .scalar_subquery()
    )


def _level(agent_id: sa.ColumnElement[str]) -> sa.ScalarSelect[int]:
    """``level_of`` in SQL, over one index range of the agent's recent jobs."""
    done = sa.func.coalesce(
        sa.func.sum(sa.case((jobs.c.status == JobStatus.COMPLETED.value, 1), else_=0)), 0
    )
    failed = sa.func.coalesce(
        sa.func.sum(sa.case((jobs.c.status == JobStatus.FAILED.value, 1), else_=0)), 0
    )
    base = sa.case(
        *((done >= step, n) for n, step in reversed(list(enumerate(LEVEL_COMPLETED, 1)))),
        else_=0,
    )
    penalty = sa.case((done < failed, 2), (done < 4 * failed, 1), else_=0)
    level = sa.case((base - penalty < 0, 0), else_=base - penalty)
    return (
        sa.select(level)
        .where(
            jobs.c.agent_id == agent_id,
            jobs.c.status.in_([JobStatus.COMPLETED.value, JobStatus.FAILED.value]),
            jobs.c.created_at >= _SINCE,
        )
        .scalar_subquery()
    )


def _relevel(which: sa.ColumnElement[bool]) -> sa.Update:
    """Give the postings ``which`` whose level is not their agent's ``search_level`` that
    level (the low part of the score, ``dialect.SEARCH_LEVELS``).

    Compared with the row, not with a level read before: two completions of one agent
    write its level one after the other (row lock), and this statement, run after that
    write, sees the other's postings; whatever level the row ends with, its postings hold.
    A level seldom changes: this mostly reads the agent's postings (its primary-key range)
    and writes nothing.
    """
    p = search_postings.c
    levels = dialect.SEARCH_LEVELS
    level = sa.select(agents.c.search_level).where(agents.c.id == p.agent_id).scalar_subquery()
    return (
        search_postings.update()
        .where(which, p.score % levels != level)
        .values(score=p.score - p.score % levels + level)
    )


_COUNT = _recent(agents.c.id)
# ``popularity_at`` only on a count above zero: a zero cannot go stale (fall further).
_COUNTED = {"popularity": _COUNT, "popularity_at": sa.case((_COUNT > 0, _NOW), else_=sa.null())}

# Statements built once (every sweep runs them).
_ENDED = (
    sa.select(jobs.c.agent_id)
    .where(
        jobs.c.completed_at >= sa.bindparam("p_ended_since", type_=jobs.c.completed_at.type),
        jobs.c.status.in_([JobStatus.COMPLETED.value, JobStatus.FAILED.value]),
    )
    .distinct()
)
_STALE = (
    sa.select(agents.c.id)
    .where(
        agents.c.popularity_at < sa.bindparam("p_stale_before", type_=agents.c.popularity_at.type)
    )
    .order_by(agents.c.popularity_at)
    .limit(STALE_READ)
)
_RECOUNT = (
    agents.update()
    .where(agents.c.id.in_(_IDS))
    .values({**_COUNTED, "search_level": _level(agents.c.id)})
)
_RELEVEL = _relevel(search_postings.c.agent_id.in_(_IDS))


def _times() -> dict[str, datetime]:
    now = utc_now()
    return {"p_now": now, "p_since": now - timedelta(days=POPULAR_DAYS)}


def recount(connection: sa.Connection, agent_ids: Iterable[str]) -> None:
    """Count again the recent completed jobs of ``agent_ids`` (an index range each), and
    their levels; rewrite the postings of those whose level changed."""
    ids = sorted(set(agent_ids))
    if ids:
        connection.execute(_RECOUNT, {"p_ids": ids, **_times()})
        connection.execute(_RELEVEL, {"p_ids": ids})


def _swept_ids(connection: sa.Connection, ended_since: datetime) -> list[str]:
    """The agents of the jobs that ended (completed or failed) since ``ended_since``, and
    up to ``STALE_READ`` agents whose count is stale."""
    ended = connection.execute(_ENDED, {"p_ended_since": ended_since}).scalars()
    stale = connection.execute(_STALE, {"p_stale_before": utc_now() - STALE_AFTER}).scalars()
    return sorted({*ended, *stale})


def sweep(connection: sa.Connection, ended_since: datetime) -> int:
    """Recount, in this transaction, the agents of the jobs that ended since
    ``ended_since`` and up to ``STALE_READ`` stale counts; how many agents it recounted.

    Idempotent: rounds over the same window agree (each recount reads the jobs as they
    are). The app's rounds are ``sweep_round``."""
    ids = _swept_ids(connection, ended_since)
    for start in range(0, len(ids), RECOUNT_CHUNK):
        recount(connection, ids[start : start + RECOUNT_CHUNK])
    return len(ids)


SWEEP = "popularity"
"""Its row in ``sweeps`` (written by migration 0015, again by a round that finds none)."""

COMMIT_MARGIN = timedelta(seconds=20)
"""A round reads the jobs that ended since this long before the last round began: a
job's ``completed_at`` is taken (by its API process's clock) inside its transaction,
which commits a moment later. It also bounds the clock skew tolerated between hosts."""

_MARK = (
    sa.select(sweeps.c.done_until).where(sweeps.c.name == SWEEP).with_for_update(skip_locked=True)
)
_MARK_EXISTS = sa.select(sa.func.count()).select_from(sweeps).where(sweeps.c.name == SWEEP)
_TO = sa.bindparam("p_to", type_=sweeps.c.done_until.type)
_MOVE_MARK = sweeps.update().where(sweeps.c.name == SWEEP).values(done_until=_TO)
# Back only from where the failed round put it (a later round may have moved it since).
_MOVE_MARK_BACK = _MOVE_MARK.where(
    sweeps.c.done_until == sa.bindparam("p_from", type_=sweeps.c.done_until.type)
)


@dataclass(frozen=True)
class Round:
    """A round taken by this process: the agents to recount, and the mark it moved."""

    agent_ids: list[str]
    began: datetime
    previous: datetime


def take_round(connection: sa.Connection, every: timedelta) -> Round | None:
    """Take the round, unless another process began one less than ``every`` ago or holds
    the mark now (``None``; ``SKIP LOCKED``: it does not wait): move the mark to now and
    read the agents of the jobs that ended since the last round began (minus
    ``COMMIT_MARGIN``), plus the stale ones. A short transaction: the recounts follow in
    their own (``sweep_round``)."""
    mark = connection.execute(_MARK).scalar_one_or_none()
    now = utc_now()
    if mark is None:
        if connection.execute(_MARK_EXISTS).scalar_one() == 0:
            # Taken by nobody: a round that finds no mark starts one (from now).
            log.warning("the popularity sweep had no mark; starting one")
            connection.execute(sweeps.insert().values(name=SWEEP, done_until=now))
        return None
    previous = as_utc(mark)
    if previous > now - every:
        return None
    connection.execute(_MOVE_MARK, {"p_to": now})
    return Round(_swept_ids(connection, previous - COMMIT_MARGIN), now, previous)


def _give_back(connection: sa.Connection, round_: Round) -> None:
    """Move the mark back where the failed ``round_`` found it (unless a later round has
    moved it since): the next round reads the failed round's window again."""
    connection.execute(_MOVE_MARK_BACK, {"p_from": round_.began, "p_to": round_.previous})


async def sweep_round(rt: Runtime, every: timedelta) -> int | None:
    """This process's round, if it is due (``take_round``): the agents recounted, by
    ``RECOUNT_CHUNK`` per transaction so that no transaction holds many agents' rows
    (an order reads its agent ``FOR SHARE``). A round that fails gives its window back."""
    round_ = await rt.database.write(take_round, every)
    if round_ is None:
        return None
    ids = round_.agent_ids
    try:
        for start in range(0, len(ids), RECOUNT_CHUNK):
            await rt.database.write(recount, ids[start : start + RECOUNT_CHUNK])
    except BaseException:
        with anyio.CancelScope(shield=True):
            await rt.database.write(_give_back, round_)
        raise
    return len(ids)


async def run_popularity(rt: Runtime) -> None:
    """Try a round every ``popularity_interval_seconds`` until cancelled; one process per
    interval takes it."""
    interval = rt.settings.popularity_interval_seconds
    # A little under the interval: the process that took the last round takes the next
    # one on its next try, and the others' tries in between find it done.
    every = timedelta(seconds=interval * 0.9)
    while True:
        try:
            await sweep_round(rt, every)
        except Exception:
            # A database hiccup must not kill the loop; the next round reads this window.
            log.exception("popularity sweep failed")
        await anyio.sleep(interval)


def recount_all(connection: sa.Connection) -> None:
    """Count every agent (a migration's backfill; levels: ``relevel_all``)."""
    connection.execute(agents.update().values(_COUNTED), _times())


def relevel_all(connection: sa.Connection) -> None:
    """Every agent's level, and its postings' (a migration's backfill)."""
    connection.execute(agents.update().values(search_level=_level(agents.c.id)), _times())
    connection.execute(_relevel(sa.true()))
