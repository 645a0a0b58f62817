"""The executor's side: its jobs (long-polled), status reports, publishing agents."""

from __future__ import annotations

import uuid

import sqlalchemy as sa

from agnt_api.auth import Principal
from agnt_api.db.tables import agents, jobs
from agnt_api.errors import AgentNotFound, Forbidden
from agnt_api.notify import job_topic, long_poll, owner_topic
from agnt_api.runtime import Runtime
from agnt_api.services import agents as agent_service
from agnt_api.services.jobs import list_jobs
from agnt_api.services.records import job_from_row
from agnt_api.services.schemas import check_no_nul
from agnt_api.services.transitions import (
    apply_report,
    claim_pending,
    executor_scope,
)
from agnt_models import (
    LEASED,
    Agent,
    AgentPublish,
    ClaimedJobs,
    ClaimRequest,
    Job,
    JobPage,
    JobStatus,
    JobWatch,
    StatusReport,
    WatchedJobs,
)


async def publish_agent(
    rt: Runtime, owner: Principal, agent_id: str, body: AgentPublish
) -> tuple[Agent, bool]:
    """Create or update an agent the executor owns; ``(agent, created)``."""
    return await rt.database.run(agent_service.publish_agent, owner, agent_id, body, write=True)


def _check_agent_filter(
    connection: sa.Connection, executor: Principal, agent_ids: list[str]
) -> None:
    """``AgentNotFound`` for an unknown agent, ``Forbidden`` for another executor's."""
    owners = dict(
        connection.execute(
            sa.select(agents.c.id, agents.c.owner_id).where(agents.c.id.in_(agent_ids))
        ).all()
    )
    for agent_id in agent_ids:
        owner = owners.get(agent_id)
        if owner is None:
            raise AgentNotFound(f"no agent {agent_id}")
        if owner != executor.id:
            raise Forbidden(f"agent {agent_id} belongs to another executor")


def _executor_page(
    connection: sa.Connection,
    executor: Principal,
    agent_id: str | None,
    status: JobStatus,
    limit: int,
    cursor: str | None,
) -> JobPage:
    if agent_id is not None:
        _check_agent_filter(connection, executor, [agent_id])
    # Oldest first: the executor's queue is served in arrival order.
    return list_jobs(
        connection,
        executor_scope(executor),
        status=status,
        agent_id=agent_id,
        limit=limit,
        cursor=cursor,
        newest_first=False,
        listing="executor-jobs",
    )


async def executor_jobs(
    rt: Runtime,
    executor: Principal,
    *,
    agent_id: str | None,
    status: JobStatus,
    limit: int,
    cursor: str | None,
    wait: float,
) -> JobPage:
    """Jobs of the executor's agents; with ``wait`` > 0, long-poll until one is there."""

    async def attempt() -> JobPage:
        return await rt.database.run(_executor_page, executor, agent_id, status, limit, cursor)

    return await long_poll(
        rt.notifier,
        [owner_topic(executor.id)],
        min(wait, rt.settings.max_wait_seconds),
        attempt,
        lambda page: bool(page.items),
    )


def _claim(
    connection: sa.Connection, executor: Principal, request: ClaimRequest, lease_seconds: float
) -> list[Job]:
    if request.agent_ids:
        _check_agent_filter(connection, executor, request.agent_ids)
    return claim_pending(
        connection,
        executor,
        limit=request.max,
        agent_ids=request.agent_ids,
        job_ids=request.job_ids,
        lease_seconds=lease_seconds,
    )


async def claim_jobs(rt: Runtime, executor: Principal, request: ClaimRequest) -> ClaimedJobs:
    """Take up to ``request.max`` pending jobs (accepted, leased); long-poll with ``wait``."""

    async def attempt() -> list[Job]:
        claimed = await rt.database.run(
            _claim, executor, request, rt.settings.lease_seconds, write=True
        )
        if claimed:
            await rt.notifier.publish([job_topic(job.id) for job in claimed])
        return claimed

    claimed = await long_poll(
        rt.notifier,
        [owner_topic(executor.id)],
        min(request.wait, rt.settings.max_wait_seconds),
        attempt,
        bool,
    )
    return ClaimedJobs(items=claimed)


def _unheld(
    connection: sa.Connection, executor: Principal, job_ids: list[uuid.UUID]
) -> WatchedJobs:
    rows = connection.execute(
        sa.select(jobs).where(jobs.c.id.in_(job_ids), executor_scope(executor))
    ).all()
    found = {row.id: job_from_row(row) for row in rows}
    return WatchedJobs(
        items=[job for job in found.values() if job.status not in LEASED],
        missing=[job_id for job_id in job_ids if job_id not in found],
    )


async def watch_jobs(rt: Runtime, executor: Principal, request: JobWatch) -> WatchedJobs:
    """The watched jobs the executor no longer holds; long-poll until there is one."""
    job_ids = list(dict.fromkeys(request.job_ids))
    if not job_ids:
        return WatchedJobs(items=[])

    async def attempt() -> WatchedJobs:
        return await rt.database.run(_unheld, executor, job_ids)

    # Every change of a job publishes its topic (a cancel, a lease reaped, a report).
    return await long_poll(
        rt.notifier,
        [job_topic(job_id) for job_id in job_ids],
        min(request.wait, rt.settings.max_wait_seconds),
        attempt,
        lambda watched: bool(watched.items or watched.missing),
    )


def _apply_report(
    connection: sa.Connection,
    executor: Principal,
    job_id: uuid.UUID,
    report: StatusReport,
    lease_seconds: float,
) -> Job:
    check_no_nul("reason", report.reason)
    return apply_report(
        connection,
        job_id,
        report.status,
        executor_scope(executor),
        lease_seconds=lease_seconds,
        progress=report.progress,
        reason=report.reason,
    )


async def report_status(
    rt: Runtime, executor: Principal, job_id: uuid.UUID, report: StatusReport
) -> Job:
    """Apply an executor's status or progress report; wakes the job's long-pollers."""
    job = await rt.database.run(
        _apply_report, executor, job_id, report, rt.settings.lease_seconds, write=True
    )
    await rt.notifier.publish([job_topic(job.id)])
    return job
