"""Finding jobs accepted for this executor's key that nobody runs: lost claim answers.

A claim moves jobs to ``accepted`` before it answers. When that answer is lost (the
connection dropped after the request went out, a 502 from a proxy), the client cannot
repeat the claim (a repeat would take other jobs), and the executor does not know which
jobs it now holds. They are still ``accepted`` with a lease nobody renews; left alone the
lease would run out and fail them. So after such a claim, and at start (a predecessor may
have died between a claim and its first report), the executor lists its agents' accepted
jobs and adopts the ones that stay untouched.

Every process with the same key sees the same accepted jobs, so a job is adopted only when
it is still ``accepted`` with the same ``updated_at`` after a third of its lease: a live
sibling reports ``running`` within moments of its claim, an orphan never does. (A sibling
cut off from the API for that long right after claiming could end up running the job too:
the completion of one of them wins, the other's is refused as ``job_gone``.)
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Collection
from uuid import UUID

from agnt_client import AsyncClient
from agnt_models import MAX_PAGE_LIMIT, Job, JobStatus

MIN_CONFIRM_SECONDS = 1.0
"""The shortest look-again delay, whatever the lease."""


def confirm_seconds(jobs: Collection[Job]) -> float:
    """How long to wait before looking again: a third of the shortest lease among ``jobs``."""
    thirds = [
        (job.lease_expires_at - job.updated_at).total_seconds() / 3
        for job in jobs
        if job.lease_expires_at is not None
    ]
    return max(MIN_CONFIRM_SECONDS, min(thirds, default=MIN_CONFIRM_SECONDS))


async def accepted_jobs(client: AsyncClient, agent_ids: Collection[str]) -> dict[UUID, Job]:
    """Every ``accepted`` job of the caller's agents that this executor serves."""
    found: dict[UUID, Job] = {}
    cursor: str | None = None
    while True:
        page = await client.list_executor_jobs(
            status=JobStatus.ACCEPTED, limit=MAX_PAGE_LIMIT, cursor=cursor
        )
        found.update((job.id, job) for job in page.items if job.agent_id in agent_ids)
        cursor = page.next_cursor
        if cursor is None or not page.items:
            return found


async def find_orphans(
    client: AsyncClient, agent_ids: Collection[str], is_ours: Callable[[UUID], bool]
) -> list[Job]:
    """Accepted jobs that nobody touched for a third of their lease (``is_ours``: running here)."""
    first = {
        job_id: job
        for job_id, job in (await accepted_jobs(client, agent_ids)).items()
        if not is_ours(job_id)
    }
    if not first:
        return []
    await asyncio.sleep(confirm_seconds(first.values()))
    second = await accepted_jobs(client, agent_ids)
    return [
        job
        for job_id, job in second.items()
        if job_id in first and job.updated_at == first[job_id].updated_at and not is_ours(job_id)
    ]
