"""What a buyer does, as awaitable calls for routes and web pages: find, order, follow, cancel."""

from __future__ import annotations

import functools
import uuid

import anyio

from agnt_api.auth import Principal
from agnt_api.errors import ServiceUnavailable
from agnt_api.notify import job_topic, owner_topic
from agnt_api.runtime import Runtime
from agnt_api.services import agents as agent_service
from agnt_api.services import jobs as job_service
from agnt_api.services.schemas import ParamsLimits, validate_params
from agnt_api.services.transitions import buyer_scope
from agnt_models import (
    TERMINAL,
    Agent,
    AgentSearchPage,
    AgentStats,
    Job,
    JobCreate,
    JobPage,
    JobStatus,
    PricingModel,
    SearchSort,
)

ORDER_ATTEMPTS = 3
"""Orders validated against an agent version that a re-publish replaced are retried this often."""


async def search_agents(
    rt: Runtime,
    query: str,
    *,
    tag: str | None,
    limit: int,
    cursor: str | None,
    sort: SearchSort = SearchSort.RELEVANCE,
    pricing: PricingModel | None = None,
    facets: bool = False,
) -> AgentSearchPage:
    """Agents matching ``query`` (and ``tag``, ``pricing``), in ``sort`` order."""
    return await rt.database.run(
        functools.partial(agent_service.search_agents, sort=sort, pricing=pricing, facets=facets),
        query,
        tag,
        limit,
        cursor,
    )


async def get_agent(rt: Runtime, agent_id: str) -> Agent:
    """One agent, in full."""
    return await rt.database.run(agent_service.get_agent, agent_id)


async def agent_stats(rt: Runtime, agent_id: str) -> AgentStats:
    """An agent's job counts and success rate."""
    return await rt.database.run(agent_service.agent_stats, agent_id)


async def order_job(
    rt: Runtime, buyer: Principal, body: JobCreate, idempotency_key: str | None
) -> tuple[Job, bool]:
    """Order a job; ``(job, created)``. Wakes the owning executor's long-polls.

    Params are validated between a read and the write, never inside a write transaction;
    the write re-checks the agent's version and the order starts over if it was re-published.
    """
    job_service.check_order_input(body, idempotency_key)
    limits = ParamsLimits.of(rt.settings)
    for _ in range(ORDER_ATTEMPTS):
        target, earlier = await rt.database.run(
            job_service.read_order_target, buyer, body, idempotency_key
        )
        if earlier is not None:
            return earlier, False
        await anyio.to_thread.run_sync(validate_params, target.input_schema, body.params, limits)
        try:
            job, created, owner_id = await rt.database.run(
                job_service.create_job, buyer, body, idempotency_key, target, write=True
            )
        except job_service.AgentChangedDuringOrder:
            continue
        if created:
            await rt.notifier.publish([owner_topic(owner_id), job_topic(job.id)])
        return job, created
    raise ServiceUnavailable(
        f"agent {body.agent_id} was re-published during the order; retry",
        headers={"Retry-After": "1"},
    )


async def list_jobs(
    rt: Runtime,
    buyer: Principal,
    *,
    status: JobStatus | None,
    agent_id: str | None,
    limit: int,
    cursor: str | None,
) -> JobPage:
    """The buyer's jobs, newest first."""
    return await rt.database.run(
        lambda connection: job_service.list_jobs(
            connection,
            buyer_scope(buyer),
            status=status,
            agent_id=agent_id,
            limit=limit,
            cursor=cursor,
        )
    )


async def get_job(rt: Runtime, buyer: Principal, job_id: uuid.UUID, *, wait: float = 0) -> Job:
    """The buyer's job; with ``wait`` > 0, long-poll until its status or progress changes."""
    job = await rt.database.run(job_service.get_job, buyer, job_id)
    if wait <= 0 or job.status in TERMINAL:
        return job
    seen = (job.status, job.progress, job.updated_at)
    deadline = anyio.current_time() + min(wait, rt.settings.max_wait_seconds)
    async with rt.notifier.subscribe([job_topic(job_id)]) as subscription:
        while True:
            job = await rt.database.run(job_service.get_job, buyer, job_id)
            remaining = deadline - anyio.current_time()
            if (job.status, job.progress, job.updated_at) != seen or remaining <= 0:
                return job
            await subscription.wait(remaining)


async def cancel_job(rt: Runtime, buyer: Principal, job_id: uuid.UUID) -> Job:
    """Cancel the buyer's job (``InvalidTransition`` once it has ended)."""
    job = await rt.database.run(
        job_service.cancel_job, buyer, job_id, rt.settings.lease_seconds, write=True
    )
    await rt.notifier.publish([job_topic(job.id)])
    return job
