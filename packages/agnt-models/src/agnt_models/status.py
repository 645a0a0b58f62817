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
    # accepted/running -> pending: a requeue (lease lost or released, attempts left).
    JobStatus.ACCEPTED: frozenset(
        {
            JobStatus.RUNNING,
            JobStatus.REJECTED,
            JobStatus.FAILED,
            JobStatus.CANCELED,
            JobStatus.PENDING,
        }
    ),
    JobStatus.RUNNING: frozenset(
        {JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELED, JobStatus.PENDING}
    ),
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

``completed`` is reached only through the complete endpoint (files first), ``canceled``
only by the buyer (or the deadline), and ``pending`` again only by a requeue: the lease
reaper or the executor's release (``POST /v1/executor/jobs/{job_id}/release``).
"""

REQUEUABLE: frozenset[JobStatus] = frozenset(
    s for s, nxt in TRANSITIONS.items() if JobStatus.PENDING in nxt
)
"""Statuses from which a job goes back to ``pending`` (with ``attempt + 1``)."""

NOT_STARTED: frozenset[JobStatus] = frozenset({JobStatus.PENDING, JobStatus.ACCEPTED})
"""Statuses of a job whose handler never ran: past its deadline it is ``canceled``."""

DEFAULT_MAX_ATTEMPTS = 3
"""How often a job runs before a lost lease or a release fails it (an agent may say)."""

MAX_ATTEMPTS_LIMIT = 20
"""The most attempts an agent may ask for."""

DEADLINE_EXCEEDED = "deadline_exceeded"
"""The reason of a job ended by its ``deadline_at``."""

LEASE_EXPIRED = "lease_expired"
"""The reason of a requeue (or, with no attempts left, a failure) after a lost lease."""

EXECUTOR_RELEASED = "released"
"""The reason of a requeue after an executor gave the job back (unless it said why)."""


def can_transition(current: JobStatus, target: JobStatus) -> bool:
    """Whether a job in ``current`` may move to ``target``."""
    return target in TRANSITIONS[current]


def sources_of(target: JobStatus) -> frozenset[JobStatus]:
    """Every status from which ``target`` may be entered.

    This is the ``status IN (...)`` set of the atomic conditional UPDATE.
    """
    return frozenset(s for s, nxt in TRANSITIONS.items() if target in nxt)
