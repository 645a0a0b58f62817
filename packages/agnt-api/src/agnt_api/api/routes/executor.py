"""The executor's endpoints: publish agents, take jobs, report, complete with files."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Path, Query, Request, Response, status

from agnt_api.api.deps import Executor, RuntimeDep
from agnt_api.api.multipart import iter_file_uploads
from agnt_api.ratelimit import RATE_LIMITED_RESPONSES, RateAction, RateLimit
from agnt_api.services import dispatch, presence, results
from agnt_models import (
    AGENT_ID_PATTERN,
    ATTEMPT_HEADER,
    DEFAULT_PAGE_LIMIT,
    MAX_PAGE_LIMIT,
    MAX_WAIT_SECONDS,
    Agent,
    AgentPublish,
    ClaimedJobs,
    ClaimRequest,
    Job,
    JobPage,
    JobRelease,
    JobStatus,
    JobWatch,
    LogBatch,
    LogBatchAccepted,
    StatusReport,
    WatchedJobs,
)

router = APIRouter(prefix="/v1/executor", tags=["executor"])

_UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["files"],
                    "properties": {
                        "files": {"type": "array", "items": {"type": "string", "format": "binary"}}
                    },
                }
            }
        },
    }
}


@router.put(
    "/agents/{agent_id}",
    response_model=Agent,
    dependencies=[Depends(RateLimit(RateAction.PUBLISHES))],
    responses={201: {"model": Agent, "description": "A new agent."}, **RATE_LIMITED_RESPONSES},
)
async def publish_agent(
    rt: RuntimeDep,
    caller: Executor,
    agent_id: Annotated[str, Path(pattern=AGENT_ID_PATTERN)],
    body: AgentPublish,
    response: Response,
) -> Agent:
    """Publish a new agent (201) or update one the caller owns (200)."""
    agent, created = await dispatch.publish_agent(rt, caller, agent_id, body)
    response.status_code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
    return agent


@router.delete("/agents/{agent_id}", response_model=Agent)
async def unpublish_agent(
    rt: RuntimeDep, caller: Executor, agent_id: Annotated[str, Path(pattern=AGENT_ID_PATTERN)]
) -> Agent:
    """Unpublish an agent the caller owns: hidden from search, orders refused (409).

    Its pending jobs are canceled with reason ``agent_unpublished``; accepted and running
    jobs go on. ``GET /v1/agents/{id}`` still answers, with ``published: false``. Publishing
    it again (``PUT``) brings it back. Repeating the call answers 200 again.
    """
    return await dispatch.unpublish_agent(rt, caller, agent_id)


@router.get("/jobs", response_model=JobPage)
async def list_executor_jobs(
    rt: RuntimeDep,
    caller: Executor,
    agent_id: Annotated[str | None, Query(pattern=AGENT_ID_PATTERN)] = None,
    status: JobStatus = JobStatus.PENDING,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_LIMIT)] = DEFAULT_PAGE_LIMIT,
    cursor: Annotated[str | None, Query(min_length=1, max_length=2000)] = None,
    wait: Annotated[float, Query(ge=0, le=MAX_WAIT_SECONDS)] = 0,
) -> JobPage:
    """Jobs of the caller's agents, oldest first; ``wait`` long-polls until one is there."""
    return await dispatch.executor_jobs(
        rt, caller, agent_id=agent_id, status=status, limit=limit, cursor=cursor, wait=wait
    )


@router.post("/claims", response_model=ClaimedJobs)
async def claim_jobs(
    rt: RuntimeDep, caller: Executor, body: ClaimRequest, request: Request
) -> ClaimedJobs:
    """Take up to ``max`` pending jobs of the caller's agents, oldest first (now accepted).

    Atomic: concurrent claimers never get the same job, and none gets a 409. With ``wait``
    the call long-polls until at least one job was taken (or answers an empty list); a
    caller who hung up meanwhile claims nothing more.
    """
    await presence.record_claim(rt, caller, body)
    return await dispatch.claim_jobs(rt, caller, body, request.is_disconnected)


@router.post("/jobs/watch", response_model=WatchedJobs)
async def watch_jobs(rt: RuntimeDep, caller: Executor, body: JobWatch) -> WatchedJobs:
    """The named jobs the caller no longer holds (canceled, ended, lost); long-polls with ``wait``."""
    await presence.record_watch(rt, caller, body)
    return await dispatch.watch_jobs(rt, caller, body)


@router.post("/jobs/{job_id}/status", response_model=Job)
async def report_status(
    rt: RuntimeDep, caller: Executor, job_id: uuid.UUID, body: StatusReport
) -> Job:
    """Accept, reject, start, fail, or report progress; renews the lease."""
    return await dispatch.report_status(rt, caller, job_id, body)


@router.post(
    "/jobs/{job_id}/logs",
    response_model=LogBatchAccepted,
    status_code=status.HTTP_202_ACCEPTED,
)
async def append_logs(
    rt: RuntimeDep, caller: Executor, job_id: uuid.UUID, body: LogBatch
) -> LogBatchAccepted:
    """Add a batch of the handler's output lines to the job's log (one ``log`` event).

    Only while the caller holds the job (accepted or running; else 409). Each job stores
    at most ``AGNT_MAX_LOG_BYTES_PER_JOB`` bytes of lines: past it, lines are dropped and
    one ``{"truncated": true}`` event says so; the answer is still 202 and counts them.
    """
    return await dispatch.append_logs(rt, caller, job_id, body)


@router.post(
    "/jobs/{job_id}/complete",
    response_model=Job,
    openapi_extra=_UPLOAD_BODY,
    dependencies=[Depends(RateLimit(RateAction.COMPLETIONS))],
    responses=RATE_LIMITED_RESPONSES,
)
async def complete_job(
    rt: RuntimeDep,
    caller: Executor,
    job_id: uuid.UUID,
    request: Request,
    idempotency_key: Annotated[
        str | None, Header(alias="Idempotency-Key", min_length=1, max_length=255)
    ] = None,
    attempt: Annotated[int | None, Header(alias=ATTEMPT_HEADER, ge=1)] = None,
) -> Job:
    """Upload the result files (multipart parts named ``files``); the job becomes completed.

    A retry with the same ``Idempotency-Key`` as a completion that happened answers 200
    with the completed job (its first answer was lost) instead of 409. An ``Agnt-Attempt``
    header names the claimed job's ``attempt``: a completion by a run that lost the job
    (the job moved on to a later attempt) is 409 ``stale_attempt`` and stores nothing.
    """
    return await results.complete_job(
        rt, caller, job_id, iter_file_uploads(request), idempotency_key, attempt
    )


@router.post("/jobs/{job_id}/release", response_model=Job)
async def release_job(rt: RuntimeDep, caller: Executor, job_id: uuid.UUID, body: JobRelease) -> Job:
    """Give a held (accepted or running) job back, e.g. on shutdown.

    It goes back to ``pending`` with ``attempt + 1`` for another executor, or fails with
    the reason once it used the agent's ``max_attempts``. Name the ``attempt`` given back:
    repeating a release that happened answers 200 with the job as it is now.
    """
    return await dispatch.release_job(rt, caller, job_id, body)
