"""Pages to follow one's jobs: the list, one job (live), cancel, and result downloads."""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from typing import Annotated

from fastapi import APIRouter, Header, Path, Query, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response, StreamingResponse

from agnt_api.api.deps import get_runtime
from agnt_api.api.routes import files
from agnt_api.api.routes.inputs import _serve as serve_input
from agnt_api.api.routes.jobs import event_stream
from agnt_api.auth import Principal
from agnt_api.errors import BadRequest, InvalidTransition
from agnt_api.services import buyer, input_files, results
from agnt_api.web import cost, flash
from agnt_api.web.flash import Flash
from agnt_api.web.paging import previous_links
from agnt_api.web.previews import previews_of
from agnt_api.web.sessions import CsrfChecked, SignedInBuyer
from agnt_api.web.templating import render
from agnt_models import AGENT_ID_PATTERN, Job, JobEventKind, JobStatus, ResultFile

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 20
AGENT_ID_REGEX = re.compile(AGENT_ID_PATTERN)
LIVE_WAIT_SECONDS = 25.0
"""How long one live-progress request of the job page waits for a change."""


@router.get("/jobs")
async def jobs_page(
    request: Request,
    principal: SignedInBuyer,
    status: Annotated[str, Query(max_length=20)] = "",
    agent: Annotated[str, Query(max_length=100)] = "",
    q: Annotated[str, Query(max_length=200)] = "",
    cursor: Annotated[str | None, Query(max_length=2000)] = None,
    trail: Annotated[str, Query(max_length=50_000)] = "",
) -> Response:
    """My jobs, newest first: filters by status and agent, a prompt search, a count,
    Previous and Next pages; rows of running jobs update live."""
    try:
        wanted = JobStatus(status) if status else None
    except ValueError:
        raise BadRequest(f"unknown job status {status!r}") from None
    agent_id = agent.strip() or None
    if agent_id is not None and not AGENT_ID_REGEX.fullmatch(agent_id):
        raise BadRequest(f"{agent_id!r} is not an agent id")
    page, total = await buyer.find_jobs(
        get_runtime(request),
        principal,
        status=wanted,
        agent_id=agent_id,
        prompt_contains=q.strip() or None,
        limit=PAGE_SIZE,
        cursor=cursor,
    )
    previous_cursor, previous_trail, here = (
        previous_links(cursor, trail) if cursor else (None, "", "-")
    )
    return await render(
        request,
        "jobs.html",
        {
            "page": page,
            "total": total,
            "status": wanted,
            "statuses": list(JobStatus),
            "agent": agent_id or "",
            "q": q.strip(),
            "cursor": cursor,
            "filters": {"status": status or None, "agent": agent_id, "q": q.strip() or None},
            "previous_cursor": previous_cursor,
            "previous_trail": previous_trail,
            "trail_here": here,
        },
    )


async def _result_files(request: Request, principal: Principal, job: Job) -> list[ResultFile]:
    if job.status is not JobStatus.COMPLETED:
        return []
    result = await results.job_result(
        get_runtime(request), principal, job.id, base_url=str(request.base_url)
    )
    return result.files


def _log_lines(data: Mapping[str, object]) -> list[str]:
    """The text lines of one log event (a truncation marker says what was dropped)."""
    lines = data.get("lines")
    if not isinstance(lines, list):
        return ["[output past the size limit was dropped]"] if data.get("truncated") else []
    return [str(line.get("text", "")) for line in lines if isinstance(line, dict)]


async def _job_page(
    request: Request,
    principal: Principal,
    job: Job,
    *,
    notice: str | None = None,
    status_code: int = 200,
) -> Response:
    rt = get_runtime(request)
    files = await _result_files(request, principal, job)
    inputs = await input_files.list_job_inputs(
        rt, principal, job.id, as_executor=False, base_url=str(request.base_url)
    )
    events = await buyer.job_events(rt, principal, job.id, after=0)
    logs = [
        text
        for event in events.items
        if event.kind is JobEventKind.LOG
        for text in _log_lines(event.data)
    ]
    return await render(
        request,
        "job.html",
        {
            "job": job,
            "files": files,
            "inputs": inputs.files,
            "previews": await previews_of(rt, principal, job.id, files),
            "events": events,
            "logs": logs,
            "notice": notice,
            "live_wait": int(LIVE_WAIT_SECONDS),
            "job_cost": await cost.job_cost_of(rt, job.agent_id, job.status, job.duration_seconds),
        },
        status_code=status_code,
    )


@router.get("/jobs/{job_id}")
async def job_page(request: Request, principal: SignedInBuyer, job_id: uuid.UUID) -> Response:
    """One job: status, live progress, reason, times, files to download, cancel."""
    job = await buyer.get_job(get_runtime(request), principal, job_id)
    kept = flash.take(request)
    return await _job_page(request, principal, job, notice=kept.notice if kept else None)


@router.get("/jobs/{job_id}/live")
async def job_live(
    request: Request,
    principal: SignedInBuyer,
    job_id: uuid.UUID,
    wait: Annotated[float, Query(ge=0, le=LIVE_WAIT_SECONDS)] = 0,
) -> JSONResponse:
    """The job as JSON for the page's live progress; ``wait`` long-polls for a change."""
    job = await buyer.get_job(get_runtime(request), principal, job_id, wait=wait)
    return JSONResponse(job.to_json_dict(), headers={"Cache-Control": "no-store"})


@router.get("/jobs/{job_id}/events")
async def job_event_stream(
    request: Request,
    principal: SignedInBuyer,
    job_id: uuid.UUID,
    last_event_id: Annotated[
        str | None, Header(alias="Last-Event-ID", max_length=32, pattern=r"^\d+$")
    ] = None,
    after: Annotated[int, Query(ge=0)] = 0,
) -> StreamingResponse:
    """The job's event stream for the page (``EventSource``), signed in by the session.

    ``after``: the page already shows the events up to it (server-rendered); a reconnect's
    ``Last-Event-ID`` wins over it.
    """
    start = after if last_event_id is None else int(last_event_id)
    return await event_stream(get_runtime(request), principal, job_id, start)


@router.post("/jobs/{job_id}/cancel", dependencies=[CsrfChecked])
async def cancel_submit(request: Request, principal: SignedInBuyer, job_id: uuid.UUID) -> Response:
    """Cancel the job, then back to its page; if it had ended, the page says so."""
    rt = get_runtime(request)
    back = RedirectResponse(f"/jobs/{job_id}", status_code=303)
    try:
        await buyer.cancel_job(rt, principal, job_id)
    except InvalidTransition:
        job = await buyer.get_job(rt, principal, job_id)
        notice = f"The job had already ended ({job.status.value}); nothing was canceled."
        flash.keep(request, back, Flash(f"/jobs/{job_id}", notice=notice))
    return back


@router.get("/jobs/{job_id}/files/{name}")
async def download_result_file(
    request: Request,
    principal: SignedInBuyer,
    job_id: uuid.UUID,
    name: Annotated[str, Path(max_length=255)],
    range_header: Annotated[str | None, Header(alias="Range")] = None,
    if_none_match: Annotated[str | None, Header(alias="If-None-Match")] = None,
    if_range: Annotated[str | None, Header(alias="If-Range")] = None,
) -> Response:
    """A result file, with the session instead of a bearer key (same Range and ETag rules)."""
    return await files.download_file(
        get_runtime(request), principal, job_id, name, range_header, if_none_match, if_range
    )


@router.get("/jobs/{job_id}/inputs/{name}")
async def download_input_file(
    request: Request,
    principal: SignedInBuyer,
    job_id: uuid.UUID,
    name: Annotated[str, Path(max_length=255)],
) -> Response:
    """One input file of the buyer's job, with the session (as ``GET /v1/jobs/{id}/inputs/
    {name}``: a redirect to storage where storage is S3)."""
    rt = get_runtime(request)
    stored = await input_files.job_input(rt, principal, job_id, name, as_executor=False)
    return await serve_input(rt, stored, name)
