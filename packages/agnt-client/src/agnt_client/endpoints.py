"""Every agnt API endpoint as an ``ApiCall``: what to send and how to read the answer.

No I/O: ``Client`` and ``AsyncClient`` send these. Request bodies are plain JSON in the
shape of the ``agnt_models`` request models; the API validates them and answers 422 with
the bad field named, so the client and the API report bad input the same way.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar
from urllib.parse import quote
from uuid import UUID

import httpx
from pydantic import BaseModel, JsonValue, ValidationError

from agnt_client.errors import APIResponseValidationError
from agnt_client.retries import IDEMPOTENCY_HEADER, is_idempotent
from agnt_client.tolerant import known_fields
from agnt_client.uploads import MultipartUpload, UploadSource
from agnt_models import (
    ATTEMPT_HEADER,
    Agent,
    AgentPublish,
    AgentSearchPage,
    AgentStats,
    ClaimedJobs,
    Health,
    InputFile,
    InputRef,
    Job,
    JobEventPage,
    JobInputs,
    JobPage,
    JobResult,
    JobStatus,
    LogBatchAccepted,
    LogLine,
    PricingModel,
    SearchSort,
    WatchedJobs,
    WebhookTarget,
)

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)

JobId = str | UUID
"""A job id as a string or a ``uuid.UUID``."""


@dataclass(frozen=True)
class ApiCall(Generic[T]):
    """One request to the API and the parser of its successful answer.

    ``long_poll`` is how long the server may hold the request (``wait=``); the client adds it
    to the read timeout. ``ok_statuses`` are error statuses whose body is still a valid
    answer (``/readyz`` answers 503 with a ``Health`` body). ``repeatable`` marks a POST
    that the API answers alike when it is sent again (a status report, a watch), so it is
    retried like an idempotent request.
    """

    method: str
    path: str
    parse: Callable[[httpx.Response], T]
    params: Mapping[str, str] = field(default_factory=dict)
    json: JsonValue = None
    headers: Mapping[str, str] = field(default_factory=dict)
    upload: MultipartUpload | None = None
    long_poll: float = 0.0
    ok_statuses: frozenset[int] = frozenset()
    repeatable: bool = False

    def accepts(self, response: httpx.Response) -> bool:
        """Whether ``response`` is this call's answer (else an error to retry or raise)."""
        return response.is_success or response.status_code in self.ok_statuses

    @property
    def idempotent(self) -> bool:
        """Whether sending this call twice cannot do anything twice."""
        return self.repeatable or is_idempotent(self.method, self.headers)


def parse_model(model: type[M]) -> Callable[[httpx.Response], M]:
    """A parser reading the response body as ``model``, ignoring fields it does not know."""

    def parse(response: httpx.Response) -> M:
        try:
            return model.model_validate(known_fields(model, json.loads(response.content)))
        except (ValueError, ValidationError) as exc:
            raise APIResponseValidationError(response, exc) from exc

    return parse


def _parse_claimed_items(response: httpx.Response) -> list[Job]:
    return parse_model(ClaimedJobs)(response).items


def segment(value: str | UUID) -> str:
    """A path segment for an id, percent-encoded; an empty id is refused."""
    text = str(value)
    if not text:
        raise ValueError("an id must not be empty")
    return quote(text, safe="")


def format_seconds(seconds: float) -> str:
    """``wait=`` as the API reads it: ``2`` for 2.0, ``2.5`` for 2.5."""
    if seconds < 0:
        raise ValueError(f"wait must be >= 0, got {seconds}")
    return str(int(seconds)) if float(seconds).is_integer() else repr(float(seconds))


def _query(**values: str | int | None) -> dict[str, str]:
    return {name: str(value) for name, value in values.items() if value is not None}


def health() -> ApiCall[Health]:
    """``GET /healthz``: the API process is up."""
    return ApiCall("GET", "/healthz", parse_model(Health))


def ready() -> ApiCall[Health]:
    """``GET /readyz``: database and storage reachable; a 503 still carries the checks."""
    return ApiCall("GET", "/readyz", parse_model(Health), ok_statuses=frozenset({503}))


def search_agents(
    query: str,
    *,
    tag: str | None,
    limit: int | None,
    cursor: str | None,
    sort: SearchSort | None = None,
    pricing: PricingModel | None = None,
    facets: bool = False,
    online: bool = False,
) -> ApiCall[AgentSearchPage]:
    """``GET /v1/agents/search``: one page of agents, by relevance unless ``sort`` says;
    ``online``: only agents an executor serves now."""
    params = _query(
        q=query,
        tag=tag,
        limit=limit,
        cursor=cursor,
        sort=None if sort is None else SearchSort(sort).value,
        pricing=None if pricing is None else PricingModel(pricing).value,
        facets="true" if facets else None,
        online="true" if online else None,
    )
    return ApiCall("GET", "/v1/agents/search", parse_model(AgentSearchPage), params=params)


def get_agent(agent_id: str) -> ApiCall[Agent]:
    """``GET /v1/agents/{agent_id}``."""
    return ApiCall("GET", f"/v1/agents/{segment(agent_id)}", parse_model(Agent))


def agent_stats(agent_id: str) -> ApiCall[AgentStats]:
    """``GET /v1/agents/{agent_id}/stats``."""
    return ApiCall("GET", f"/v1/agents/{segment(agent_id)}/stats", parse_model(AgentStats))


def create_job(
    agent_id: str,
    prompt: str,
    params: Mapping[str, JsonValue] | None,
    *,
    idempotency_key: str | None,
    webhook: WebhookTarget | None = None,
    prefer_wait: float | None = None,
    timeout_seconds: float | None = None,
    inputs: Sequence[InputRef] = (),
) -> ApiCall[Job]:
    """``POST /v1/jobs``, always with an ``Idempotency-Key`` so that retrying it is safe.

    The key is generated here, once per call, when the caller gives none: every retry of
    the call carries the same key and the API answers with the job the first attempt made.
    ``prefer_wait`` sends ``Prefer: wait=N``: the API holds the answer until the job ends
    or N seconds (at most 60) pass, and answers the job as it is then.
    """
    key = idempotency_key or str(uuid.uuid4())
    body: dict[str, JsonValue] = {
        "agent_id": agent_id,
        "prompt": prompt,
        "params": dict(params or {}),
    }
    if webhook is not None:
        body["webhook"] = webhook.to_json_dict()
    if timeout_seconds is not None:
        body["timeout_seconds"] = timeout_seconds
    if inputs:
        body["inputs"] = [ref.to_json_dict() for ref in inputs]
    headers = {IDEMPOTENCY_HEADER: key}
    if prefer_wait is not None:
        headers["Prefer"] = f"wait={format_seconds(prefer_wait)}"
    return ApiCall(
        "POST",
        "/v1/jobs",
        parse_model(Job),
        json=body,
        headers=headers,
        long_poll=prefer_wait or 0.0,
    )


def job_events_path(job_id: JobId) -> str:
    """``/v1/jobs/{job_id}/events``: the SSE stream, or JSON pages when asked for JSON."""
    return f"/v1/jobs/{segment(job_id)}/events"


def job_events(job_id: JobId, *, after: int | None, wait: float | None) -> ApiCall[JobEventPage]:
    """``GET /v1/jobs/{job_id}/events`` as JSON: the events after ``after``, long-polled."""
    params = _query(after=after)
    if wait is not None:
        params["wait"] = format_seconds(wait)
    return ApiCall(
        "GET",
        job_events_path(job_id),
        parse_model(JobEventPage),
        params=params,
        headers={"Accept": "application/json"},
        long_poll=wait or 0.0,
    )


def post_logs(
    job_id: JobId, lines: Sequence[LogLine], *, attempt: int | None = None
) -> ApiCall[LogBatchAccepted]:
    """``POST /v1/executor/jobs/{job_id}/logs`` with a ``LogBatch`` body (202).

    Not repeatable: a batch whose answer was lost would be logged twice if sent again, so
    it is retried only when the API certainly did not act on it.
    """
    body: dict[str, JsonValue] = {"lines": [line.to_json_dict() for line in lines]}
    if attempt is not None:
        body["attempt"] = attempt
    return ApiCall(
        "POST",
        f"/v1/executor/jobs/{segment(job_id)}/logs",
        parse_model(LogBatchAccepted),
        json=body,
    )


def list_jobs(
    *,
    status: JobStatus | str | None,
    agent_id: str | None,
    limit: int | None,
    cursor: str | None,
) -> ApiCall[JobPage]:
    """``GET /v1/jobs``: one page of the caller's jobs, newest first."""
    params = _query(
        status=None if status is None else str(status),
        agent_id=agent_id,
        limit=limit,
        cursor=cursor,
    )
    return ApiCall("GET", "/v1/jobs", parse_model(JobPage), params=params)


def get_job(job_id: JobId, *, wait: float | None) -> ApiCall[Job]:
    """``GET /v1/jobs/{job_id}``; with ``wait`` the API holds it until the job changes."""
    params = {} if wait is None else {"wait": format_seconds(wait)}
    return ApiCall(
        "GET",
        f"/v1/jobs/{segment(job_id)}",
        parse_model(Job),
        params=params,
        long_poll=wait or 0.0,
    )


def get_result(job_id: JobId) -> ApiCall[JobResult]:
    """``GET /v1/jobs/{job_id}/result``: file names, sizes, hashes and download URLs."""
    return ApiCall("GET", f"/v1/jobs/{segment(job_id)}/result", parse_model(JobResult))


def cancel_job(job_id: JobId) -> ApiCall[Job]:
    """``POST /v1/jobs/{job_id}/cancel``."""
    return ApiCall("POST", f"/v1/jobs/{segment(job_id)}/cancel", parse_model(Job))


def list_executor_jobs(
    *,
    status: JobStatus | str | None,
    agent_id: str | None,
    limit: int | None,
    cursor: str | None,
) -> ApiCall[JobPage]:
    """``GET /v1/executor/jobs``: jobs of the caller's agents in one status, oldest first."""
    params = _query(
        status=None if status is None else str(status),
        agent_id=agent_id,
        limit=limit,
        cursor=cursor,
    )
    return ApiCall("GET", "/v1/executor/jobs", parse_model(JobPage), params=params)


def claim_jobs(
    *,
    max: int,
    agent_ids: Sequence[str] | None,
    job_ids: Sequence[JobId] | None,
    wait: float | None,
) -> ApiCall[list[Job]]:
    """``POST /v1/executor/claims`` with a ``ClaimRequest`` body: jobs now held (accepted).

    Not repeatable: a claim whose answer was lost took jobs that a repeat would not return,
    so the client retries it only when the API certainly did not act (``retries``).
    """
    body: dict[str, JsonValue] = {"max": max}
    if agent_ids is not None:
        body["agent_ids"] = list(agent_ids)
    if job_ids is not None:
        body["job_ids"] = [str(job_id) for job_id in job_ids]
    if wait is not None:
        body["wait"] = wait
    return ApiCall(
        "POST",
        "/v1/executor/claims",
        _parse_claimed_items,
        json=body,
        long_poll=wait or 0.0,
    )


def watch_jobs(job_ids: Sequence[JobId], *, wait: float | None) -> ApiCall[WatchedJobs]:
    """``POST /v1/executor/jobs/watch`` with a ``JobWatch`` body: held jobs no longer held."""
    body: dict[str, JsonValue] = {"job_ids": [str(job_id) for job_id in job_ids]}
    if wait is not None:
        body["wait"] = wait
    return ApiCall(
        "POST",
        "/v1/executor/jobs/watch",
        parse_model(WatchedJobs),
        json=body,
        long_poll=wait or 0.0,
        repeatable=True,
    )


def report_status(
    job_id: JobId,
    status: JobStatus | str,
    *,
    progress: int | None,
    reason: str | None,
    attempt: int | None = None,
) -> ApiCall[Job]:
    """``POST /v1/executor/jobs/{job_id}/status`` with a ``StatusReport`` body."""
    body: dict[str, JsonValue] = {"status": str(status)}
    if progress is not None:
        body["progress"] = progress
    if reason is not None:
        body["reason"] = reason
    if attempt is not None:
        body["attempt"] = attempt
    # Repeatable: the API answers 200 to the report that produced the job's current state.
    return ApiCall(
        "POST",
        f"/v1/executor/jobs/{segment(job_id)}/status",
        parse_model(Job),
        json=body,
        repeatable=True,
    )


def release_job(job_id: JobId, *, reason: str | None, attempt: int | None) -> ApiCall[Job]:
    """``POST /v1/executor/jobs/{job_id}/release`` with a ``JobRelease`` body."""
    body: dict[str, JsonValue] = {}
    if reason is not None:
        body["reason"] = reason
    if attempt is not None:
        body["attempt"] = attempt
    # Repeatable when it names its attempt: the API answers a repeat with the job as it is.
    return ApiCall(
        "POST",
        f"/v1/executor/jobs/{segment(job_id)}/release",
        parse_model(Job),
        json=body,
        repeatable=attempt is not None,
    )


def complete_job(
    job_id: JobId,
    files: Sequence[UploadSource],
    *,
    idempotency_key: str | None,
    attempt: int | None = None,
) -> ApiCall[Job]:
    """``POST /v1/executor/jobs/{job_id}/complete``: the output files, streamed as multipart.

    Like ``create_job`` it always carries an ``Idempotency-Key``, one per call and the same
    on every retry, so a completion whose answer was lost answers 200 when repeated. With
    ``attempt`` it carries the ``Agnt-Attempt`` header: a completion by a run that lost
    the job is refused (409 ``stale_attempt``).
    """
    upload = MultipartUpload.from_sources("files", files)
    key = idempotency_key or str(uuid.uuid4())
    headers = {IDEMPOTENCY_HEADER: key}
    if attempt is not None:
        headers[ATTEMPT_HEADER] = str(attempt)
    return ApiCall(
        "POST",
        f"/v1/executor/jobs/{segment(job_id)}/complete",
        parse_model(Job),
        upload=upload,
        headers=headers,
    )


def publish_agent(agent_id: str, agent: AgentPublish) -> ApiCall[Agent]:
    """``PUT /v1/executor/agents/{agent_id}``: create or update an agent the caller owns."""
    return ApiCall(
        "PUT",
        f"/v1/executor/agents/{segment(agent_id)}",
        parse_model(Agent),
        json=agent.to_json_dict(),
    )


def unpublish_agent(agent_id: str) -> ApiCall[Agent]:
    """``DELETE /v1/executor/agents/{agent_id}``: hide an agent the caller owns."""
    return ApiCall("DELETE", f"/v1/executor/agents/{segment(agent_id)}", parse_model(Agent))


def upload_file(source: UploadSource) -> ApiCall[InputFile]:
    """``POST /v1/files``: one input file, streamed as multipart (part ``file``).

    Repeatable: a retried upload at worst leaves an unused copy, which the API deletes
    when it expires.
    """
    return ApiCall(
        "POST",
        "/v1/files",
        parse_model(InputFile),
        upload=MultipartUpload.from_sources("file", [source]),
        repeatable=True,
    )


def get_file(file_id: JobId) -> ApiCall[InputFile]:
    """``GET /v1/files/{file_id}``: an input file the caller uploaded."""
    return ApiCall("GET", f"/v1/files/{segment(file_id)}", parse_model(InputFile))


def delete_file(file_id: JobId) -> ApiCall[None]:
    """``DELETE /v1/files/{file_id}``: an input file no job uses."""
    return ApiCall("DELETE", f"/v1/files/{segment(file_id)}", lambda _: None)


def job_inputs(
    job_id: JobId, *, as_executor: bool = False, attempt: int | None = None
) -> ApiCall[JobInputs]:
    """A job's input files with download URLs: the buyer's route, or the executor's (with
    ``attempt``, a run that lost the job gets 409 ``stale_attempt``)."""
    prefix = "/v1/executor/jobs" if as_executor else "/v1/jobs"
    headers = {ATTEMPT_HEADER: str(attempt)} if attempt is not None else {}
    return ApiCall(
        "GET", f"{prefix}/{segment(job_id)}/inputs", parse_model(JobInputs), headers=headers
    )
