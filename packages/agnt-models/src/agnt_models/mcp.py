"""The structured output of agnt's MCP tools (``agnt mcp`` and the API's ``/mcp``).

The tools answer with the HTTP API's own shapes (``Agent``, ``Job``, ``AgentSearchPage``)
where one fits; these are the few the MCP surface adds: a job with its result files (small
text inline, the rest as ``agnt://`` resources) and a job's log lines.
"""

from __future__ import annotations

import uuid
from typing import Literal
from urllib.parse import quote

from pydantic import Field

from agnt_models.common import WireModel
from agnt_models.jobs import Job

RESULT_FILE_URI_TEMPLATE = "agnt://jobs/{job_id}/files/{name}"
"""The MCP resource URI of a job's result file."""


def result_file_uri(job_id: uuid.UUID, name: str) -> str:
    """The ``agnt://`` resource URI of result file ``name`` of job ``job_id``."""
    return RESULT_FILE_URI_TEMPLATE.format(job_id=job_id, name=quote(name, safe=""))


class McpResultFile(WireModel):
    """A result file as an MCP tool lists it: ``uri`` reads it as a resource; ``text`` holds
    it inline when it is small text."""

    name: str
    size: int = Field(ge=0)
    mime: str
    sha256: str
    uri: str
    text: str | None = None


class McpJob(WireModel):
    """A job as ``order_job``/``get_result`` answer it: the job, its result files once it
    completed, and what to call next while it has not ended."""

    job: Job
    files: list[McpResultFile] = Field(default_factory=list)
    next_step: str | None = Field(
        default=None, description="Set while the job runs: how to follow it (get_job)."
    )


class McpLogLine(WireModel):
    """One line the job's handler wrote; ``seq`` is the event that carried it."""

    seq: int = Field(ge=1)
    stream: Literal["stderr", "stdout"] = "stderr"
    text: str


class McpJobLogs(WireModel):
    """``get_job_logs``: the lines after ``after``; pass ``last_seq`` back to read on."""

    job_id: uuid.UUID
    lines: list[McpLogLine]
    last_seq: int = Field(ge=0)
    done: bool = Field(description="True once the job ended and every line was read.")
