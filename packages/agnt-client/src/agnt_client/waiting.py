"""The clock of ``wait_for_job``: how long each server long-poll may last. No I/O."""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from agnt_client.errors import WaitTimeoutError
from agnt_models import MAX_WAIT_SECONDS, TERMINAL, Job


def long_poll_seconds(remaining: float) -> float:
    """The ``wait=`` for a long-poll that must end within ``remaining`` seconds.

    Rounded up to a tenth of a second, so the query stays short and the wait never ends
    a hair early and costs one more round trip.
    """
    return max(math.ceil(remaining * 10) / 10, 0.1)


class JobWait:
    """Follows one ``wait_for_job`` call: terminal, time for another long-poll, or time up."""

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
