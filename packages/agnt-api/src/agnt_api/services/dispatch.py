"""The executor's side: its jobs (long-polled), status reports, publishing agents."""

from __future__ import annotations

import uuid

import anyio
import sqlalchemy as sa

from agnt_api.auth import Principal
from agnt_api.db.tables import agents
from agnt_api.errors import AgentNotFound, Forbidden
from agnt_api.notify import job_topic, owner_topic
from agnt_api.runtime import Runtime
from agnt_api.services import agents as agent_service
from agnt_api.services.jobs import list_jobs
from agnt_api.services.schemas import check_storable
from agnt_api.services.transitions import executor_scope, move_job, report_progress
from agnt_models import Agent, AgentPublish, Job, JobPage, JobStatus, StatusReport


async def publish_agent(
    rt: Runtime, owner: Principal, agent_id: str, body: AgentPublish
) -> tuple[Agent, bool]:
    """Create or update an agent the executor owns; ``(agent, created)``."""
    return await rt.database.run(agent_service.publish_agent, owner, agent_id, body, write=True)


def _check_agent_filter(connection: sa.Connection, executor: Principal, agent_id: str) -> None:
    owner = connection.execute(
        sa.select(agents.c.owner_id).where(agents.c.id == agent_id)
    ).scalar_one_or_none()
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
        _check_agent_filter(connection, executor, agent_id)
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
    page = await rt.database.run(_executor_page, executor, agent_id, status, limit, cursor)
    if page.items or wait <= 0:
        return page
    deadline = anyio.current_time() + min(wait, rt.settings.max_wait_seconds)
    async with rt.notifier.subscribe([owner_topic(executor.id)]) as subscription:
        while True:
            # Read after subscribing: a job created in between still wakes us.
            page = await rt.database.run(_executor_page, executor, agent_id, status, limit, cursor)
            remaining = deadline - anyio.current_time()
            if page.items or remaining <= 0:
                return page
            await subscription.wait(remaining)


def _apply_report(
    connection: sa.Connection,
    executor: Principal,
    job_id: uuid.UUID,
    report: StatusReport,
    lease_seconds: float,
) -> Job:
    check_storable("reason", report.reason)
    scope = executor_scope(executor)
    if report.progress is not None:
        # Same status again with a progress: a progress report that renews the lease.
        job = report_progress(
            connection,
            job_id,
            report.status,
            scope,
            lease_seconds=lease_seconds,
            progress=report.progress,
            reason=report.reason,
        )
        if job is not None:
            return job
    return move_job(
        connection,
        job_id,
        report.status,
        scope,
        lease_seconds=lease_seconds,
        reason=report.reason,
        progress=report.progress,
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
