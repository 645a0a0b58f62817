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
    Agent,
    AgentPublish,
    AgentSearchPage,
    AgentStats,
    Health,
    Job,
    JobPage,
    JobResult,
    JobStatus,
    PricingModel,
    SearchSort,
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
    answer (``/readyz`` answers 503 with a ``Health`` body).
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

    def accepts(self, response: httpx.Response) -> bool:
        """Whether ``response`` is this call's answer (else an error to retry or raise)."""
        return response.is_success or response.status_code in self.ok_statuses

    @property
    def idempotent(self) -> bool:
        """Whether sending this call twice cannot do anything twice."""
        return is_idempotent(self.method, self.headers)


def parse_model(model: type[M]) -> Callable[[httpx.Response], M]:
    """A parser reading the response body as ``model``, ignoring fields it does not know."""

    def parse(response: httpx.Response) -> M:
        try:
            return model.model_validate(known_fields(model, json.loads(response.content)))
        except (ValueError, ValidationError) as exc:
            raise APIResponseValidationError(response, exc) from exc

    return parse


def _parse_job_page_items(response: httpx.Response) -> list[Job]:
    return parse_model(JobPage)(response).items


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
) -> ApiCall[AgentSearchPage]:
    """``GET /v1/agents/search``: one page of agents, by relevance unless ``sort`` says."""
    params = _query(
        q=query,
        tag=tag,
        limit=limit,
        cursor=cursor,
        sort=None if sort is None else SearchSort(sort).value,
        pricing=None if pricing is None else PricingModel(pricing).value,
        facets="true" if facets else None,
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
) -> ApiCall[Job]:
    """``POST /v1/jobs``, always with an ``Idempotency-Key`` so that retrying it is safe.

    The key is generated here, once per call, when the caller gives none: every retry of
    the call carries the same key and the API answers with the job the first attempt made.
    """
    key = idempotency_key or str(uuid.uuid4())
    body: dict[str, JsonValue] = {
        "agent_id": agent_id,
        "prompt": prompt,
        "params": dict(params or {}),
    }
    return ApiCall(
        "POST", "/v1/jobs", parse_model(Job), json=body, headers={IDEMPOTENCY_HEADER: key}
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


def claim_jobs(
    agent_id: str | None, *, wait: float | None, limit: int | None
) -> ApiCall[list[Job]]:
    """``GET /v1/executor/jobs?status=pending``: pending jobs of the caller's agents."""
    params = _query(agent_id=agent_id, status=JobStatus.PENDING.value, limit=limit)
    if wait is not None:
        params["wait"] = format_seconds(wait)
    return ApiCall(
        "GET",
        "/v1/executor/jobs",
        _parse_job_page_items,
        params=params,
        long_poll=wait or 0.0,
    )


def report_status(
    job_id: JobId,
    status: JobStatus | str,
    *,
    progress: int | None,
    reason: str | None,
) -> ApiCall[Job]:
    """``POST /v1/executor/jobs/{job_id}/status`` with a ``StatusReport`` body."""
    body: dict[str, JsonValue] = {"status": str(status)}
    if progress is not None:
        body["progress"] = progress
    if reason is not None:
        body["reason"] = reason
    return ApiCall(
        "POST", f"/v1/executor/jobs/{segment(job_id)}/status", parse_model(Job), json=body
    )


def complete_job(job_id: JobId, files: Sequence[UploadSource]) -> ApiCall[Job]:
    """``POST /v1/executor/jobs/{job_id}/complete``: the output files, streamed as multipart."""
    upload = MultipartUpload.from_sources("files", files)
    return ApiCall(
        "POST",
        f"/v1/executor/jobs/{segment(job_id)}/complete",
        parse_model(Job),
        upload=upload,
    )


def publish_agent(agent_id: str, agent: AgentPublish) -> ApiCall[Agent]:
    """``PUT /v1/executor/agents/{agent_id}``: create or update an agent the caller owns."""
    return ApiCall(
        "PUT",
        f"/v1/executor/agents/{segment(agent_id)}",
        parse_model(Agent),
        json=agent.to_json_dict(),
    )
