"""The reaper: lost leases requeue (or fail) their jobs, passed deadlines end theirs.

Each round is a few conditional UPDATEs (``status IN leased AND lease_expires_at < now``,
``deadline_at <= now AND status IN ...``), so any number of replicas may run it at once:
each job is requeued or ended exactly once. A job whose lease ran out goes back to
``pending`` with ``attempt + 1`` while it has attempts left, and fails with
``lease_expired`` after its last. A job past its ``deadline_at`` is ``canceled`` if its
handler never started, ``failed`` if it was running (reason ``deadline_exceeded``); its
executor's watch learns it as it learns a buyer's cancel, and stops the handler.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import timedelta

import anyio
import sqlalchemy as sa

from agnt_api.db.tables import jobs
from agnt_api.notify import announce, job_topic
from agnt_api.runtime import Runtime
from agnt_api.services.events import append_event, sweep_events
from agnt_api.services.input_files import sweep_expired_inputs
from agnt_api.services.records import utc_now
from agnt_api.services.transitions import end_where, requeue_where
from agnt_models import (
    DEADLINE_EXCEEDED,
    LEASE_EXPIRED,
    LEASED,
    NOT_STARTED,
    JobEventKind,
    JobStatus,
)

log = logging.getLogger(__name__)

__all__ = ["DEADLINE_EXCEEDED", "LEASE_EXPIRED", "ReaperRound", "expire_leases", "run_reaper"]


@dataclass
class ReaperRound:
    """What one reaper round did, as job ids (strings)."""

    requeued: list[str] = field(default_factory=list)
    """Lease lost, attempts left: back to pending."""
    lease_failed: list[str] = field(default_factory=list)
    """Lease lost on the last attempt: failed with ``lease_expired``."""
    overdue: list[str] = field(default_factory=list)
    """Past the deadline: canceled (never started) or failed (running)."""

    @property
    def lease_expired(self) -> list[str]:
        """Every job whose lease ran out in this round (requeued or failed)."""
        return self.requeued + self.lease_failed


def _end_overdue(connection: sa.Connection) -> list[str]:
    overdue = sa.and_(jobs.c.deadline_at.is_not(None), jobs.c.deadline_at <= utc_now())
    ended = end_where(
        connection,
        sa.and_(overdue, jobs.c.status.in_([status.value for status in NOT_STARTED])),
        JobStatus.CANCELED,
        DEADLINE_EXCEEDED,
    )
    ended += end_where(
        connection,
        sa.and_(overdue, jobs.c.status == JobStatus.RUNNING.value),
        JobStatus.FAILED,
        DEADLINE_EXCEEDED,
    )
    # The executors' watches learn that these jobs are no longer theirs.
    announce(connection, [job_topic(job.id) for job in ended])
    return [str(job.id) for job in ended]


def _expire_leases(connection: sa.Connection) -> ReaperRound:
    expired = sa.and_(
        jobs.c.status.in_([status.value for status in LEASED]),
        jobs.c.lease_expires_at < utc_now(),
    )
    # SKIP LOCKED: a replica reaping at the same moment takes other rows (or none), so
    # each job gets one ``lease_expired`` event, then the one of what became of it.
    ids = list(
        connection.execute(
            sa.select(jobs.c.id).where(expired).with_for_update(skip_locked=True)
        ).scalars()
    )
    round_ = ReaperRound()
    if not ids:
        return round_
    for job_id in ids:
        append_event(connection, job_id, JobEventKind.LEASE_EXPIRED, {})
    candidates = sa.and_(expired, jobs.c.id.in_(ids))
    for job in requeue_where(connection, candidates, LEASE_EXPIRED):
        round_.requeued.append(str(job.id))
    for job in end_where(
        connection,
        sa.and_(candidates, jobs.c.attempt >= jobs.c.max_attempts),
        JobStatus.FAILED,
        LEASE_EXPIRED,
    ):
        round_.lease_failed.append(str(job.id))
    announce(connection, [job_topic(job_id) for job_id in round_.lease_expired])
    return round_


def reap(connection: sa.Connection) -> ReaperRound:
    """One reaper round in one transaction: deadlines first, then lost leases."""
    overdue = _end_overdue(connection)
    round_ = _expire_leases(connection)
    round_.overdue = overdue
    return round_


async def reap_jobs(rt: Runtime) -> ReaperRound:
    """Run one reaper round; what it did."""
    round_ = await rt.database.write(reap)
    if round_.overdue:
        log.info("ended %d job(s) past their deadline", len(round_.overdue))
    if round_.requeued:
        log.info("requeued %d job(s) whose lease expired", len(round_.requeued))
    if round_.lease_failed:
        log.info(
            "failed %d job(s) whose lease expired on their last attempt", len(round_.lease_failed)
        )
    return round_


async def expire_leases(rt: Runtime) -> list[str]:
    """Run one reaper round; the ids of the jobs whose lease ran out (requeued or failed)."""
    return (await reap_jobs(rt)).lease_expired


async def sweep_old_events(rt: Runtime) -> int:
    """Delete the event logs of jobs that ended more than ``event_retention_days`` ago."""
    cutoff = utc_now() - timedelta(days=rt.settings.event_retention_days)
    deleted = await rt.database.write(sweep_events, cutoff)
    if deleted:
        log.info("deleted %d event(s) of jobs that ended before %s", deleted, cutoff)
    return deleted


async def run_reaper(rt: Runtime) -> None:
    """Reap lost leases and passed deadlines every ``reaper_interval_seconds`` until cancelled.

    Every ``event_sweep_interval_seconds`` a round also sweeps old event logs.
    """
    next_sweep = 0.0
    while True:
        try:
            await reap_jobs(rt)
            if anyio.current_time() >= next_sweep:
                next_sweep = anyio.current_time() + rt.settings.event_sweep_interval_seconds
                await sweep_old_events(rt)
            await sweep_expired_inputs(rt)
        except Exception:
            # A database hiccup must not kill the loop; the next round retries.
            log.exception("lease reaper round failed")
        await anyio.sleep(rt.settings.reaper_interval_seconds)
