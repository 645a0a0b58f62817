"""The MCP tools' backend for ``agnt mcp``: every call through ``agnt_client.AsyncClient``.

Needs the ``mcp`` extra (``agnt-mcp``); only ``agnt_cli.commands.mcp`` imports this, when
``agnt mcp`` runs.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable
from typing import TypeVar

from agnt_client import AsyncClient
from agnt_client.errors import AgntError, APIStatusError
from agnt_mcp.backend import BackendError
from agnt_models import (
    Agent,
    AgentSearchPage,
    ErrorCode,
    Job,
    JobEvent,
    JobEventPage,
    JobResult,
    JsonObject,
    Problem,
    ResultFile,
)

T = TypeVar("T")


class ClientBackend:
    """``agnt_mcp.backend.Backend`` over the API, as the configured key's buyer."""

    def __init__(self, client: AsyncClient) -> None:
        self._client = client

    async def search_agents(
        self, query: str, *, tag: str | None, limit: int, cursor: str | None
    ) -> AgentSearchPage:
        """One page of agents matching ``query``."""
        return await _refusals(
            self._client.search_agents(query, tag=tag, limit=limit, cursor=cursor)
        )

    async def get_agent(self, agent_id: str) -> Agent:
        """An agent in full."""
        return await _refusals(self._client.get_agent(agent_id))

    async def order_job(
        self, agent_id: str, prompt: str, params: JsonObject, *, wait: float
    ) -> Job:
        """Order a job; with ``wait`` > 0, answered once it ended (``Prefer: wait``)."""
        return await _refusals(
            self._client.create_job(agent_id, prompt, params, prefer_wait=wait or None)
        )

    async def get_job(self, job_id: uuid.UUID, *, wait: float) -> Job:
        """A job; with ``wait`` > 0, once it changed or ``wait`` seconds passed."""
        return await _refusals(self._client.get_job(job_id, wait=wait or None))

    async def follow_events(self, job_id: uuid.UUID, *, after: int) -> AsyncIterator[JobEvent]:
        """The job's events as they happen (SSE, resumed by the client after a cut)."""
        try:
            async for event in self._client.stream_events(job_id, after=after or None):
                yield event
        except AgntError as exc:
            raise BackendError(_problem(exc)) from exc

    async def job_events(self, job_id: uuid.UUID, *, after: int) -> JobEventPage:
        """One page of the job's events after ``after``."""
        return await _refusals(self._client.events(job_id, after=after))

    async def cancel_job(self, job_id: uuid.UUID) -> Job:
        """Cancel a job that has not ended."""
        return await _refusals(self._client.cancel_job(job_id))

    async def get_result(self, job_id: uuid.UUID) -> JobResult:
        """The files of a completed job."""
        return await _refusals(self._client.get_result(job_id))

    async def read_result_file(self, job_id: uuid.UUID, file: ResultFile) -> bytes:
        """One result file's bytes, checked against its size and sha256."""
        return await _refusals(self._client.read_result_file(file))


async def _refusals(call: Awaitable[T]) -> T:
    """``call``'s answer; what the client raises becomes a ``BackendError``."""
    try:
        return await call
    except AgntError as exc:
        raise BackendError(_problem(exc)) from exc


def _problem(exc: AgntError) -> Problem:
    """The problem document behind a client error (built for errors the API did not send)."""
    if isinstance(exc, APIStatusError) and exc.problem is not None:
        return exc.problem
    if isinstance(exc, APIStatusError):
        return Problem(
            title=exc.response.reason_phrase or "error",
            status=exc.status_code,
            code=ErrorCode.INTERNAL_ERROR if exc.status_code >= 500 else ErrorCode.BAD_REQUEST,
            detail=str(exc),
        )
    return Problem.of(ErrorCode.SERVICE_UNAVAILABLE, str(exc))
