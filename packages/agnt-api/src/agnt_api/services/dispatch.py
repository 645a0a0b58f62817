"""The executor's use cases: publish agents, claim and watch jobs (long-polled), report.

Each runs its work (``executor_queries``) in one transaction; the long-polls wait on the
notifier between attempts.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable

from agnt_api.auth import Principal
from agnt_api.notify import agent_topic, job_topic, long_poll, owner_topic
from agnt_api.runtime import Runtime
from agnt_api.services import agents as agent_service
from agnt_api.services import events as event_service
from agnt_api.services import executor_queries
from agnt_api.services.transitions import executor_scope
from agnt_models import (
    Agent,
    AgentPublish,
    ClaimedJobs,
    ClaimRequest,
    Job,
    JobPage,
    JobRelease,
    JobStatus,
    JobWatch,
    LogBatch,
    LogBatchAccepted,
    StatusReport,
    WatchedJobs,
)


async def publish_agent(
    rt: Runtime, owner: Principal, agent_id: str, body: AgentPublish
) -> tuple[Agent, bool]:
    """Create or update an agent the executor owns; ``(agent, created)``."""
    return await rt.database.write(agent_service.publish_agent, owner, agent_id, body)


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
        return await rt.database.run(
            executor_queries.executor_page, executor, agent_id, status, limit, cursor
        )

    return await long_poll(
        rt.notifier,
        [owner_topic(executor.id)],
        min(wait, rt.settings.max_wait_seconds),
        attempt,
        lambda page: bool(page.items),
    )


async def claim_jobs(
    rt: Runtime,
    executor: Principal,
    request: ClaimRequest,
    abandoned: Callable[[], Awaitable[bool]] | None = None,
) -> ClaimedJobs:
    """Take up to ``request.max`` pending jobs (accepted, leased); long-poll with ``wait``.

    ``abandoned`` tells whether the caller hung up: a job arriving after that is left
    pending for another executor instead of being claimed for nobody.
    """

    async def attempt() -> list[Job]:
        return await rt.database.write(
            executor_queries.claim, executor, request, rt.settings.lease_seconds
        )

    # Claimers are woken one at a time (exclusive): a new job wakes one of the executor's
    # waiting claimers, not all. One restricted to its agents waits on those agents' topics,
    # so a job of an agent it does not serve never takes its turn. A claim of named jobs
    # (``agnt-handoff``) stays a shared subscriber: it could not act on another job's wake.
    if request.agent_ids is not None:
        topics = [agent_topic(agent_id) for agent_id in dict.fromkeys(request.agent_ids)]
    else:
        topics = [owner_topic(executor.id)]
    claimed = await long_poll(
        rt.notifier,
        topics,
        min(request.wait, rt.settings.max_wait_seconds),
        attempt,
        bool,
        abandoned,
        exclusive=request.job_ids is None,
        # Took its ``max``: more may be pending, another claimer takes the turn. Fewer: the
        # queue of its agents was empty at its snapshot.
        hand_on=lambda jobs: len(jobs) >= request.max,
    )
    return ClaimedJobs(items=claimed)


async def watch_jobs(rt: Runtime, executor: Principal, request: JobWatch) -> WatchedJobs:
    """The watched jobs the executor no longer holds; long-poll until there is one."""
    job_ids = list(dict.fromkeys(request.job_ids))
    if not job_ids:
        return WatchedJobs(items=[])

    async def attempt() -> WatchedJobs:
        return await rt.database.run(executor_queries.unheld_jobs, executor, job_ids)

    # Every change of a job publishes its topic (a cancel, a lease reaped, a report).
    return await long_poll(
        rt.notifier,
        [job_topic(job_id) for job_id in job_ids],
        min(request.wait, rt.settings.max_wait_seconds),
        attempt,
        lambda watched: bool(watched.items or watched.missing),
    )


async def report_status(
    rt: Runtime, executor: Principal, job_id: uuid.UUID, report: StatusReport
) -> Job:
    """Apply an executor's status or progress report; wakes the job's long-pollers."""
    return await rt.database.write_once(
        executor_queries.report, executor, job_id, report, rt.settings.lease_seconds
    )


async def append_logs(
    rt: Runtime, executor: Principal, job_id: uuid.UUID, batch: LogBatch
) -> LogBatchAccepted:
    """Store a batch of the running handler's output lines as one ``log`` event.

    Past the job's budget (``max_log_bytes_per_job``) lines are dropped, and the first
    batch that crosses it leaves one ``{"truncated": true}`` event.
    """
    event_service.check_log_batch(batch)
    accepted = await rt.database.write(
        event_service.append_logs,
        job_id,
        executor_scope(executor),
        batch,
        rt.settings.max_log_bytes_per_job,
    )
    return LogBatchAccepted(accepted=accepted, dropped=len(batch.lines) - accepted)


async def unpublish_agent(rt: Runtime, owner: Principal, agent_id: str) -> Agent:
    """Hide the owner's agent and cancel its pending jobs (``agent_unpublished``)."""
    agent, _ = await rt.database.write(agent_service.unpublish_agent, owner, agent_id)
    return agent


async def release_job(rt: Runtime, executor: Principal, job_id: uuid.UUID, body: JobRelease) -> Job:
    """Give a held job back for another executor (or fail it after its last attempt)."""
    return await rt.database.write(executor_queries.release, executor, job_id, body)
