"""What the MCP tools need from agnt: a ``Backend``, one per caller.

``agnt mcp`` implements it over ``agnt_client.AsyncClient``; the API's ``/mcp`` over its
own services. The tools are written once against this protocol, so both surfaces answer
alike. A backend reports a refusal as ``BackendError`` carrying the API's problem document
(its stable ``code``), whichever side it came from. Importing this module does not import
the ``mcp`` SDK.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Protocol

from agnt_models import (
    Agent,
    AgentSearchPage,
    Job,
    JobEvent,
    JobEventPage,
    JobResult,
    JsonObject,
    Problem,
    ResultFile,
)


class BackendError(Exception):
    """The API refused a call: ``problem`` says why, with agnt's stable ``code``."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(problem.detail or problem.title)
        self.problem = problem


class Backend(Protocol):
    """The calls the MCP tools make, as one buyer."""

    async def search_agents(
        self, query: str, *, tag: str | None, limit: int, cursor: str | None
    ) -> AgentSearchPage:
        """One page of agents matching ``query``."""
        ...

    async def get_agent(self, agent_id: str) -> Agent:
        """An agent in full."""
        ...

    async def order_job(
        self, agent_id: str, prompt: str, params: JsonObject, *, wait: float
    ) -> Job:
        """Order a job; with ``wait`` > 0, answer once it ended or ``wait`` seconds passed."""
        ...

    async def get_job(self, job_id: uuid.UUID, *, wait: float) -> Job:
        """A job; with ``wait`` > 0, once it changed or ``wait`` seconds passed."""
        ...

    def follow_events(self, job_id: uuid.UUID, *, after: int) -> AsyncIterator[JobEvent]:
        """The job's events after ``after`` as they happen, ending after the terminal one."""
        ...

    async def job_events(self, job_id: uuid.UUID, *, after: int) -> JobEventPage:
        """One page of the job's events after ``after``."""
        ...

    async def cancel_job(self, job_id: uuid.UUID) -> Job:
        """Cancel a job that has not ended."""
        ...

    async def get_result(self, job_id: uuid.UUID) -> JobResult:
        """The files of a completed job."""
        ...

    async def read_result_file(self, job_id: uuid.UUID, file: ResultFile) -> bytes:
        """The bytes of one result file of the job (``file`` is from ``get_result``)."""
        ...
