"""Moving a job between statuses: one conditional UPDATE per move, on either database.

``UPDATE jobs SET status = :target ... WHERE id = :id AND status IN sources_of(target)``:
of many racing callers exactly one changes the row; the others see no row and get 409.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeAlias, TypeVar, cast

import sqlalchemy as sa

from agnt_api.auth import Principal
from agnt_api.db.database import NOTIFY_CHANNEL
from agnt_api.db.tables import agents, job_events, job_results, job_webhooks, jobs
from agnt_api.errors import InvalidTransition, JobNotFound, StaleAttempt
from agnt_api.notify import agent_topic, announce, owner_topic
from agnt_api.services.events import (
    PROGRESS_INTERVAL,
    STATUS_EVENT_KINDS,
    append_event,
    append_progress,
    append_status_event,
    note_locked,
    status_event_data,
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


@dataclass(frozen=True, slots=True)
class JobScope:
    """The jobs a caller may see, as a condition built once plus the caller's parameters.

    The same rule as ``buyer_scope``/``executor_scope``, for the hot path: statements over
    a ``JobScope`` are built once per shape and kept, so SQLAlchemy finds their compiled
    form by a memoized key instead of building and keying a new statement tree on every
    call (that was most of its CPU per claim and status report).
    """

    name: str
    condition: sa.ColumnElement[bool]
    params: Mapping[str, Any]
    principal: Principal
    per_call: Callable[[Principal], sa.ColumnElement[bool]]

    def clause(self) -> sa.ColumnElement[bool]:
        """The condition with the caller's values in it (for statements built per call)."""
        return self.per_call(self.principal)


Scope: TypeAlias = sa.ColumnElement[bool] | JobScope
"""A caller's view of the jobs: a condition, or a ``JobScope`` (cached statements)."""

_SCOPE_BUYER = "scope_buyer_id"
_SCOPE_OWNER = "scope_owner_id"
_BUYER_CONDITION = jobs.c.buyer_id == sa.bindparam(_SCOPE_BUYER, type_=jobs.c.buyer_id.type)
_EXECUTOR_CONDITION = jobs.c.agent_id.in_(
    sa.select(agents.c.id).where(
        agents.c.owner_id == sa.bindparam(_SCOPE_OWNER, type_=agents.c.owner_id.type)
    )
)


def buyer_job_scope(principal: Principal) -> JobScope:
    """``buyer_scope`` as a ``JobScope``."""
    if principal.role is Role.ADMIN:
        return JobScope("all", sa.true(), {}, principal, buyer_scope)
    return JobScope("buyer", _BUYER_CONDITION, {_SCOPE_BUYER: principal.id}, principal, buyer_scope)


def executor_job_scope(principal: Principal) -> JobScope:
    """``executor_scope`` as a ``JobScope``."""
    return JobScope(
        "executor", _EXECUTOR_CONDITION, {_SCOPE_OWNER: principal.id}, principal, executor_scope
    )


_S = TypeVar("_S", bound=sa.Executable)
_STATEMENTS: dict[Hashable, sa.Executable] = {}
"""Statements over a ``JobScope``, by shape and scope name (a few dozen at most)."""

# Per-call values of the cached statements, bound at execution.
_JOB_ID = sa.bindparam("t_job_id", type_=jobs.c.id.type)
_NOW = sa.bindparam("t_now", type_=jobs.c.updated_at.type)
_LEASE_END = sa.bindparam("t_lease_end", type_=jobs.c.lease_expires_at.type)
_REASON = sa.bindparam("t_reason", type_=jobs.c.decision_reason.type)
_PROGRESS = sa.bindparam("t_progress", type_=jobs.c.progress.type)
_ATTEMPT = sa.bindparam("t_attempt", type_=jobs.c.attempt.type)
_EVENT_KIND = sa.bindparam("t_event_kind", type_=job_events.c.kind.type)
_EVENT_DATA = sa.bindparam("t_event_data", type_=job_events.c.data.type)
_PROGRESS_DATA = sa.bindparam("t_progress_data", type_=job_events.c.data.type)
_PROGRESS_CUTOFF = sa.bindparam("t_progress_cutoff", type_=job_events.c.created_at.type)
_NOTIFY_PAYLOAD = sa.bindparam("t_notify_payload", type_=sa.Text())
_RESULT_FILES = sa.bindparam("t_result_files", type_=job_results.c.files.type)
_RESULT_KEY = sa.bindparam("t_result_key", type_=job_results.c.idempotency_key.type)


def _statement(
    shape: Hashable, scope: Scope, build: Callable[[sa.ColumnElement[bool]], _S]
) -> tuple[_S, Mapping[str, Any]]:
    """``build(condition)`` and the scope's parameters; kept per shape for a ``JobScope``."""
    if not isinstance(scope, JobScope):
        return build(scope), {}
    key = (shape, scope.name)
    statement = _STATEMENTS.get(key)
    if statement is None:
        statement = _STATEMENTS[key] = build(scope.condition)
    return cast(_S, statement), scope.params


def _clause(scope: Scope) -> sa.ColumnElement[bool]:
    return scope.clause() if isinstance(scope, JobScope) else scope


def _select_job(condition: sa.ColumnElement[bool]) -> sa.Select[Any]:
    return sa.select(jobs).where(jobs.c.id == _JOB_ID, condition)


def load_job(connection: sa.Connection, job_id: uuid.UUID, scope: Scope) -> Job:
    """The job if ``scope`` lets the caller see it, else ``JobNotFound``."""
    statement, params = _statement("load_job", scope, _select_job)
    row = connection.execute(statement, {**params, "t_job_id": job_id}).one_or_none()
    if row is None:
        raise JobNotFound(f"no job {job_id}")
    return job_from_row(row)


def move_job(
    connection: sa.Connection,
    job_id: uuid.UUID,
    target: JobStatus,
    scope: Scope,
    *,
    lease_seconds: float,
    reason: str | None = None,
    progress: int | None = None,
    event_data: dict[str, Any] | None = None,
    attempt: int | None = None,
) -> Job:
    """Move the job to ``target`` if its current status allows it (atomically).

    With ``attempt``, only while the job is on that attempt. Appends the move's event to
    the job's log (with ``event_data`` added to its data); ``InvalidTransition`` if the
    job (visible in ``scope``) may not move.
    """
    shape = ("move", target, reason is not None, progress is not None, attempt is not None)
    statement, params = _statement(
        shape,
        scope,
        lambda condition: _move_statement(
            target, condition, reason is not None, progress is not None, attempt is not None
        ),
    )
    now = utc_now()
    row = connection.execute(
        statement,
        {
            **params,
            "t_job_id": job_id,
            "t_now": now,
            "t_lease_end": now + timedelta(seconds=lease_seconds),
            "t_reason": reason,
            "t_progress": progress,
            "t_attempt": attempt,
        },
    ).one_or_none()
    if row is None:
        current = load_job(connection, job_id, scope)
        raise InvalidTransition(
            f"job {job_id} is {current.status.value}; it cannot become {target.value}"
        )
    note_locked(connection, [job_id])
    job = job_from_row(row)
    append_status_event(connection, job.id, target, reason, event_data)
    return job


def _move_statement(
    target: JobStatus,
    condition: sa.ColumnElement[bool],
    with_reason: bool,
    with_progress: bool,
    fenced: bool,
) -> sa.Update:
    values: dict[str, Any] = {"status": target.value, "updated_at": _NOW}
    if with_reason:
        values["decision_reason"] = _REASON
    if with_progress:
        values["progress"] = _PROGRESS
    if target in LEASED:
        values["lease_expires_at"] = _LEASE_END
    if target is JobStatus.RUNNING:
        values["started_at"] = sa.func.coalesce(jobs.c.started_at, _NOW)
    if target in TERMINAL:
        values["completed_at"] = _NOW
        values["lease_expires_at"] = None
    if target is JobStatus.COMPLETED:
        values["progress"] = 100
    allowed = [status.value for status in sources_of(target)]
    where = [jobs.c.id == _JOB_ID, jobs.c.status.in_(allowed), condition]
    if fenced:
        where.append(jobs.c.attempt == _ATTEMPT)
    return jobs.update().where(*where).values(**values).returning(*jobs.c)


def apply_report(
    connection: sa.Connection,
    job_id: uuid.UUID,
    target: JobStatus,
    scope: Scope,
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
    try:
        if target is JobStatus.FAILED:
            retried = _requeue_failure(connection, job_id, scope, reason, attempt)
            if retried is not None:
                return retried
        job = _apply_report(
            connection, job_id, target, scope, lease_seconds, progress, reason, attempt
        )
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
    scope: Scope,
    reason: str | None,
    attempt: int | None,
) -> Job | None:
    """Requeue a held job whose agent retries failures, if attempts are left; else None."""
    conditions = [
        jobs.c.id == job_id,
        _clause(scope),
        jobs.c.status.in_([status.value for status in LEASED]),
        jobs.c.retry_on_failure == sa.true(),
    ]
    if attempt is not None:
        conditions.append(jobs.c.attempt == attempt)
    requeued = requeue_where(connection, sa.and_(*conditions), reason or "handler failed")
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
    announce(connection, [agent_topic(agent_id) for agent_id in agent_ids])


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
    scope: Scope,
    lease_seconds: float,
    progress: int | None,
    reason: str | None,
    attempt: int | None,
) -> Job:
    if progress is not None:
        # The common progress report: same status, new progress, renewed lease.
        renewed = _renew_lease(
            connection, job_id, target, scope, lease_seconds, progress, reason, attempt
        )
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
            attempt=attempt,
        )
    except InvalidTransition:
        renewed = _renew_lease(
            connection, job_id, target, scope, lease_seconds, progress, reason, attempt
        )
        if renewed is not None:
            return renewed
        current = load_job(connection, job_id, scope)
        if (
            current.status is target
            and target in TERMINAL
            and (attempt is None or current.attempt == attempt)
        ):
            return current
        raise


def _renew_lease(
    connection: sa.Connection,
    job_id: uuid.UUID,
    status: JobStatus,
    scope: Scope,
    lease_seconds: float,
    progress: int | None,
    reason: str | None,
    attempt: int | None,
) -> Job | None:
    """Renew the lease of a job still in the leased ``status``; ``None`` if it is not."""
    if status not in LEASED:
        return None
    shape = ("renew", status, progress is not None, reason is not None, attempt is not None)
    statement, params = _statement(
        shape,
        scope,
        lambda condition: _renew_statement(
            status, condition, progress is not None, reason is not None, attempt is not None
        ),
    )
    now = utc_now()
    row = connection.execute(
        statement,
        {
            **params,
            "t_job_id": job_id,
            "t_now": now,
            "t_lease_end": now + timedelta(seconds=lease_seconds),
            "t_reason": reason,
            "t_progress": progress,
            "t_attempt": attempt,
        },
    ).one_or_none()
    if row is None:
        return None
    note_locked(connection, [job_id])
    return job_from_row(row)


def _renew_statement(
    status: JobStatus,
    condition: sa.ColumnElement[bool],
    with_progress: bool,
    with_reason: bool,
    fenced: bool,
) -> sa.Update:
    values: dict[str, Any] = {"updated_at": _NOW, "lease_expires_at": _LEASE_END}
    if with_progress:
        values["progress"] = _PROGRESS
    if with_reason:
        values["decision_reason"] = _REASON
    where = [jobs.c.id == _JOB_ID, jobs.c.status == status.value, condition]
    if fenced:
        where.append(jobs.c.attempt == _ATTEMPT)
    return jobs.update().where(*where).values(**values).returning(*jobs.c)


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
    SKIP LOCKED) UPDATE jobs ... FROM picked WHERE jobs.id = picked.id RETURNING *``. SKIP
    LOCKED: concurrent claimers on Postgres each take other rows instead of waiting for (or
    colliding on) the same ones. SQLite has no row locks and renders no ``FOR UPDATE``; its
    writers run one at a time (``BEGIN IMMEDIATE``), so each claim sees the previous one's
    result.
    """
    scope = executor_job_scope(executor)
    statement, params = _statement(
        ("claim", agent_ids is not None, job_ids is not None),
        scope,
        lambda condition: _claim_statement(condition, agent_ids is not None, job_ids is not None),
    )
    now = utc_now()
    rows = connection.execute(
        statement,
        {
            **params,
            "t_now": now,
            "t_lease_end": now + timedelta(seconds=lease_seconds),
            "t_limit": limit,
            "t_agent_ids": agent_ids,
            "t_job_ids": job_ids,
        },
    ).all()
    note_locked(connection, [row.id for row in rows])
    # RETURNING follows no order; the caller gets the queue's order.
    claimed = sorted((job_from_row(row) for row in rows), key=lambda job: (job.created_at, job.id))
    for job in claimed:
        append_event(
            connection, job.id, JobEventKind.ACCEPTED, {"status": JobStatus.ACCEPTED.value}
        )
    return claimed


def _claim_statement(condition: sa.ColumnElement[bool], by_agent: bool, by_job: bool) -> sa.Update:
    picked = sa.select(jobs.c.id).where(jobs.c.status == JobStatus.PENDING.value, condition)
    if by_agent:
        picked = picked.where(jobs.c.agent_id.in_(sa.bindparam("t_agent_ids", expanding=True)))
    if by_job:
        picked = picked.where(
            jobs.c.id.in_(sa.bindparam("t_job_ids", expanding=True, type_=jobs.c.id.type))
        )
    # A CTE, not ``id IN (SELECT ... LIMIT n)``: Postgres may plan that subquery as the
    # inner side of a semi join and run it once per outer row, taking more than n rows.
    # MATERIALIZED: the locking SELECT runs exactly once.
    chosen = (
        picked.order_by(jobs.c.created_at, jobs.c.id)
        .limit(sa.bindparam("t_limit", type_=sa.Integer()))
        .with_for_update(skip_locked=True)
        .cte("picked")
        .prefix_with("MATERIALIZED", dialect="postgresql")
    )
    return (
        jobs.update()
        .where(jobs.c.id == chosen.c.id, jobs.c.status == JobStatus.PENDING.value)
        .values(status=JobStatus.ACCEPTED.value, updated_at=_NOW, lease_expires_at=_LEASE_END)
        .returning(*jobs.c)
    )


def report_once(
    connection: sa.Connection,
    job_id: uuid.UUID,
    target: JobStatus,
    scope: JobScope,
    *,
    lease_seconds: float,
    progress: int | None,
    reason: str | None,
    attempt: int | None,
    notify: str,
) -> Job | None:
    """``apply_report``'s common cases as single statements (Postgres, in autocommit).

    An executor's report of a leased status (``accepted``, ``running``): the lease renewal
    of a job already in it (with a progress value), else the move into it. Each is one
    ``UPDATE ... RETURNING`` whose events are ``INSERT``s in data-modifying CTEs (the
    status event, the coalesced progress event) and whose ``SELECT`` sends ``pg_notify``
    (``notify``: the payload), so the report is one statement and its own transaction.
    ``None`` when neither applied (nothing changed): a repeat of an ended status, a stale
    attempt, a refused move, a job with a webhook (its outbox row is written by the
    transactional path); the caller then runs ``apply_report`` in a transaction.

    The events' ``seq`` is ``MAX(seq) + 1`` read in the statement's snapshot, which may
    predate an event committed by the transaction whose row lock the ``UPDATE`` waited
    for: the ``INSERT`` then collides on the primary key, the whole statement fails, and
    the caller falls back as well (``IntegrityError``).
    """
    if target not in LEASED:
        return None
    now = utc_now()
    values: dict[str, Any] = {
        **scope.params,
        "t_job_id": job_id,
        "t_now": now,
        "t_lease_end": now + timedelta(seconds=lease_seconds),
        "t_reason": reason,
        "t_progress": progress,
        "t_attempt": attempt,
        "t_event_kind": STATUS_EVENT_KINDS[target].value,
        "t_event_data": status_event_data(target, reason),
        "t_progress_data": {"progress": progress},
        "t_progress_cutoff": now - PROGRESS_INTERVAL,
        "t_notify_payload": notify,
    }
    with_progress, with_reason, fenced = (
        progress is not None,
        reason is not None,
        attempt is not None,
    )
    if with_progress:
        # The common progress report: same status, new progress, renewed lease.
        statement, _ = _statement(
            ("renew_once", target, with_reason, fenced),
            scope,
            lambda condition: _once_statement(
                _renew_statement(target, condition, True, with_reason, fenced), False, True
            ),
        )
        row = connection.execute(statement, values).one_or_none()
        if row is not None:
            return job_from_row(row)
    statement, _ = _statement(
        ("move_once", target, with_reason, with_progress, fenced),
        scope,
        lambda condition: _once_statement(
            _move_statement(target, condition, with_reason, with_progress, fenced),
            True,
            with_progress,
        ),
    )
    row = connection.execute(statement, values).one_or_none()
    return None if row is None else job_from_row(row)


def complete_once(
    connection: sa.Connection,
    job_id: uuid.UUID,
    scope: JobScope,
    *,
    event_data: Mapping[str, Any],
    files: list[dict[str, Any]],
    idempotency_key: str | None,
    attempt: int | None,
    notify: str,
) -> Job | None:
    """``move_job`` to ``completed`` plus the result's row, folded (Postgres, in a transaction).

    One statement: the ``UPDATE ... RETURNING`` with the ``completed`` event and the
    ``job_results`` row as data-modifying CTEs and ``pg_notify`` (``notify``) in its
    ``SELECT`` (the agent's popularity is the sweep's, ``search_popularity``). ``None`` when the move
    did not apply (nothing changed; a job with a webhook is left to the unfolded path
    too). A seq collision (see ``report_once``) raises ``IntegrityError`` and aborts the
    transaction: the caller redoes the completion unfolded.
    """
    statement, _ = _statement(
        ("complete_once", attempt is not None),
        scope,
        lambda condition: _once_statement(
            _move_statement(JobStatus.COMPLETED, condition, False, False, attempt is not None),
            True,
            False,
            result=True,
        ),
    )
    now = utc_now()
    row = connection.execute(
        statement,
        {
            **scope.params,
            "t_job_id": job_id,
            "t_now": now,
            "t_lease_end": now,
            "t_attempt": attempt,
            "t_event_kind": JobEventKind.COMPLETED.value,
            "t_event_data": {**status_event_data(JobStatus.COMPLETED, None), **event_data},
            "t_result_files": files,
            "t_result_key": idempotency_key,
            "t_notify_payload": notify,
        },
    ).one_or_none()
    if row is None:
        return None
    return job_from_row(row)


def _once_statement(
    update: sa.Update, status_event: bool, progress_event: bool, *, result: bool = False
) -> sa.Select[Any]:
    """``update`` (of one job) with its events (and result) and ``pg_notify`` as one
    statement."""
    no_webhook = ~sa.exists().where(job_webhooks.c.job_id == _JOB_ID)
    moved = update.where(no_webhook).cte("moved")
    last_seq = (
        sa.select(sa.func.coalesce(sa.func.max(job_events.c.seq), 0))
        .where(job_events.c.job_id == moved.c.id)
        .scalar_subquery()
    )
    columns = ["job_id", "seq", "kind", "data", "created_at"]
    inserts: list[sa.CTE] = []
    offset = 1
    if status_event:
        rows = sa.select(moved.c.id, last_seq + 1, _EVENT_KIND, _EVENT_DATA, _NOW)
        inserts.append(job_events.insert().from_select(columns, rows).cte("status_event"))
        offset = 2
    if progress_event:
        # Coalesced as ``append_progress``: stored unless the last one is younger than
        # ``PROGRESS_INTERVAL`` (the job carries the value either way).
        last_progress = (
            sa.select(job_events.c.created_at)
            .where(
                job_events.c.job_id == moved.c.id,
                job_events.c.kind == JobEventKind.PROGRESS.value,
            )
            .order_by(job_events.c.seq.desc())
            .limit(1)
            .scalar_subquery()
        )
        rows = sa.select(
            moved.c.id,
            last_seq + offset,
            sa.literal(JobEventKind.PROGRESS.value, job_events.c.kind.type),
            _PROGRESS_DATA,
            _NOW,
        ).where(sa.or_(last_progress.is_(None), last_progress <= _PROGRESS_CUTOFF))
        inserts.append(job_events.insert().from_select(columns, rows).cte("progress_event"))
    if result:
        rows = sa.select(moved.c.id, _RESULT_FILES, _NOW, _RESULT_KEY)
        inserted = job_results.insert().from_select(
            ["job_id", "files", "created_at", "idempotency_key"], rows
        )
        inserts.append(inserted.cte("result"))
    notified = sa.func.pg_notify(sa.literal(NOTIFY_CHANNEL, sa.Text()), _NOTIFY_PAYLOAD)
    # Data-modifying CTEs run whether or not the SELECT reads them.
    return sa.select(moved, notified.label("notified")).add_cte(*inserts)
