"""Leases: an accepted or running job whose executor stops reporting becomes failed.

The reaper is one conditional UPDATE (``status IN leased AND lease_expires_at < now``), so
any number of replicas may run it at once: each expired job is failed exactly once.
"""

from __future__ import annotations

import logging
from datetime import timedelta

import anyio
import sqlalchemy as sa

from agnt_api.db.tables import jobs
from agnt_api.notify import announce, job_topic
from agnt_api.runtime import Runtime
from agnt_api.services.events import append_event, append_status_event, sweep_events
from agnt_api.services.input_files import sweep_expired_inputs
from agnt_api.services.records import utc_now
from agnt_models import LEASED, JobEventKind, JobStatus

log = logging.getLogger(__name__)

LEASE_EXPIRED = "lease_expired"


def _fail_expired(connection: sa.Connection) -> list[str]:
    now = utc_now()
    rows = connection.execute(
        jobs.update()
        .where(
            jobs.c.status.in_([status.value for status in LEASED]),
            jobs.c.lease_expires_at < now,
        )
        .values(
            status=JobStatus.FAILED.value,
            decision_reason=LEASE_EXPIRED,
            lease_expires_at=None,
            completed_at=now,
            updated_at=now,
        )
        .returning(jobs.c.id)
    )
    expired = list(rows.scalars())
    for job_id in expired:
        append_event(connection, job_id, JobEventKind.LEASE_EXPIRED, {})
        append_status_event(connection, job_id, JobStatus.FAILED, LEASE_EXPIRED)
    # The executors' watches learn that these jobs are no longer theirs.
    announce(connection, [job_topic(job_id) for job_id in expired])
    return [str(job_id) for job_id in expired]


async def expire_leases(rt: Runtime) -> list[str]:
    """Fail every job whose lease ran out; the ids of the jobs failed by this call."""
    expired = await rt.database.write(_fail_expired)
    if expired:
        log.info("failed %d job(s) whose lease expired", len(expired))
    return expired


async def sweep_old_events(rt: Runtime) -> int:
    """Delete the event logs of jobs that ended more than ``event_retention_days`` ago."""
    cutoff = utc_now() - timedelta(days=rt.settings.event_retention_days)
    deleted = await rt.database.write(sweep_events, cutoff)
    if deleted:
        log.info("deleted %d event(s) of jobs that ended before %s", deleted, cutoff)
    return deleted


async def run_reaper(rt: Runtime) -> None:
    """Expire leases every ``reaper_interval_seconds`` until cancelled.

    Every ``event_sweep_interval_seconds`` a round also sweeps old event logs.
    """
    next_sweep = 0.0
    while True:
        try:
            await expire_leases(rt)
            if anyio.current_time() >= next_sweep:
                next_sweep = anyio.current_time() + rt.settings.event_sweep_interval_seconds
                await sweep_old_events(rt)
            await sweep_expired_inputs(rt)
        except Exception:
            # A database hiccup must not kill the loop; the next round retries.
            log.exception("lease reaper round failed")
        await anyio.sleep(rt.settings.reaper_interval_seconds)
