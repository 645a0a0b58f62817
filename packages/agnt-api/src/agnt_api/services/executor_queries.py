"""The executor's queries: each one request's work, as a function of a ``Connection``.

``dispatch`` runs each in one transaction (``Database.run`` or ``write``) and adds what
needs the event loop (long-polls); these know nothing of it, so they are typed, plain and
testable on a bare connection. Writes announce the jobs they change (``notify.announce``).
"""

from __future__ import annotations

import uuid

import sqlalchemy as sa

from agnt_api.auth import Principal
from agnt_api.db.database import NeedsTransaction, folded, notify_payloads
from agnt_api.db.tables import agents, jobs
from agnt_api.errors import AgentNotFound, Forbidden
from agnt_api.notify import announce, job_topic
from agnt_api.services.jobs import list_jobs
from agnt_api.services.records import job_from_row
from agnt_api.services.schemas import check_storable
from agnt_api.services.transitions import (
    apply_report,
    claim_pending,
    executor_job_scope,
    executor_scope,
    release_job,
    report_once,
)
from agnt_models import (
    EXECUTOR_RELEASED,
    LEASED,
    ClaimRequest,
    Job,
    JobPage,
    JobRelease,
    JobStatus,
    StatusReport,
    WatchedJobs,
)


def check_agents_owned(
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


def executor_page(
    connection: sa.Connection,
    executor: Principal,
    agent_id: str | None,
    status: JobStatus,
    limit: int,
    cursor: str | None,
) -> JobPage:
    """Jobs of the executor's agents in ``status``, oldest first (keyset-paginated)."""
    if agent_id is not None:
        check_agents_owned(connection, executor, [agent_id])
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


def claim(
    connection: sa.Connection, executor: Principal, request: ClaimRequest, lease_seconds: float
) -> list[Job]:
    """Take the pending jobs ``request`` asks for (accepted, leased), in queue order."""
    claimed = claim_pending(
        connection,
        executor,
        limit=request.max,
        agent_ids=request.agent_ids,
        job_ids=request.job_ids,
        lease_seconds=lease_seconds,
    )
    # The claim only takes jobs of the caller's agents: an agent of a claimed job is the
    # caller's. Only the others are checked (a statement fewer on the busy path); an
    # unknown or foreign one raises, and the claim rolls back with the transaction.
    unproven = set(request.agent_ids or ()) - {job.agent_id for job in claimed}
    if unproven:
        check_agents_owned(
            connection, executor, [a for a in request.agent_ids or () if a in unproven]
        )
    announce(connection, [job_topic(job.id) for job in claimed])
    return claimed


def unheld_jobs(
    connection: sa.Connection, executor: Principal, job_ids: list[uuid.UUID]
) -> WatchedJobs:
    """Of ``job_ids``, the caller's jobs no longer leased, and the ids it cannot see."""
    rows = connection.execute(
        sa.select(jobs).where(jobs.c.id.in_(job_ids), executor_scope(executor))
    ).all()
    found = {row.id: job_from_row(row) for row in rows}
    return WatchedJobs(
        items=[job for job in found.values() if job.status not in LEASED],
        missing=[job_id for job_id in job_ids if job_id not in found],
    )


def report(
    connection: sa.Connection,
    executor: Principal,
    job_id: uuid.UUID,
    report: StatusReport,
    lease_seconds: float,
) -> Job:
    """Apply an executor's status or progress report (a repeat of the last one is fine).

    Run by ``Database.write_once``: on Postgres the common report is one statement in
    autocommit (``report_once``), anything else ``apply_report`` in a transaction.
    """
    check_storable("reason", report.reason)
    scope = executor_job_scope(executor)
    if folded(connection):
        (payload,) = notify_payloads([job_topic(job_id)])
        try:
            once = report_once(
                connection,
                job_id,
                report.status,
                scope,
                lease_seconds=lease_seconds,
                progress=report.progress,
                reason=report.reason,
                attempt=report.attempt,
                notify=payload,
            )
        except sa.exc.IntegrityError:
            once = None  # an event committed under us took the seq: redo it in a transaction
        if once is None:
            raise NeedsTransaction
        return once
    job = apply_report(
        connection,
        job_id,
        report.status,
        scope,
        lease_seconds=lease_seconds,
        progress=report.progress,
        reason=report.reason,
        attempt=report.attempt,
    )
    announce(connection, [job_topic(job.id)])
    return job


def release(
    connection: sa.Connection, executor: Principal, job_id: uuid.UUID, body: JobRelease
) -> Job:
    """Give a held job back: requeued with ``attempt + 1``, or failed after its last attempt."""
    check_storable("reason", body.reason)
    job = release_job(
        connection,
        job_id,
        executor_scope(executor),
        reason=body.reason or EXECUTOR_RELEASED,
        attempt=body.attempt,
    )
    announce(connection, [job_topic(job.id)])
    return job
