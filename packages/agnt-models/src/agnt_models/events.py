"""A job's event log: what happened to it, in order, for streams, polling and webhooks."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import AnyHttpUrl, AwareDatetime, Field, StringConstraints
from pydantic.types import UUID4

from agnt_models.common import JsonObject, WireModel

MAX_LOG_LINE_CHARS = 4_000
"""A longer handler output line is cut to this many characters."""

MAX_LOG_LINES_PER_BATCH = 500
"""At most this many lines in one ``LogBatch``."""


class JobEventKind(StrEnum):
    """What an event records. Status kinds carry the job's new status; see ``JobEvent``."""

    CREATED = "created"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    RUNNING = "running"
    PROGRESS = "progress"
    LOG = "log"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELED = "canceled"
    LEASE_EXPIRED = "lease_expired"
    REQUEUED = "requeued"


TERMINAL_EVENT_KINDS: frozenset[JobEventKind] = frozenset(
    {JobEventKind.REJECTED, JobEventKind.COMPLETED, JobEventKind.FAILED, JobEventKind.CANCELED}
)
"""After one of these a job's stream ends (``lease_expired`` is followed by ``failed``)."""


class JobEvent(WireModel):
    """One entry of a job's event log (an SSE ``data:`` line; its ``id:`` is ``seq``).

    ``seq`` increases by one per event of the job, from 1. ``data`` depends on ``kind``:
    status kinds carry ``{"status", "reason"?}``; ``progress`` ``{"progress"}``; ``log``
    ``{"lines": [{"stream", "text"}]}``; ``completed`` ``{"files": [{"name", "size",
    "mime", "sha256"}]}``.
    """

    job_id: UUID4
    seq: int = Field(ge=1)
    kind: JobEventKind
    data: JsonObject = Field(default_factory=dict)
    created_at: AwareDatetime


class JobEventPage(WireModel):
    """``GET /v1/jobs/{job_id}/events?after=N`` as JSON (long-polled with ``wait``).

    Pass ``last_seq`` back as ``after``; ``done`` is true once the terminal event is in
    ``items`` or was before ``after`` (nothing more will come).
    """

    items: list[JobEvent]
    last_seq: int = Field(ge=0)
    done: bool = False


LogText = Annotated[str, StringConstraints(max_length=MAX_LOG_LINE_CHARS)]


class LogLine(WireModel):
    """One line a handler wrote."""

    stream: Literal["stderr", "stdout"] = "stderr"
    text: LogText


class LogBatch(WireModel):
    """Body of ``POST /v1/executor/jobs/{job_id}/logs``: handler output lines, in order.

    Past the job's log budget (``AGNT_MAX_LOG_BYTES_PER_JOB``) lines are dropped and one
    ``log`` event says so; the answer is still 202.
    """

    lines: list[LogLine] = Field(min_length=1, max_length=MAX_LOG_LINES_PER_BATCH)
    attempt: int | None = Field(
        default=None,
        ge=1,
        description="The attempt these lines are from (``Job.attempt`` when claimed): lines "
        "of an earlier attempt are refused (409 stale_attempt).",
    )


class LogBatchAccepted(WireModel):
    """Answer to a ``LogBatch`` (202): how many of its lines were stored and dropped."""

    accepted: int = Field(ge=0)
    dropped: int = Field(ge=0)


class WebhookTarget(WireModel):
    """Where a job's events are delivered (``JobCreate.webhook``).

    Only ``http(s)`` URLs; loopback and private addresses are refused unless the operator
    allows them. ``events`` narrows what is sent (default: every status kind, no
    ``progress``/``log``).
    """

    url: AnyHttpUrl
    events: list[JobEventKind] | None = Field(default=None, max_length=len(JobEventKind))


class WebhookDelivery(WireModel):
    """One attempt to deliver one event (``GET /v1/jobs/{job_id}/webhook-deliveries``)."""

    id: UUID4
    event_seq: int = Field(ge=1)
    attempt: int = Field(ge=1)
    url: str
    status_code: int | None = None
    latency_ms: float | None = Field(default=None, ge=0)
    error: str | None = None
    delivered: bool
    created_at: AwareDatetime
    next_attempt_at: AwareDatetime | None = None


class WebhookDeliveryPage(WireModel):
    """Every delivery attempt of a job's webhooks, oldest first."""

    items: list[WebhookDelivery]


class WebhookSecret(WireModel):
    """The caller's webhook signing secret (Standard Webhooks, ``whsec_...``).

    Shown by ``GET /v1/webhooks/secret``; ``POST /v1/webhooks/secret/rotate`` makes a new one.
    """

    secret: str
    created_at: AwareDatetime
