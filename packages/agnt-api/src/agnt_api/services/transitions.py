"""Moving a job between statuses: one conditional UPDATE per move, on either database.

``UPDATE jobs SET status = :target ... WHERE id = :id AND status IN sources_of(target)``:
of many racing callers exactly one changes the row; the others see no row and get 409.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from agnt_api.auth import Principal
from agnt_api.db.tables import agents, jobs
from agnt_api.errors import InvalidTransition, JobNotFound, StaleAttempt
from agnt_api.notify import announce, owner_topic
from agnt_api.services import search_popularity
from agnt_api.services.events import (
    append_event,
    append_progress,
    append_status_event,
    note_locked,
)
from agnt_api.services.records import job_from_row, utc_now
from agnt_models import (
    LEASED,
    REQUEUABLE,
    TERMINAL,
    Job,
    JobEventKind,
    JobStatus,
    Role,
    sources_of,
)


def buyer_scope(principal: Principal) -> sa.ColumnElement[bool]:
    """Jobs a buyer may see: its own (an admin sees all)."""
    if principal.role is Role.ADMIN:
        return sa.true()
    return jobs.c.buyer_id == principal.id


def executor_scope(principal: Principal) -> sa.ColumnElement[bool]:
    """Jobs an executor may see: those of the agents it owns."""
    owned = sa.select(agents.c.id).where(agents.c.owner_id == principal.id)
    return jobs.c.agent_id.in_(owned)


def load_job(connection: sa.Connection, job_id: uuid.UUID, scope: sa.ColumnElement[bool]) -> Job:
    """The job if ``scope`` lets the caller see it, else ``JobNotFound``."""
    row = connection.execute(sa.select(jobs).where(jobs.c.id == job_id, scope)).one_or_none()
    if row is None:
        raise JobNotFound(f"no job {job_id}")
    return job_from_row(row)


def move_job(
    connection: sa.Connection,
    job_id: uuid.UUID,
    target: JobStatus,
    scope: sa.ColumnElement[bool],
    *,
    lease_seconds: float,
    reason: str | None = None,
    progress: int | None = None,
    event_data: dict[str, Any] | None = None,
) -> Job:
    """Move the job to ``target`` if its current status allows it (atomically).

    Appends the move's event to the job's log (with ``event_data`` added to its data).
    """
    now = utc_now()
    values: dict[str, Any] = {"status": target.value, "updated_at": now}
    if reason is not None:
        values["decision_reason"] = reason
    if progress is not None:
        values["progress"] = progress
    if target in LEASED:
        values["lease_expires_at"] = now + timedelta(seconds=lease_seconds)
    if target is JobStatus.RUNNING:
        values["started_at"] = sa.func.coalesce(jobs.c.started_at, now)
    if target in TERMINAL:
        values["completed_at"] = now
        values["lease_expires_at"] = None
    if target is JobStatus.COMPLETED:
        values["progress"] = 100
    allowed = [status.value for status in sources_of(target)]
    job = _update_or_explain(connection, job_id, target, scope, jobs.c.status.in_(allowed), values)
    append_status_event(connection, job.id, target, reason, event_data)
    if target is JobStatus.COMPLETED:
        search_popularity.job_completed(connection, job.agent_id)
    return job


def apply_report(
    connection: sa.Connection,
    job_id: uuid.UUID,
    target: JobStatus,
    scope: sa.ColumnElement[bool],
    *,
    lease_seconds: float,
    progress: int | None = None,
    reason: str | None = None,
    attempt: int | None = None,
) -> Job:
    """An executor's report: move the job to ``target``, or repeat the current status.

    Repeating the report that produced the current status is not an error (its first
    answer may have been lost): on a leased job it renews the lease (and sets the
    progress), on an ended one it answers the job as it is. Anything else that the
    transition table refuses is ``InvalidTransition``. A progress value is appended to the
    job's log as a (coalesced) ``progress`` event. With ``attempt``, a job now on another
    attempt is ``StaleAttempt``. A ``failed`` report on a job whose agent retries failures
    requeues it while attempts are left (the answer is the pending job).
    """
    fenced = scope if attempt is None else sa.and_(scope, jobs.c.attempt == attempt)
    try:
        if target is JobStatus.FAILED:
            retried = _requeue_failure(connection, job_id, fenced, reason)
            if retried is not None:
                return retried
        job = _apply_report(connection, job_id, target, fenced, lease_seconds, progress, reason)
    except (InvalidTransition, JobNotFound):
        if attempt is not None:
            current = load_job(connection, job_id, scope)
            if current.attempt != attempt:
                raise StaleAttempt(
                    f"job {job_id} is on attempt {current.attempt}; this report is for "
                    f"attempt {attempt}, which lost the job"
                ) from None
        raise
    if progress is not None and job.status in LEASED:
        append_progress(connection, job.id, progress)
    return job


def _requeue_failure(
    connection: sa.Connection,
    job_id: uuid.UUID,
    scope: sa.ColumnElement[bool],
    reason: str | None,
) -> Job | None:
    """Requeue a held job whose agent retries failures, if attempts are left; else None."""
    requeued = requeue_where(
        connection,
        sa.and_(
            jobs.c.id == job_id,
            scope,
            jobs.c.status.in_([status.value for status in LEASED]),
            jobs.c.retry_on_failure == sa.true(),
        ),
        reason or "handler failed",
    )
    return requeued[0] if requeued else None


def requeue_where(
    connection: sa.Connection, condition: sa.ColumnElement[bool], reason: str
) -> list[Job]:
    """Put the held jobs matching ``condition`` that have attempts left back to ``pending``.

    One conditional UPDATE (``attempt + 1``, lease and start cleared, ``reason`` kept as
    the decision reason): of racing callers (reapers on several replicas, a release and a
    reaper) each job is requeued once. Appends a ``requeued`` event per job and wakes the
    owners' claim long-polls.
    """
    now = utc_now()
    rows = connection.execute(
        jobs.update()
        .where(
            condition,
            jobs.c.status.in_([status.value for status in REQUEUABLE]),
            jobs.c.attempt < jobs.c.max_attempts,
        )
        .values(
            status=JobStatus.PENDING.value,
            attempt=jobs.c.attempt + 1,
            decision_reason=reason,
            lease_expires_at=None,
            started_at=None,
            progress=0,
            updated_at=now,
        )
        .returning(*jobs.c)
    ).all()
    requeued = [job_from_row(row) for row in rows]
    for job in requeued:
        append_status_event(connection, job.id, JobStatus.PENDING, reason, {"attempt": job.attempt})
    wake_owners(connection, {job.agent_id for job in requeued})
    return requeued


def end_where(
    connection: sa.Connection,
    condition: sa.ColumnElement[bool],
    target: JobStatus,
    reason: str,
) -> list[Job]:
    """Move every job matching ``condition`` that may enter ``target`` (terminal) to it.

    One conditional UPDATE, so racing callers end each job once; a status event per job.
    """
    now = utc_now()
    rows = connection.execute(
        jobs.update()
        .where(condition, jobs.c.status.in_([status.value for status in sources_of(target)]))
        .values(
            status=target.value,
            decision_reason=reason,
            lease_expires_at=None,
            completed_at=now,
            updated_at=now,
        )
        .returning(*jobs.c)
    ).all()
    ended = [job_from_row(row) for row in rows]
    for job in ended:
        append_status_event(connection, job.id, target, reason, {"attempt": job.attempt})
    return ended


def wake_owners(connection: sa.Connection, agent_ids: set[str]) -> None:
    """Wake the claim long-polls of the executors owning ``agent_ids`` (jobs to take)."""
    if not agent_ids:
        return
    owners = connection.execute(
        sa.select(agents.c.owner_id).where(agents.c.id.in_(sorted(agent_ids))).distinct()
    ).scalars()
    announce(connection, [owner_topic(owner) for owner in owners])


def release_job(
    connection: sa.Connection,
    job_id: uuid.UUID,
    scope: sa.ColumnElement[bool],
    *,
    reason: str,
    attempt: int | None,
) -> Job:
    """An executor gives a held job back: ``pending`` with ``attempt + 1``, or ``failed``
    with ``reason`` when it used its last attempt.

    Idempotent: when ``attempt`` was released already (the job moved on to a later
    attempt, or failed with this reason on it), the job is answered as it is. A job that
    is not held (pending, ended otherwise) is ``InvalidTransition``.
    """
    fenced = scope if attempt is None else sa.and_(scope, jobs.c.attempt == attempt)
    held = sa.and_(jobs.c.id == job_id, fenced)
    requeued = requeue_where(connection, held, reason)
    if requeued:
        return requeued[0]
    exhausted = end_where(
        connection,
        sa.and_(held, jobs.c.attempt >= jobs.c.max_attempts),
        JobStatus.FAILED,
        reason,
    )
    if exhausted:
        return exhausted[0]
    current = load_job(connection, job_id, scope)
    if attempt is not None and current.attempt > attempt:
        return current
    if (
        attempt is not None
        and current.status is JobStatus.FAILED
        and current.decision_reason == reason
    ):
        return current
    raise InvalidTransition(
        f"job {job_id} is {current.status.value}; only an accepted or running job can be released"
    )


def _apply_report(
    connection: sa.Connection,
    job_id: uuid.UUID,
    target: JobStatus,
    scope: sa.ColumnElement[bool],
    lease_seconds: float,
    progress: int | None,
    reason: str | None,
) -> Job:
    if progress is not None:
        # The common progress report: same status, new progress, renewed lease.
        renewed = _renew_lease(connection, job_id, target, scope, lease_seconds, progress, reason)
        if renewed is not None:
            return renewed
    try:
        return move_job(
            connection,
            job_id,
            target,
            scope,
            lease_seconds=lease_seconds,
            reason=reason,
            progress=progress,
        )
    except InvalidTransition:
        renewed = _renew_lease(connection, job_id, target, scope, lease_seconds, progress, reason)
        if renewed is not None:
            return renewed
        current = load_job(connection, job_id, scope)
        if current.status is target and target in TERMINAL:
            return current
        raise


def _renew_lease(
    connection: sa.Connection,
    job_id: uuid.UUID,
    status: JobStatus,
    scope: sa.ColumnElement[bool],
    lease_seconds: float,
    progress: int | None,
    reason: str | None,
) -> Job | None:
    """Renew the lease of a job still in the leased ``status``; ``None`` if it is not."""
    if status not in LEASED:
        return None
    now = utc_now()
    values: dict[str, Any] = {
        "updated_at": now,
        "lease_expires_at": now + timedelta(seconds=lease_seconds),
    }
    if progress is not None:
        values["progress"] = progress
    if reason is not None:
        values["decision_reason"] = reason
    row = connection.execute(
        jobs.update()
        .where(jobs.c.id == job_id, jobs.c.status == status.value, scope)
        .values(**values)
        .returning(*jobs.c)
    ).one_or_none()
    if row is None:
        return None
    note_locked(connection, [job_id])
    return job_from_row(row)


def claim_pending(
    connection: sa.Connection,
    executor: Principal,
    *,
    limit: int,
    agent_ids: list[str] | None,
    job_ids: list[uuid.UUID] | None,
    lease_seconds: float,
) -> list[Job]:
    """Take up to ``limit`` pending jobs of the executor's agents, oldest first: ``accepted``.

    One statement: ``WITH picked AS (SELECT id ... ORDER BY created_at LIMIT n FOR UPDATE
    SKIP LOCKED) UPDATE jobs ... FROM picked WHERE jobs.id = picked.id RETURNING *``. SKIP LOCKED: concurrent claimers on Postgres
    each take other rows instead of waiting for (or colliding on) the same ones. SQLite has
    no row locks and renders no ``FOR UPDATE``; its writers run one at a time (``BEGIN
    IMMEDIATE``), so each claim sees the previous one's result.
    """
    picked = sa.select(jobs.c.id).where(
        jobs.c.status == JobStatus.PENDING.value, executor_scope(executor)
    )
    if agent_ids is not None:
        picked = picked.where(jobs.c.agent_id.in_(agent_ids))
    if job_ids is not None:
        picked = picked.where(jobs.c.id.in_(job_ids))
    # A CTE, not ``id IN (SELECT ... LIMIT n)``: Postgres may plan that subquery as the
    # inner side of a semi join and run it once per outer row, taking more than n rows.
    # MATERIALIZED: the locking SELECT runs exactly once.
    chosen = (
        picked.order_by(jobs.c.created_at, jobs.c.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
        .cte("picked")
        .prefix_with("MATERIALIZED", dialect="postgresql")
    )
    now = utc_now()
    rows = connection.execute(
        jobs.update()
        .where(jobs.c.id == chosen.c.id, jobs.c.status == JobStatus.PENDING.value)
        .values(
            status=JobStatus.ACCEPTED.value,
            updated_at=now,
            lease_expires_at=now + timedelta(seconds=lease_seconds),
        )
        .returning(*jobs.c)
    ).all()
    note_locked(connection, [row.id for row in rows])
    # RETURNING follows no order; the caller gets the queue's order.
    claimed = sorted((job_from_row(row) for row in rows), key=lambda job: (job.created_at, job.id))
    for job in claimed:
        append_event(
            connection, job.id, JobEventKind.ACCEPTED, {"status": JobStatus.ACCEPTED.value}
        )
    return claimed


def _update_or_explain(
    connection: sa.Connection,
    job_id: uuid.UUID,
    target: JobStatus,
    scope: sa.ColumnElement[bool],
    condition: sa.ColumnElement[bool],
    values: dict[str, Any],
) -> Job:
    row = connection.execute(
        jobs.update()
        .where(jobs.c.id == job_id, condition, scope)
        .values(**values)
        .returning(*jobs.c)
    ).one_or_none()
    if row is not None:
        note_locked(connection, [job_id])
        return job_from_row(row)
    current = load_job(connection, job_id, scope)
    raise InvalidTransition(
        f"job {job_id} is {current.status.value}; it cannot become {target.value}"
    )
