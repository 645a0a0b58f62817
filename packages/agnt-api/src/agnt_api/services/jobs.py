"""The buyer's side of jobs: order (idempotently), read, list, cancel."""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from agnt_api.auth import Principal
from agnt_api.db.tables import agents, idempotency_keys, jobs
from agnt_api.errors import (
    AgentNotFound,
    ApiError,
    IdempotencyConflict,
    InvalidCursor,
    ValidationFailed,
)
from agnt_api.services.cursors import decode_cursor, encode_cursor, fingerprint
from agnt_api.services.events import append_event, note_locked
from agnt_api.services.input_files import attach_inputs
from agnt_api.services.records import as_utc, job_from_row, utc_now
from agnt_api.services.schemas import ParamsLimits, check_storable, validate_params
from agnt_api.services.transitions import buyer_scope, load_job, move_job
from agnt_api.services.webhooks import store_webhook_target
from agnt_models import (
    DEFAULT_MAX_ATTEMPTS,
    FieldError,
    Job,
    JobCreate,
    JobEventKind,
    JobPage,
    JobStatus,
    JobTimeouts,
)


def request_digest(body: JobCreate) -> str:
    """What an Idempotency-Key is bound to: the request body, canonically serialized."""
    canonical = json.dumps(body.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True)
class OrderTarget:
    """The agent an order was checked against: its owner, schema and version (updated_at)."""

    owner_id: uuid.UUID
    input_schema: dict[str, Any]
    updated_at: datetime
    accept_rules: dict[str, Any] | None = None
    unpublished: bool = False
    last_seen_at: datetime | None = None
    timeouts: JobTimeouts = field(default_factory=JobTimeouts)
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    retry_on_failure: bool = False
    input_files: dict[str, Any] | None = None
    """The agent's ``input_files`` rule as stored (null: no rule)."""


class AgentChangedDuringOrder(Exception):
    """The agent was re-published between reading its schema and writing the job."""


def check_order_input(body: JobCreate, idempotency_key: str | None) -> None:
    """``ValidationFailed`` if the order holds what a database cannot store (no I/O)."""
    check_storable("prompt", body.prompt)
    check_storable("params", body.params)
    if idempotency_key is not None:
        check_storable("Idempotency-Key", idempotency_key)


_AGENT_ID = sa.bindparam("agent_id", type_=agents.c.id.type)
_ORDER_TARGET = sa.select(
    agents.c.owner_id,
    agents.c.input_schema,
    agents.c.updated_at,
    agents.c.accept_rules,
    agents.c.unpublished_at,
    agents.c.last_seen_at,
    agents.c.timeout_default_seconds,
    agents.c.timeout_max_seconds,
    agents.c.max_attempts,
    agents.c.retry_on_failure,
    agents.c.input_files,
).where(agents.c.id == _AGENT_ID)
"""What an order is checked against (built once; see ``_INSERT_JOB``)."""
# FOR SHARE: a concurrent re-publish waits until the job is written (SQLite's write
# transaction is exclusive already).
_AGENT_VERSION = (
    sa.select(agents.c.updated_at).where(agents.c.id == _AGENT_ID).with_for_update(read=True)
)


def read_order_target(
    connection: sa.Connection, buyer: Principal, body: JobCreate, idempotency_key: str | None
) -> tuple[OrderTarget, Job | None]:
    """The agent to validate params against, and the job of an earlier identical order."""
    agent = connection.execute(_ORDER_TARGET, {"agent_id": body.agent_id}).one_or_none()
    if agent is None:
        raise AgentNotFound(f"no agent {body.agent_id}")
    target = OrderTarget(
        owner_id=agent.owner_id,
        input_schema=agent.input_schema,
        updated_at=agent.updated_at,
        accept_rules=agent.accept_rules,
        unpublished=agent.unpublished_at is not None,
        last_seen_at=None if agent.last_seen_at is None else as_utc(agent.last_seen_at),
        timeouts=JobTimeouts(default=agent.timeout_default_seconds, max=agent.timeout_max_seconds),
        max_attempts=agent.max_attempts,
        retry_on_failure=agent.retry_on_failure,
        input_files=agent.input_files,
    )
    earlier = None
    if idempotency_key is not None:
        earlier = _earlier_job(connection, buyer, idempotency_key, request_digest(body))
    return target, earlier


@dataclass(frozen=True, slots=True)
class OrderRead:
    """``read_order_target``'s answer, with the params' check when it was made alongside."""

    target: OrderTarget
    earlier: Job | None
    params_checked: bool
    """Whether ``validate_params`` ran (its refusal, if any, is ``params_error``)."""
    params_error: ApiError | None = None


def read_order_checked(
    connection: sa.Connection,
    buyer: Principal,
    body: JobCreate,
    idempotency_key: str | None,
    params_limits: ParamsLimits,
) -> OrderRead:
    """``read_order_target``, and the params' validation in the same thread hop.

    Validated here only for a new order of a published agent without input files (whose
    checks need no I/O before the params'); its refusal is kept, not raised, so that the
    caller raises the errors that come first (timeout, inputs rule) before it.
    """
    target, earlier = read_order_target(connection, buyer, body, idempotency_key)
    if earlier is not None or target.unpublished or body.inputs:
        return OrderRead(target, earlier, params_checked=False)
    try:
        validate_params(target.input_schema, body.params, params_limits)
    except ApiError as exc:
        return OrderRead(target, None, params_checked=True, params_error=exc)
    return OrderRead(target, None, params_checked=True)


def job_timeout(body: JobCreate, target: OrderTarget) -> float | None:
    """The order's timeout: its own or the agent's default; 422 past the agent's maximum."""
    timeout = body.timeout_seconds
    if timeout is None:
        return target.timeouts.default
    limit = target.timeouts.max
    if limit is not None and timeout > limit:
        message = f"at most {limit:g} seconds for agent {body.agent_id}"
        raise ValidationFailed(
            f"timeout_seconds: {message}",
            errors=[FieldError(loc="timeout_seconds", message=message)],
        )
    return timeout


def create_job(
    connection: sa.Connection,
    buyer: Principal,
    body: JobCreate,
    idempotency_key: str | None,
    target: OrderTarget,
) -> tuple[Job, bool, uuid.UUID]:
    """Write an order whose params were validated against ``target``; ``(job, created, owner_id)``.

    ``AgentChangedDuringOrder`` if the agent is no longer the version validated against (the
    caller validates again). A repeated Idempotency-Key returns the first job.
    """
    version = connection.execute(_AGENT_VERSION, {"agent_id": body.agent_id}).scalar_one_or_none()
    if version is None:
        raise AgentNotFound(f"no agent {body.agent_id}")
    if version != target.updated_at:
        raise AgentChangedDuringOrder(body.agent_id)
    digest = ""
    if idempotency_key is not None:
        digest = request_digest(body)
        earlier = _earlier_job(connection, buyer, idempotency_key, digest)
        if earlier is not None:
            return earlier, False, target.owner_id
    now = utc_now()
    job_id = uuid.uuid4()
    timeout = job_timeout(body, target)
    values = {
        "id": job_id,
        "agent_id": body.agent_id,
        "buyer_id": buyer.id,
        "prompt": body.prompt,
        "params": body.params,
        "created_at": now,
        "max_attempts": target.max_attempts,
        "retry_on_failure": target.retry_on_failure,
        "deadline_at": None if timeout is None else now + timedelta(seconds=timeout),
    }
    if idempotency_key is None:
        # No key, no race to answer: an IntegrityError rolls the whole order back, so the
        # savepoint (two round trips) is only taken when a concurrent duplicate may win.
        row = _insert_job(connection, buyer, body, job_id, values, now)
    else:
        try:
            with connection.begin_nested():
                row = _insert_job(connection, buyer, body, job_id, values, now)
                connection.execute(
                    idempotency_keys.insert().values(
                        buyer_id=buyer.id,
                        key=idempotency_key,
                        request_sha256=digest,
                        job_id=job_id,
                        created_at=now,
                    )
                )
        except IntegrityError:
            # A concurrent request with the same key committed first: answer with its job.
            earlier = _earlier_job(connection, buyer, idempotency_key, digest)
            if earlier is None:
                raise
            return earlier, False, target.owner_id
    # The new row is this transaction's (locked until commit): no lock statement needed.
    note_locked(connection, [job_id])
    append_event(connection, job_id, JobEventKind.CREATED, {"status": JobStatus.PENDING.value})
    return job_from_row(row), True, target.owner_id


_INSERT_JOB = (
    jobs.insert()
    .values(
        id=sa.bindparam("id", type_=jobs.c.id.type),
        agent_id=sa.bindparam("agent_id", type_=jobs.c.agent_id.type),
        buyer_id=sa.bindparam("buyer_id", type_=jobs.c.buyer_id.type),
        prompt=sa.bindparam("prompt", type_=jobs.c.prompt.type),
        params=sa.bindparam("params", type_=jobs.c.params.type),
        status=JobStatus.PENDING.value,
        progress=0,
        created_at=sa.bindparam("created_at", type_=jobs.c.created_at.type),
        updated_at=sa.bindparam("created_at", type_=jobs.c.updated_at.type),
        max_attempts=sa.bindparam("max_attempts", type_=jobs.c.max_attempts.type),
        retry_on_failure=sa.bindparam("retry_on_failure", type_=jobs.c.retry_on_failure.type),
        deadline_at=sa.bindparam("deadline_at", type_=jobs.c.deadline_at.type),
    )
    .returning(*jobs.c)
)
"""The order's INSERT, built once, answering the new row (no read-back SELECT)."""


def _insert_job(
    connection: sa.Connection,
    buyer: Principal,
    body: JobCreate,
    job_id: uuid.UUID,
    values: dict[str, Any],
    now: datetime,
) -> sa.Row[Any]:
    row = connection.execute(_INSERT_JOB, values).one()
    if body.webhook is not None:
        store_webhook_target(connection, job_id, buyer.id, body.webhook, now)
    attach_inputs(connection, buyer, job_id, body.inputs, now)
    return row


def _earlier_job(connection: sa.Connection, buyer: Principal, key: str, digest: str) -> Job | None:
    row = connection.execute(
        sa.select(idempotency_keys).where(
            idempotency_keys.c.buyer_id == buyer.id, idempotency_keys.c.key == key
        )
    ).one_or_none()
    if row is None:
        return None
    if row.request_sha256 != digest:
        raise IdempotencyConflict(
            "this Idempotency-Key was used with a different request body; use a new key"
        )
    return load_job(connection, row.job_id, jobs.c.buyer_id == buyer.id)


def get_job(connection: sa.Connection, buyer: Principal, job_id: uuid.UUID) -> Job:
    """The buyer's job (another buyer's is ``JobNotFound``)."""
    return load_job(connection, job_id, buyer_scope(buyer))


def cancel_job(
    connection: sa.Connection, buyer: Principal, job_id: uuid.UUID, lease_seconds: float
) -> Job:
    """Cancel the buyer's job unless it already ended (``InvalidTransition``)."""
    return move_job(
        connection,
        job_id,
        JobStatus.CANCELED,
        buyer_scope(buyer),
        lease_seconds=lease_seconds,
        reason="canceled by the buyer",
    )


def list_jobs(
    connection: sa.Connection,
    scope: sa.ColumnElement[bool],
    *,
    status: JobStatus | None,
    agent_id: str | None,
    limit: int,
    cursor: str | None,
    newest_first: bool = True,
    listing: str = "jobs",
    prompt_contains: str | None = None,
) -> JobPage:
    """A keyset-paginated page of jobs in ``scope``, newest (or oldest) first.

    ``prompt_contains``: only jobs whose prompt holds that text (any case; the web pages'
    search of my jobs).
    """
    query_key = fingerprint(status, agent_id, newest_first)
    if prompt_contains:
        query_key = fingerprint(status, agent_id, newest_first, prompt_contains)
    statement = _filtered_jobs(sa.select(jobs), scope, status, agent_id, prompt_contains)
    if cursor:
        created_at, last_id = _position(decode_cursor(cursor, listing, query_key))
        if newest_first:
            after = sa.or_(
                jobs.c.created_at < created_at,
                sa.and_(jobs.c.created_at == created_at, jobs.c.id < last_id),
            )
        else:
            after = sa.or_(
                jobs.c.created_at > created_at,
                sa.and_(jobs.c.created_at == created_at, jobs.c.id > last_id),
            )
        statement = statement.where(after)
    order = (
        (jobs.c.created_at.desc(), jobs.c.id.desc())
        if newest_first
        else (jobs.c.created_at.asc(), jobs.c.id.asc())
    )
    rows = connection.execute(statement.order_by(*order).limit(limit + 1)).all()
    items = [job_from_row(row) for row in rows[:limit]]
    next_cursor = None
    if len(rows) > limit:
        last = rows[limit - 1]
        position: dict[str, Any] = {"t": as_utc(last.created_at).isoformat(), "i": str(last.id)}
        next_cursor = encode_cursor(listing, query_key, position)
    return JobPage(items=items, next_cursor=next_cursor)


def _position(position: dict[str, Any]) -> tuple[datetime, uuid.UUID]:
    try:
        return as_utc(datetime.fromisoformat(position["t"])), uuid.UUID(position["i"])
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidCursor("the cursor's position is invalid") from exc


def _filtered_jobs(
    statement: sa.Select[Any],
    scope: sa.ColumnElement[bool],
    status: JobStatus | None,
    agent_id: str | None,
    prompt_contains: str | None,
) -> sa.Select[Any]:
    statement = statement.where(scope)
    if status is not None:
        statement = statement.where(jobs.c.status == status.value)
    if agent_id is not None:
        statement = statement.where(jobs.c.agent_id == agent_id)
    if prompt_contains:
        escaped = prompt_contains.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        statement = statement.where(jobs.c.prompt.ilike(f"%{escaped}%", escape="\\"))
    return statement


def count_jobs(
    connection: sa.Connection,
    scope: sa.ColumnElement[bool],
    *,
    status: JobStatus | None,
    agent_id: str | None,
    prompt_contains: str | None = None,
    at_most: int = 1000,
) -> int:
    """How many jobs in ``scope`` match, counting no further than ``at_most`` + 1."""
    matching = _filtered_jobs(sa.select(jobs.c.id), scope, status, agent_id, prompt_contains).limit(
        at_most + 1
    )
    return int(
        connection.execute(sa.select(sa.func.count()).select_from(matching.subquery())).scalar_one()
    )
