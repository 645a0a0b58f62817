"""The A2A operations on agnt's services: order, follow, list and cancel jobs as tasks.

Every operation is scoped to one agent (``/a2a/{agent_id}``) or, for the marketplace
interface (``agent_id=None``), to every agent; a job of another agent, or another buyer's,
is a ``TaskNotFoundError``. Nothing here knows about HTTP: the routes pass the base URL
that download links are built on.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import sqlalchemy as sa
from pydantic import ValidationError

from agnt_api.a2a import files
from agnt_api.a2a.errors import A2AError, FieldViolation, from_api_error, invalid_params_from
from agnt_api.a2a.tasks import (
    JOB_STATUSES,
    TASK_STATES,
    FilePart,
    agent_message,
    file_artifact,
    job_task,
    order_from_message,
)
from agnt_api.auth import Principal
from agnt_api.db.tables import job_events, jobs
from agnt_api.errors import ApiError, InvalidTransition, JobNotFound
from agnt_api.runtime import Runtime
from agnt_api.services import buyer, input_files, results
from agnt_api.services import jobs as job_service
from agnt_api.services.transitions import buyer_scope
from agnt_models import TERMINAL, Job, JobEvent, JobEventKind, JobResult, JobStatus
from agnt_models.a2a import (
    JsonRpcErrorCode,
    ListTasksRequest,
    ListTasksResponse,
    SendMessageRequest,
    StreamResponse,
    Task,
    TaskArtifactUpdateEvent,
    TaskState,
    TaskStatus,
    TaskStatusUpdateEvent,
)

DEFAULT_PAGE_SIZE = 50
IDEMPOTENCY_PREFIX = "a2a-message:"


@dataclass(frozen=True)
class Scope:
    """Who calls, about which agent (``None``: the marketplace interface), and where from."""

    caller: Principal
    agent_id: str | None
    base_url: str


def _job_id(task_id: str) -> uuid.UUID:
    try:
        return uuid.UUID(task_id)
    except ValueError:
        raise A2AError.task_not_found(task_id) from None


async def _load_job(rt: Runtime, scope: Scope, task_id: str) -> Job:
    try:
        job = await buyer.get_job(rt, scope.caller, _job_id(task_id))
    except JobNotFound:
        raise A2AError.task_not_found(task_id) from None
    if scope.agent_id is not None and job.agent_id != scope.agent_id:
        raise A2AError.task_not_found(task_id)
    return job


async def _result(rt: Runtime, scope: Scope, job: Job) -> JobResult | None:
    if job.status is not JobStatus.COMPLETED:
        return None
    return await results.job_result(rt, scope.caller, job.id, base_url=scope.base_url)


async def as_task(
    rt: Runtime, scope: Scope, job: Job, *, history_length: int | None = None
) -> Task:
    """The job as a task, with its artifacts when it has completed."""
    result = await _result(rt, scope, job)
    return job_task(job, result, history_length=history_length)


def _target_agent(scope: Scope, request: SendMessageRequest) -> str:
    if scope.agent_id is not None:
        return scope.agent_id
    for metadata in (request.message.metadata, request.metadata):
        chosen = (metadata or {}).get("agentId")
        if isinstance(chosen, str) and chosen:
            return chosen
    raise A2AError.invalid_params(
        [
            FieldViolation(
                "message.metadata.agentId",
                "the marketplace interface needs the agent's id (a skill id of its card)",
            )
        ]
    )


def _idempotency_key(message_id: str) -> str:
    # A resent message (same messageId) is the same order (spec 3.3.1): agnt's
    # Idempotency-Key, hashed when long so it fits.
    key = IDEMPOTENCY_PREFIX + message_id
    if len(key) > 255:
        key = IDEMPOTENCY_PREFIX + hashlib.sha256(message_id.encode()).hexdigest()
    return key


async def order(rt: Runtime, scope: Scope, request: SendMessageRequest) -> Job:
    """Order the job a ``SendMessage`` stands for (not waiting for it)."""
    message = request.message
    if message.task_id:
        await _load_job(rt, scope, message.task_id)
        raise A2AError(
            JsonRpcErrorCode.UNSUPPORTED_OPERATION,
            "an agnt task takes one message; send a new message (without taskId) for a new task",
        )
    agent_id = _target_agent(scope, request)
    try:
        body, parts = order_from_message(agent_id, message, scope.base_url)
    except ValidationError as exc:
        raise invalid_params_from(exc) from None
    key = _idempotency_key(message.message_id)
    if any(part.content is not None for part in parts):
        earlier = await rt.database.run(files.earlier_order, scope.caller, key)
        if earlier is not None:
            return earlier
    uploaded: list[uuid.UUID] = []
    try:
        refs = await files.store_parts(rt, scope.caller, agent_id, parts, uploaded)
        job, _ = await buyer.order_job(
            rt, scope.caller, body.model_copy(update={"inputs": refs}), key
        )
    except ApiError as exc:
        await input_files.delete_input_files(rt, scope.caller, uploaded)
        raise _order_error(exc, parts) from None
    except BaseException:
        await input_files.delete_input_files(rt, scope.caller, uploaded)
        raise
    return job


def _order_error(exc: ApiError, parts: list[FilePart]) -> A2AError:
    """An order's refusal as an A2A error; what agnt says of ``inputs`` is about the file
    parts: the URL part naming an unknown file, else ``message.parts``."""
    error = from_api_error(exc)
    if exc.code not in files.INPUT_ERRORS:
        return error

    def where(description: str) -> str:
        for part in parts:
            if part.file_id is not None and str(part.file_id) in description:
                return f"{part.where}.url"
        return "message.parts"

    violations = [
        FieldViolation(where(v.description), v.description) if v.field == "inputs" else v
        for v in error.violations
    ] or [FieldViolation(where(exc.detail or ""), exc.detail or "")]
    refused = A2AError.invalid_params(violations)
    refused.metadata.update(error.metadata)
    return refused


def wait_seconds(rt: Runtime, request: SendMessageRequest) -> float:
    """How long ``SendMessage`` holds its answer: blocking (the default) waits, bounded."""
    configuration = request.configuration
    if configuration is not None and (
        configuration.return_immediately or configuration.blocking is False
    ):
        return 0.0
    return rt.settings.max_wait_seconds


async def send_message(rt: Runtime, scope: Scope, request: SendMessageRequest) -> Task:
    """``SendMessage``: order the job; unless ``returnImmediately``, wait for its end.

    The wait is bounded like ``Prefer: wait`` (``max_wait_seconds``, at most 60 s): a job
    still running then is answered as it is (``TASK_STATE_WORKING``).
    """
    job = await order(rt, scope, request)
    job = await buyer.wait_for_end(rt, scope.caller, job, wait_seconds(rt, request))
    history = request.configuration.history_length if request.configuration else None
    return await as_task(rt, scope, job, history_length=history)


async def get_task(
    rt: Runtime, scope: Scope, task_id: str, history_length: int | None = None
) -> Task:
    """``GetTask``."""
    return await as_task(
        rt, scope, await _load_job(rt, scope, task_id), history_length=history_length
    )


async def cancel_task(rt: Runtime, scope: Scope, task_id: str) -> Task:
    """``CancelTask``: cancel the job unless it has ended (``TaskNotCancelableError``)."""
    job = await _load_job(rt, scope, task_id)
    try:
        job = await buyer.cancel_job(rt, scope.caller, job.id)
    except InvalidTransition:
        current = await _load_job(rt, scope, task_id)
        state = TASK_STATES[current.status].value
        raise A2AError(
            JsonRpcErrorCode.TASK_NOT_CANCELABLE,
            f"task {task_id} is {state}",
            metadata={"taskId": task_id, "state": state},
        ) from None
    return await as_task(rt, scope, job)


def _list_filter(
    scope: Scope, caller: Principal, request: ListTasksRequest
) -> tuple[sa.ColumnElement[bool], str]:
    """The jobs a ``ListTasks`` selects, and the cursor's listing name for that filter."""
    conditions = [buyer_scope(caller)]
    names = ["a2a"]
    if request.status not in (None, TaskState.UNSPECIFIED):
        statuses = [status.value for status in JOB_STATUSES[request.status]]
        conditions.append(jobs.c.status.in_(statuses))
        names.append(request.status.value)
    if request.context_id:
        try:
            conditions.append(jobs.c.id == uuid.UUID(request.context_id))
        except ValueError:
            conditions.append(sa.false())
        names.append(request.context_id)
    if request.status_timestamp_after is not None:
        conditions.append(jobs.c.updated_at > request.status_timestamp_after)
        names.append(request.status_timestamp_after.isoformat())
    return sa.and_(*conditions), ":".join(names)


def _list_jobs(
    connection: sa.Connection,
    scope: Scope,
    request: ListTasksRequest,
    page_size: int,
) -> tuple[list[Job], str | None, int]:
    where, listing = _list_filter(scope, scope.caller, request)
    page = job_service.list_jobs(
        connection,
        where,
        status=None,
        agent_id=scope.agent_id,
        limit=page_size,
        cursor=request.page_token or None,
        listing=listing,
    )
    count = sa.select(sa.func.count()).select_from(jobs).where(where)
    if scope.agent_id is not None:
        count = count.where(jobs.c.agent_id == scope.agent_id)
    total = int(connection.execute(count).scalar_one())
    return page.items, page.next_cursor, total


async def list_tasks(rt: Runtime, scope: Scope, request: ListTasksRequest) -> ListTasksResponse:
    """``ListTasks``: the caller's tasks (of this agent), newest first, keyset-paginated.

    agnt orders by creation, not by the last status change the spec asks for: a keyset
    on a value that changes would skip or repeat tasks between pages.
    """
    page_size = request.page_size or DEFAULT_PAGE_SIZE
    try:
        found, next_cursor, total = await rt.database.run(_list_jobs, scope, request, page_size)
    except ApiError as exc:
        error = from_api_error(exc)
        error.violations = error.violations or [FieldViolation("pageToken", exc.detail or "")]
        raise error from None
    include = bool(request.include_artifacts)
    tasks = []
    for job in found:
        result = await _result(rt, scope, job) if include else None
        tasks.append(
            job_task(job, result, history_length=request.history_length, with_artifacts=include)
        )
    return ListTasksResponse(
        tasks=tasks, next_page_token=next_cursor or "", page_size=page_size, total_size=total
    )


def _last_seq(connection: sa.Connection, job_id: uuid.UUID) -> int:
    return int(
        connection.execute(
            sa.select(sa.func.coalesce(sa.func.max(job_events.c.seq), 0)).where(
                job_events.c.job_id == job_id
            )
        ).scalar_one()
    )


@dataclass(frozen=True)
class StreamItem:
    """One SSE message of a task stream: a response (``None``: keep-alive) and its event id."""

    response: StreamResponse | None
    event_id: int | None = None


async def subscription_start(
    rt: Runtime, scope: Scope, task_id: str, after: int | None
) -> tuple[Job, int]:
    """``SubscribeToTask``'s job and the event seq to follow from.

    Without ``after`` (a ``Last-Event-ID``) the stream starts at the current end of the
    log: the seq is read before the job, so nothing between the two is lost.
    """
    job_id = _job_id(task_id)
    start = after if after is not None else await rt.database.run(_last_seq, job_id)
    job = await _load_job(rt, scope, task_id)
    if after is None and job.status in TERMINAL:
        raise A2AError(
            JsonRpcErrorCode.UNSUPPORTED_OPERATION,
            f"task {task_id} has ended ({TASK_STATES[job.status].value}); use GetTask",
            metadata={"taskId": task_id},
        )
    return job, start


async def streaming_start(
    rt: Runtime, scope: Scope, request: SendMessageRequest
) -> tuple[Job, int]:
    """``SendStreamingMessage``: order the job; the job now and the seq to follow from."""
    job = await order(rt, scope, request)
    start = await rt.database.run(_last_seq, job.id)
    return await buyer.get_job(rt, scope.caller, job.id), start


async def follow_task(rt: Runtime, scope: Scope, job: Job, after: int) -> AsyncIterator[StreamItem]:
    """The task stream: the task first, then an update per event of the job's log after
    ``after``, until its terminal event (the same follow as ``GET /v1/jobs/{id}/events``)."""
    yield StreamItem(StreamResponse(task=await as_task(rt, scope, job)))
    first = await buyer.job_events(rt, scope.caller, job.id, after=after)
    batches = buyer.follow_events(rt, scope.caller, job.id, after=after, first=first)
    async for batch in batches:
        if not batch:
            yield StreamItem(None)
            continue
        for event in batch:
            updates = await _updates(rt, scope, event)
            for index, update in enumerate(updates):
                last = index == len(updates) - 1
                yield StreamItem(update, event.seq if last else None)


_EVENT_STATES: dict[JobEventKind, TaskState] = {
    JobEventKind.CREATED: TaskState.SUBMITTED,
    JobEventKind.REQUEUED: TaskState.SUBMITTED,
    JobEventKind.ACCEPTED: TaskState.WORKING,
    JobEventKind.RUNNING: TaskState.WORKING,
    JobEventKind.PROGRESS: TaskState.WORKING,
    JobEventKind.COMPLETED: TaskState.COMPLETED,
    JobEventKind.FAILED: TaskState.FAILED,
    JobEventKind.CANCELED: TaskState.CANCELED,
    JobEventKind.REJECTED: TaskState.REJECTED,
}
"""Events that change what a client sees; log lines and lease expiries are not sent."""


async def _updates(rt: Runtime, scope: Scope, event: JobEvent) -> list[StreamResponse]:
    state = _EVENT_STATES.get(event.kind)
    if state is None:
        return []
    task_id = str(event.job_id)
    updates: list[StreamResponse] = []
    if event.kind is JobEventKind.COMPLETED:
        result = await results.job_result(rt, scope.caller, event.job_id, base_url=scope.base_url)
        updates += [
            StreamResponse(
                artifact_update=TaskArtifactUpdateEvent(
                    task_id=task_id,
                    context_id=task_id,
                    artifact=file_artifact(file),
                    last_chunk=True,
                )
            )
            for file in result.files
        ]
    reason = event.data.get("reason")
    message = None
    if isinstance(reason, str) and reason:
        message = agent_message(task_id, reason, f"{task_id}-{event.seq}")
    metadata = {"event": event.kind.value, "seq": event.seq}
    progress = event.data.get("progress")
    if isinstance(progress, int):
        metadata["progress"] = progress
    updates.append(
        StreamResponse(
            status_update=TaskStatusUpdateEvent(
                task_id=task_id,
                context_id=task_id,
                status=TaskStatus(state=state, message=message, timestamp=event.created_at),
                metadata=dict(metadata),
            )
        )
    )
    return updates
