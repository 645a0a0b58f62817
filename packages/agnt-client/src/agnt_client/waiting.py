"""The clock of following a job (``follow_job``, ``wait_for_job``). No I/O.

Shared by ``Client``, ``AsyncClient`` and the ``agnt`` CLI, so that every follower rounds
its long-polls and rides out an API restart the same way: each long-poll is retried through
connection errors and 5xx answers (a replica that restarts answers its open long-polls 503,
or drops them) until the follow's own timeout; without a timeout, for ``OUTAGE_SECONDS``.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable

from agnt_client.errors import (
    APIConnectionError,
    APIStatusError,
    JobFailedError,
    WaitTimeoutError,
)
from agnt_client.retries import RETRYABLE_STATUSES, RetryPolicy
from agnt_models import MAX_WAIT_SECONDS, TERMINAL, Job, JobEvent, JobEventKind, JobStatus

OUTAGE_SECONDS = 120.0
"""How long a follow without a timeout keeps retrying one long-poll through an outage."""


def long_poll_seconds(remaining: float) -> float:
    """The ``wait=`` for a long-poll that must end within ``remaining`` seconds.

    Rounded up to a tenth of a second, so the query stays short and the wait never ends
    a hair early and costs one more round trip.
    """
    return max(math.ceil(remaining * 10) / 10, 0.1)


class JobWait:
    """Follows one job: terminal, time for another long-poll, or time up."""

    def __init__(self, timeout: float | None, clock: Callable[[], float] = time.monotonic) -> None:
        self.timeout = timeout
        self._clock = clock
        self._deadline = None if timeout is None else clock() + timeout

    def next_wait(self, job: Job) -> float | None:
        """``None`` when ``job`` is terminal, else the ``wait=`` of the next long-poll.

        Raises ``WaitTimeoutError`` carrying ``job`` once the timeout has passed.
        """
        if job.status in TERMINAL:
            return None
        if self._deadline is None:
            return MAX_WAIT_SECONDS
        remaining = self._deadline - self._clock()
        if remaining <= 0:
            raise WaitTimeoutError(job, self.timeout or 0.0)
        return min(MAX_WAIT_SECONDS, long_poll_seconds(remaining))

    def retry_policy(self, base: RetryPolicy, wait: float | None) -> RetryPolicy:
        """``base`` for one long-poll of ``wait`` seconds, retried by time instead of count.

        With a timeout the retries end with it; without one they last ``OUTAGE_SECONDS``
        after the long-poll itself (or ``base.deadline`` when that is longer).
        """
        if self._deadline is not None:
            deadline = max(self._deadline - self._clock(), 0.0)
        else:
            deadline = max((wait or 0.0) + OUTAGE_SECONDS, base.deadline or 0.0)
        return dataclasses.replace(base, max_retries=None, deadline=deadline)

    def timed_out(self, error: Exception, job: Job | None) -> WaitTimeoutError | None:
        """The ``WaitTimeoutError`` to raise instead of ``error``, or ``None`` to raise it.

        A transient failure that outlasted the retries of a follow with a timeout means the
        time ran out while the API was away: the caller gets the last job seen.
        """
        if self._deadline is None or job is None:
            return None
        return timed_out_by(error, job, self.timeout or 0.0)


def timed_out_by(error: Exception, job: Job, timeout: float | None) -> WaitTimeoutError | None:
    """The ``WaitTimeoutError`` (carrying ``job``, the last state seen) to raise instead
    of a transient ``error`` that outlasted a wait with a timeout; ``None``: raise ``error``."""
    if timeout is None:
        return None
    transient = isinstance(error, APIConnectionError) or (
        isinstance(error, APIStatusError) and error.status_code in RETRYABLE_STATUSES
    )
    return WaitTimeoutError(job, timeout) if transient else None


def job_after(job: Job, event: JobEvent) -> Job:
    """``job`` as ``event`` leaves its status and progress: the last state a stream saw."""
    update: dict[str, object] = {}
    status = event.data.get("status")
    if isinstance(status, str) and status in JobStatus.__members__.values():
        update["status"] = JobStatus(status)
    progress = event.data.get("progress")
    if event.kind is JobEventKind.PROGRESS and isinstance(progress, int):
        update["progress"] = progress
    return job.model_copy(update=update) if update else job


def prefer_wait_for(timeout: float | None) -> float:
    """The ``Prefer: wait=`` of ``run``'s order: all of ``timeout``, at most the API's cap."""
    return MAX_WAIT_SECONDS if timeout is None else min(MAX_WAIT_SECONDS, max(timeout, 0.0))


def time_left(
    timeout: float | None, started: float, clock: Callable[[], float] = time.monotonic
) -> float | None:
    """What is left of ``timeout`` seconds counted from ``started`` (never below zero)."""
    return None if timeout is None else max(timeout - (clock() - started), 0.0)


def run_outcome(job: Job) -> Job:
    """``job`` when it completed; else raises ``JobFailedError`` (failed, rejected, canceled).

    ``job`` must be terminal.
    """
    if job.status is JobStatus.COMPLETED:
        return job
    raise JobFailedError(job)


def stream_unsupported(error: APIStatusError) -> bool:
    """Whether the API answered the event stream like a server without it (an older one).

    A 404 may also mean the job is unknown: the long-poll fallback then says so itself.
    """
    return error.status_code in {404, 405, 406} or 200 <= error.status_code < 300
