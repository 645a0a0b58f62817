"""The buyer's jobs: order, list, follow (long-poll), result, cancel."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Request, Response, status

from agnt_api.api.deps import Buyer, RuntimeDep
from agnt_api.ratelimit import RATE_LIMITED_RESPONSES, RateAction, RateLimit
from agnt_api.services import buyer, results
from agnt_models import (
    AGENT_ID_PATTERN,
    DEFAULT_PAGE_LIMIT,
    MAX_PAGE_LIMIT,
    MAX_WAIT_SECONDS,
    Job,
    JobCreate,
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
) -> Job:
    """Order a job; params must satisfy the agent's input schema."""
    job, created = await buyer.order_job(rt, caller, body, idempotency_key)
    if not created:
        response.status_code = status.HTTP_200_OK
    return job


@router.get("", response_model=JobPage)
async def list_jobs(
    rt: RuntimeDep,
    caller: Buyer,
    status: JobStatus | None = None,
    agent_id: Annotated[str | None, Query(pattern=AGENT_ID_PATTERN)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_LIMIT)] = DEFAULT_PAGE_LIMIT,
    cursor: Annotated[str | None, Query(max_length=2000)] = None,
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
