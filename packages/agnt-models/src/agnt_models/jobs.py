"""Jobs: what a buyer orders, follows and downloads; what an executor reports."""

from __future__ import annotations

from typing import Annotated

from pydantic import AwareDatetime, Field, StringConstraints, model_validator
from pydantic.types import UUID4

from agnt_models.common import (
    MAX_REASON_CHARS,
    AgentId,
    JsonObject,
    Progress,
    Prompt,
    WireModel,
)
from agnt_models.events import WebhookTarget
from agnt_models.inputs import InputRef
from agnt_models.status import DEFAULT_MAX_ATTEMPTS, EXECUTOR_REPORTABLE, JobStatus

Reason = Annotated[str, StringConstraints(max_length=MAX_REASON_CHARS)]

MAX_TIMEOUT_SECONDS = 30 * 86_400
"""The longest a job may live (``timeout_seconds``): 30 days."""

TimeoutSeconds = Annotated[
    float,
    Field(
        gt=0,
        le=MAX_TIMEOUT_SECONDS,
        description="Seconds from the order after which the job ends (deadline_exceeded).",
    ),
]
Sha256Hex = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]


class JobCreate(WireModel):
    """Body of ``POST /v1/jobs``. ``params`` must satisfy the agent's ``input_schema``."""

    agent_id: AgentId
    prompt: Prompt
    params: JsonObject = Field(default_factory=dict)
    webhook: WebhookTarget | None = None
    timeout_seconds: TimeoutSeconds | None = Field(
        default=None,
        description="End the job this many seconds after the order (default: the agent's "
        "timeout_seconds.default; at most its timeout_seconds.max): canceled with reason "
        "deadline_exceeded if it never started, failed if it was running.",
    )
    inputs: list[InputRef] = Field(
        default_factory=list, description="Uploaded input files (POST /v1/files) the job gets."
    )


class Job(WireModel):
    """A job as either end sees it (``GET /v1/jobs/{job_id}``).

    ``duration_seconds`` is ``completed_at - started_at`` when both are known, else null.
    """

    id: UUID4
    agent_id: AgentId
    buyer_id: UUID4
    prompt: str
    params: JsonObject
    status: JobStatus
    progress: Progress = 0
    decision_reason: str | None = None
    created_at: AwareDatetime
    updated_at: AwareDatetime
    started_at: AwareDatetime | None = None
    completed_at: AwareDatetime | None = None
    lease_expires_at: AwareDatetime | None = None
    duration_seconds: float | None = Field(default=None, ge=0)
    agent_online: bool | None = Field(
        default=None,
        description="On an order's answer: whether an executor serving the agent was seen "
        "recently (false: the job waits until one comes); null elsewhere.",
    )
    warning: str | None = Field(
        default=None, description="On an order's answer: something the buyer should know."
    )
    attempt: int = Field(
        default=1,
        ge=1,
        description="Which run of the job this is: 1, plus one per requeue (lease lost, "
        "released by its executor, or a failure the agent retries).",
    )
    max_attempts: int = Field(
        default=DEFAULT_MAX_ATTEMPTS,
        ge=1,
        description="After this many attempts a lost lease or a release fails the job.",
    )
    deadline_at: AwareDatetime | None = Field(
        default=None, description="When the job ends if it has not (its timeout_seconds)."
    )


class JobPage(WireModel):
    """A page of jobs, newest first; pass ``next_cursor`` back as ``cursor``."""

    items: list[Job]
    next_cursor: str | None = None


class ResultFile(WireModel):
    """One output file of a completed job.

    ``download_url`` is absolute: a presigned S3 URL, or the API's own file route
    (which needs the same bearer key).
    """

    name: str
    size: int = Field(ge=0)
    mime: str
    sha256: Sha256Hex
    download_url: str


class JobResult(WireModel):
    """``GET /v1/jobs/{job_id}/result``: the files of a completed job."""

    job_id: UUID4
    files: list[ResultFile]
    created_at: AwareDatetime


class StatusReport(WireModel):
    """Body of ``POST /v1/executor/jobs/{job_id}/status``.

    ``status`` is one of accepted, rejected, running, failed. Reporting the job's current
    status again with a new ``progress`` is a progress report, not a transition. Every
    report renews the lease. ``reason`` is recorded as the job's ``decision_reason``
    (why it was rejected or failed).
    """

    status: JobStatus
    progress: Progress | None = None
    reason: Reason | None = None
    attempt: int | None = Field(
        default=None,
        ge=1,
        description="The attempt this report is about (``Job.attempt`` when claimed): a "
        "report for an earlier attempt is refused (409 stale_attempt), so an executor that "
        "lost the job cannot touch its next run.",
    )

    @model_validator(mode="after")
    def _reportable(self) -> StatusReport:
        if self.status not in EXECUTOR_REPORTABLE:
            allowed = ", ".join(sorted(s.value for s in EXECUTOR_REPORTABLE))
            raise ValueError(f"an executor may report only: {allowed}")
        return self


class JobRelease(WireModel):
    """Body of ``POST /v1/executor/jobs/{job_id}/release``: give a held job back.

    The job goes back to ``pending`` with ``attempt + 1`` for another executor (or fails
    with ``reason`` once it used its ``max_attempts``). ``attempt`` names the attempt given
    back: repeating a release that happened answers 200 with the job as it is now.
    """

    reason: Reason | None = None
    attempt: int | None = Field(default=None, ge=1)


ATTEMPT_HEADER = "Agnt-Attempt"
"""Request header naming the attempt a completion (or an input download) is for: like
``StatusReport.attempt``, a request for an earlier attempt is refused (409 stale_attempt)."""
