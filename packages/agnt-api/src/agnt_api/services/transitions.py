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
from agnt_api.errors import InvalidTransition, JobNotFound
from agnt_api.services.events import (
    append_event,
    append_progress,
    append_status_event,
    note_locked,
)
from agnt_api.services.records import job_from_row, utc_now
from agnt_models import LEASED, TERMINAL, Job, JobEventKind, JobStatus, Role, sources_of


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
) -> Job:
    """An executor's report: move the job to ``target``, or repeat the current status.

    Repeating the report that produced the current status is not an error (its first
    answer may have been lost): on a leased job it renews the lease (and sets the
    progress), on an ended one it answers the job as it is. Anything else that the
    transition table refuses is ``InvalidTransition``. A progress value is appended to the
    job's log as a (coalesced) ``progress`` event.
    """
    job = _apply_report(connection, job_id, target, scope, lease_seconds, progress, reason)
    if progress is not None and job.status in LEASED:
        append_progress(connection, job.id, progress)
    return job


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
