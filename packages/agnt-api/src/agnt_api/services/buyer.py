"""What a buyer does, as awaitable calls for routes and web pages: find, order, follow, cancel."""

from __future__ import annotations

import functools
import uuid
from collections.abc import AsyncIterator

import anyio
import sqlalchemy as sa

from agnt_api.auth import Principal
from agnt_api.errors import AgentUnpublished, OrderRefused, ServiceUnavailable
from agnt_api.notify import agent_topic, announce, job_topic, long_poll, owner_topic
from agnt_api.ratelimit import RateAction, RateLimits
from agnt_api.runtime import Runtime
from agnt_api.services import agents as agent_service
from agnt_api.services import events as event_service
from agnt_api.services import input_files, presence
from agnt_api.services import jobs as job_service
from agnt_api.services.schemas import ParamsLimits, validate_params
from agnt_api.services.transitions import buyer_scope
from agnt_api.services.webhooks import check_webhook_target
from agnt_models import (
    TERMINAL,
    AcceptRules,
    Agent,
    AgentSearchPage,
    AgentStats,
    Job,
    JobCreate,
    JobEvent,
    JobEventPage,
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
    online: bool = False,
) -> AgentSearchPage:
    """Agents matching ``query`` (and ``tag``, ``pricing``, ``online``), in ``sort`` order."""
    return await rt.database.run(
        functools.partial(
            agent_service.search_agents,
            sort=sort,
            pricing=pricing,
            facets=facets,
            online_after=presence.online_after(rt.settings),
            online_only=online,
        ),
        query,
        tag,
        limit,
        cursor,
    )


async def get_agent(rt: Runtime, agent_id: str) -> Agent:
    """One agent, in full."""
    return await rt.database.run(
        agent_service.get_agent, agent_id, presence.online_after(rt.settings)
    )


async def agent_stats(rt: Runtime, agent_id: str) -> AgentStats:
    """An agent's job counts and success rate."""
    return await rt.database.run(agent_service.agent_stats, agent_id)


async def order_job(
    rt: Runtime,
    buyer: Principal,
    body: JobCreate,
    idempotency_key: str | None,
    limits: RateLimits | None = None,
) -> tuple[Job, bool]:
    """Order a job; ``(job, created)``. Wakes the owning executor's long-polls.

    Params are validated between a read and the write, never inside a write transaction;
    the write re-checks the agent's version and the order starts over if it was re-published.
    An unpublished agent takes no orders (``AgentUnpublished``); an order its published
    accept rules refuse is ``OrderRefused`` with the executor's reason, before it is queued.
    A new job's answer says whether the agent is online (``agent_online``, ``warning``).
    With ``limits``, an order token is taken first (``RateLimited``), on Postgres in the
    same thread hop as the agent's read.
    """
    try:
        job_service.check_order_input(body, idempotency_key)
        await check_webhook_target(body.webhook, allow_private=rt.settings.webhook_allow_private)
    except Exception:
        # The token is taken first either way (a 429 wins over these errors).
        if limits is not None:
            await limits.enforce(RateAction.ORDERS, str(buyer.id))
        raise
    params_limits = ParamsLimits.of(rt.settings)
    for attempt in range(ORDER_ATTEMPTS):
        if limits is not None and attempt == 0:
            read = await limits.enforce_then_read(
                RateAction.ORDERS,
                str(buyer.id),
                rt.database,
                job_service.read_order_checked,
                buyer,
                body,
                idempotency_key,
                params_limits,
            )
        else:
            read = await rt.database.run(
                job_service.read_order_checked, buyer, body, idempotency_key, params_limits
            )
        target, earlier = read.target, read.earlier
        if earlier is not None:
            return earlier, False
        if target.unpublished:
            raise AgentUnpublished(f"agent {body.agent_id} was unpublished by its owner")
        job_service.job_timeout(body, target)
        await input_files.check_order(rt, buyer, body, target.input_files)
        if read.params_error is not None:
            raise read.params_error
        if not read.params_checked:
            await anyio.to_thread.run_sync(
                validate_params, target.input_schema, body.params, params_limits
            )
        _check_accept_rules(target, body)
        try:
            job, created = await rt.database.write(
                _create_job, buyer, body, idempotency_key, target
            )
        except job_service.AgentChangedDuringOrder:
            continue
        return _with_presence(job, target, rt) if created else job, created
    raise ServiceUnavailable(
        f"agent {body.agent_id} was re-published during the order; retry",
        headers={"Retry-After": "1"},
    )


def _check_accept_rules(target: job_service.OrderTarget, body: JobCreate) -> None:
    """``OrderRefused`` with the executor's own reason when its published rules say no."""
    if target.accept_rules is None:
        return
    rules = AcceptRules.model_validate(target.accept_rules)
    reason = rules.violation(body.prompt, body.params)
    if reason is not None:
        raise OrderRefused(reason)


def _with_presence(job: Job, target: job_service.OrderTarget, rt: Runtime) -> Job:
    """A new job's answer: is an executor serving the agent now, and if not, say so."""
    after = presence.online_after(rt.settings)
    online = target.last_seen_at is not None and target.last_seen_at >= after
    warning = None
    if not online:
        warning = (
            f"agent {job.agent_id} is offline (no executor serving it was seen lately); "
            "the job waits until one comes"
        )
    return job.model_copy(update={"agent_online": online, "warning": warning})


def _create_job(
    connection: sa.Connection,
    buyer: Principal,
    body: JobCreate,
    idempotency_key: str | None,
    target: job_service.OrderTarget,
) -> tuple[Job, bool]:
    job, created, owner_id = job_service.create_job(
        connection, buyer, body, idempotency_key, target
    )
    if created:
        announce(connection, [owner_topic(owner_id), agent_topic(job.agent_id), job_topic(job.id)])
    return job, created


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

    async def attempt() -> Job:
        return await rt.database.run(job_service.get_job, buyer, job_id)

    return await long_poll(
        rt.notifier,
        [job_topic(job_id)],
        min(wait, rt.settings.max_wait_seconds),
        attempt,
        lambda job: (job.status, job.progress, job.updated_at) != seen,
    )


async def cancel_job(rt: Runtime, buyer: Principal, job_id: uuid.UUID) -> Job:
    """Cancel the buyer's job (``InvalidTransition`` once it has ended).

    The job's topic wakes its executor's watch, which stops the running handler.
    """
    return await rt.database.write(_cancel_job, buyer, job_id, rt.settings.lease_seconds)


def _cancel_job(
    connection: sa.Connection, buyer: Principal, job_id: uuid.UUID, lease_seconds: float
) -> Job:
    job = job_service.cancel_job(connection, buyer, job_id, lease_seconds)
    announce(connection, [job_topic(job.id)])
    return job


async def wait_for_end(rt: Runtime, buyer: Principal, job: Job, wait: float) -> Job:
    """The job once it has ended, or as it is after ``wait`` seconds (``Prefer: wait``)."""
    if wait <= 0 or job.status in TERMINAL:
        return job

    async def attempt() -> Job:
        return await rt.database.run(job_service.get_job, buyer, job.id)

    return await long_poll(
        rt.notifier,
        [job_topic(job.id)],
        min(wait, rt.settings.max_wait_seconds),
        attempt,
        lambda current: current.status in TERMINAL,
    )


async def job_events(
    rt: Runtime, buyer: Principal, job_id: uuid.UUID, *, after: int, wait: float = 0
) -> JobEventPage:
    """The job's events after ``after``; with ``wait``, long-poll until there is one."""

    async def attempt() -> JobEventPage:
        return await rt.database.run(event_service.read_events, job_id, buyer_scope(buyer), after)

    return await long_poll(
        rt.notifier,
        [job_topic(job_id)],
        min(wait, rt.settings.max_wait_seconds),
        attempt,
        lambda page: bool(page.items) or page.done,
    )


async def follow_events(
    rt: Runtime, buyer: Principal, job_id: uuid.UUID, *, after: int, first: JobEventPage
) -> AsyncIterator[list[JobEvent]]:
    """The job's events after ``after`` as they come, in batches, until the terminal one.

    ``first`` is the read that found the job (so a missing job is a 404 before the stream
    starts). An empty batch means nothing happened for ``event_heartbeat_seconds``. No
    thread or connection is held while idle: each wake-up reads once and lets go. Ends
    when the server starts shutting down (the client resumes with ``Last-Event-ID``).
    """
    page = first
    # ``first`` was read before subscribing: read once more before the first wait, so a
    # change committed in between is not missed.
    fresh = False
    async with rt.notifier.subscribe([job_topic(job_id)]) as subscription:
        while True:
            if page.items:
                yield page.items
            if page.done or rt.notifier.stopping:
                return
            if fresh and len(page.items) < event_service.MAX_EVENTS_PER_PAGE:
                woke = await subscription.wait(rt.settings.event_heartbeat_seconds)
                if rt.notifier.stopping:
                    return
                if not woke:
                    yield []
            page = await rt.database.run(
                event_service.read_events, job_id, buyer_scope(buyer), page.last_seq
            )
            fresh = True


async def find_jobs(
    rt: Runtime,
    buyer: Principal,
    *,
    status: JobStatus | None,
    agent_id: str | None,
    prompt_contains: str | None,
    limit: int,
    cursor: str | None,
) -> tuple[JobPage, int]:
    """The buyer's jobs matching the filters, newest first, and how many match (the count
    stops past 1,000): the web page of my jobs."""

    def read(connection: sa.Connection) -> tuple[JobPage, int]:
        scope = buyer_scope(buyer)
        page = job_service.list_jobs(
            connection,
            scope,
            status=status,
            agent_id=agent_id,
            limit=limit,
            cursor=cursor,
            prompt_contains=prompt_contains,
        )
        total = job_service.count_jobs(
            connection, scope, status=status, agent_id=agent_id, prompt_contains=prompt_contains
        )
        return page, total

    return await rt.database.run(read)
