"""The executor's protocol beyond single reports: atomic claims and watching held jobs."""

from __future__ import annotations

from pydantic import Field
from pydantic.types import UUID4

from agnt_models.common import MAX_WAIT_SECONDS, AgentId, WireModel
from agnt_models.jobs import Job

MAX_CLAIM = 100
"""At most this many jobs are taken by one claim."""

MAX_WATCHED_JOBS = 1_000
"""At most this many held jobs are watched by one call."""


class ClaimRequest(WireModel):
    """Body of ``POST /v1/executor/claims``.

    Atomically takes up to ``max`` pending jobs of the caller's agents (only of
    ``agent_ids`` when given: the agents this executor actually serves), oldest first,
    and moves them to ``accepted`` with a lease. ``job_ids`` restricts the claim to those
    jobs (``agnt-handoff`` claims the one job it was given). With ``wait`` > 0 the call
    long-polls and answers as soon as at least one job was claimed (or ``wait`` passed: an
    empty list).
    """

    max: int = Field(default=1, ge=1, le=MAX_CLAIM)
    agent_ids: list[AgentId] | None = Field(default=None, max_length=MAX_CLAIM)
    job_ids: list[UUID4] | None = Field(default=None, max_length=MAX_CLAIM)
    wait: float = Field(default=0, ge=0, le=MAX_WAIT_SECONDS)


class ClaimedJobs(WireModel):
    """Answer of ``POST /v1/executor/claims``: the jobs now held by the caller (accepted)."""

    items: list[Job]


class JobWatch(WireModel):
    """Body of ``POST /v1/executor/jobs/watch``.

    The executor names the jobs it holds; the call answers at once with those that it no
    longer holds (canceled by the buyer, lease lost, ended), else long-polls up to ``wait``
    seconds until one of them changes that way. This is how a buyer's cancel reaches a
    running handler within a second instead of at the next progress report.
    """

    job_ids: list[UUID4] = Field(max_length=MAX_WATCHED_JOBS)
    wait: float = Field(default=0, ge=0, le=MAX_WAIT_SECONDS)


class WatchedJobs(WireModel):
    """Answer of ``POST /v1/executor/jobs/watch``: watched jobs the caller no longer holds.

    A job that is not found (deleted, or never the caller's) is listed in ``missing``.
    """

    items: list[Job]
    missing: list[UUID4] = Field(default_factory=list)
