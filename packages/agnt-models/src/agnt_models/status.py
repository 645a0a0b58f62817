"""Job statuses and the one transition table every end of agnt obeys."""

from __future__ import annotations

from enum import StrEnum


class JobStatus(StrEnum):
    """Where a job is in its lifecycle."""

    PENDING = "pending"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELED = "canceled"


TRANSITIONS: dict[JobStatus, frozenset[JobStatus]] = {
    JobStatus.PENDING: frozenset({JobStatus.ACCEPTED, JobStatus.REJECTED, JobStatus.CANCELED}),
    # accepted -> rejected: a claim accepts at once; the executor's policy may still refuse.
    JobStatus.ACCEPTED: frozenset(
        {JobStatus.RUNNING, JobStatus.REJECTED, JobStatus.FAILED, JobStatus.CANCELED}
    ),
    JobStatus.RUNNING: frozenset({JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELED}),
    JobStatus.REJECTED: frozenset(),
    JobStatus.FAILED: frozenset(),
    JobStatus.COMPLETED: frozenset(),
    JobStatus.CANCELED: frozenset(),
}
"""Allowed moves: ``TRANSITIONS[current]`` is the set of statuses a job may move to."""

TERMINAL: frozenset[JobStatus] = frozenset(s for s, nxt in TRANSITIONS.items() if not nxt)
"""Statuses a job never leaves."""

LEASED: frozenset[JobStatus] = frozenset({JobStatus.ACCEPTED, JobStatus.RUNNING})
"""Statuses in which an executor holds a lease on the job."""

EXECUTOR_REPORTABLE: frozenset[JobStatus] = frozenset(
    {JobStatus.ACCEPTED, JobStatus.REJECTED, JobStatus.RUNNING, JobStatus.FAILED}
)
"""Statuses an executor may report through the status endpoint.

``completed`` is reached only through the complete endpoint (files first), and
``canceled`` only by the buyer.
"""


def can_transition(current: JobStatus, target: JobStatus) -> bool:
    """Whether a job in ``current`` may move to ``target``."""
    return target in TRANSITIONS[current]


def sources_of(target: JobStatus) -> frozenset[JobStatus]:
    """Every status from which ``target`` may be entered.

    This is the ``status IN (...)`` set of the atomic conditional UPDATE.
    """
    return frozenset(s for s, nxt in TRANSITIONS.items() if target in nxt)
