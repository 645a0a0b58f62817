"""The buyer's jobs: order, list, follow (long-poll), result, cancel."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Request, Response, status
from fastapi.responses import StreamingResponse

from agnt_api.api.deps import Buyer, RuntimeDep
from agnt_api.auth import Principal
from agnt_api.ratelimit import RATE_LIMITED_RESPONSES, RateAction, RateLimit
from agnt_api.runtime import Runtime
from agnt_api.services import buyer, results
from agnt_models import (
    AGENT_ID_PATTERN,
    DEFAULT_PAGE_LIMIT,
    MAX_PAGE_LIMIT,
    MAX_WAIT_SECONDS,
    Job,
    JobCreate,
    JobEvent,
    JobEventPage,
    JobPage,
    JobResult,
    JobStatus,
)

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])

WaitQuery = Annotated[
    float,
    Query(ge=0, le=MAX_WAIT_SECONDS, description="Long-poll up to this many seconds."),
]


@router.post(
    "",
    response_model=Job,
    status_code=status.HTTP_201_CREATED,
    dependencies=[Depends(RateLimit(RateAction.ORDERS))],
    responses={
        200: {
            "model": Job,
            "description": "The job an earlier request with this Idempotency-Key created.",
        },
        **RATE_LIMITED_RESPONSES,
    },
)
async def create_job(
    rt: RuntimeDep,
    caller: Buyer,
    body: JobCreate,
    response: Response,
    idempotency_key: Annotated[
        str | None, Header(alias="Idempotency-Key", min_length=1, max_length=255)
    ] = None,
    prefer: Annotated[str | None, Header(alias="Prefer", max_length=1000)] = None,
) -> Job:
    """Order a job; params must satisfy the agent's input schema.

    ``Prefer: wait=N`` (seconds, at most 60; more is clamped) holds the answer until the
    job ends or N seconds pass, then answers the job as it is (still 201 for a new job;
    ``Preference-Applied: wait=N`` says the wait was honoured). Three different clocks:
    the **HTTP timeout** is the client's (set it above N, or the call fails while the job
    goes on); the **wait** only bounds how long this answer is held, and a job that has
    not ended by then keeps running (follow it with ``GET /v1/jobs/{id}?wait=`` or
    ``/events``); the job's **deadline** (``timeout_seconds``) ends the job itself, as
    ``failed`` with reason ``deadline_exceeded``.
    """
    job, created = await buyer.order_job(rt, caller, body, idempotency_key)
    if not created:
        response.status_code = status.HTTP_200_OK
    wait = _preferred_wait(prefer)
    if wait is not None:
        response.headers["Preference-Applied"] = f"wait={wait:g}"
        waited = await buyer.wait_for_end(rt, caller, job, wait)
        job = waited.model_copy(update={"agent_online": job.agent_online, "warning": job.warning})
    return job


_PREFER_WAIT = re.compile(r"(?:^|[,;\s])wait\s*=\s*\"?(\d+(?:\.\d+)?)\"?", re.IGNORECASE)


def _preferred_wait(prefer: str | None) -> float | None:
    """The ``wait`` of a ``Prefer`` header (RFC 7240), clamped to ``MAX_WAIT_SECONDS``."""
    if prefer is None:
        return None
    found = _PREFER_WAIT.search(prefer)
    if found is None:
        return None
    return min(float(found.group(1)), float(MAX_WAIT_SECONDS))


@router.get("", response_model=JobPage)
async def list_jobs(
    rt: RuntimeDep,
    caller: Buyer,
    status: JobStatus | None = None,
    agent_id: Annotated[str | None, Query(pattern=AGENT_ID_PATTERN)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_LIMIT)] = DEFAULT_PAGE_LIMIT,
    cursor: Annotated[str | None, Query(min_length=1, max_length=2000)] = None,
) -> JobPage:
    """The caller's jobs, newest first."""
    return await buyer.list_jobs(
        rt, caller, status=status, agent_id=agent_id, limit=limit, cursor=cursor
    )


@router.get("/{job_id}", response_model=Job)
async def get_job(rt: RuntimeDep, caller: Buyer, job_id: uuid.UUID, wait: WaitQuery = 0) -> Job:
    """A job; with ``wait`` the call returns when its status or progress changes."""
    return await buyer.get_job(rt, caller, job_id, wait=wait)


@router.get("/{job_id}/result", response_model=JobResult)
async def get_result(
    rt: RuntimeDep, caller: Buyer, job_id: uuid.UUID, request: Request
) -> JobResult:
    """The completed job's files with download URLs (409 until completed)."""
    return await results.job_result(rt, caller, job_id, base_url=str(request.base_url))


@router.post("/{job_id}/cancel", response_model=Job)
async def cancel_job(rt: RuntimeDep, caller: Buyer, job_id: uuid.UUID) -> Job:
    """Cancel the job unless it has already ended."""
    return await buyer.cancel_job(rt, caller, job_id)


SSE_MEDIA_TYPE = "text/event-stream"


@router.get(
    "/{job_id}/events",
    response_model=JobEventPage,
    responses={
        200: {
            "content": {SSE_MEDIA_TYPE: {"schema": {"type": "string"}}},
            "description": "JSON page, or with `Accept: text/event-stream` a stream of "
            "`id: <seq>`, `event: <kind>`, `data: <JobEvent>` messages.",
        }
    },
)
async def job_events(
    rt: RuntimeDep,
    caller: Buyer,
    job_id: uuid.UUID,
    request: Request,
    after: Annotated[int, Query(ge=0, description="Only events with a larger seq.")] = 0,
    wait: WaitQuery = 0,
    stream: Annotated[
        str | None, Query(pattern="^sse$", description="`sse`: stream, like the Accept header.")
    ] = None,
    last_event_id: Annotated[
        str | None, Header(alias="Last-Event-ID", max_length=32, pattern=r"^\d+$")
    ] = None,
) -> JobEventPage | StreamingResponse:
    """The job's event log, in order: a JSON page, or a Server-Sent Events stream.

    SSE (``Accept: text/event-stream`` or ``?stream=sse``): each event is ``id: <seq>``,
    ``event: <kind>``, ``data: <JobEvent JSON>``; the stream ends after the job's terminal
    event; a ``: keep-alive`` comment comes when nothing happened for a while. Reconnect
    with ``Last-Event-ID`` (or ``?after=``) to get exactly the events after it, none twice.
    JSON: the events after ``after``; with ``wait`` the call long-polls until there is one
    (or the job's log is done).
    """
    if last_event_id is not None:
        after = max(after, int(last_event_id))
    wants_stream = stream == "sse" or SSE_MEDIA_TYPE in request.headers.get("accept", "")
    if not wants_stream:
        return await buyer.job_events(rt, caller, job_id, after=after, wait=wait)
    return await event_stream(rt, caller, job_id, after)


async def event_stream(
    rt: Runtime, caller: Principal, job_id: uuid.UUID, after: int
) -> StreamingResponse:
    """The job's events after ``after`` as Server-Sent Events (also the web job page's)."""
    # The first read happens here, so a job the caller cannot see is a 404, not a stream.
    first = await buyer.job_events(rt, caller, job_id, after=after)
    batches = buyer.follow_events(rt, caller, job_id, after=after, first=first)
    return StreamingResponse(
        _server_sent(batches),
        media_type=SSE_MEDIA_TYPE,
        # no-transform, X-Accel-Buffering: proxies pass each event on at once.
        headers={"Cache-Control": "no-cache, no-transform", "X-Accel-Buffering": "no"},
    )


async def _server_sent(batches: AsyncIterator[list[JobEvent]]) -> AsyncIterator[str]:
    yield "retry: 2000\n\n"
    async for batch in batches:
        if not batch:
            yield ": keep-alive\n\n"
            continue
        yield "".join(
            f"id: {event.seq}\nevent: {event.kind.value}\ndata: {event.model_dump_json()}\n\n"
            for event in batch
        )
