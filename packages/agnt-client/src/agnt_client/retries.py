"""When to retry a request and how long to wait first. Pure decisions, no I/O.

This is the one retry policy of agnt: the CLI and the executor do not wrap another loop
around it. A request is retried when its failure is transient: a connection error or
timeout, or a 408, 429, 500, 502, 503 or 504 answer. Whether it is *safe* to retry depends
on the request:

- idempotent requests are retried on every transient failure: GET, HEAD, PUT, DELETE, any
  POST carrying an ``Idempotency-Key`` (orders, completions), and the POSTs the API answers
  alike when repeated (status reports: repeating the report that made the current state
  answers 200; watching jobs, which only reads);
- other POSTs (cancel, claims) are retried only when the API certainly did not act on them:
  the connection was never made, or the answer was 408 or 429. A timeout or a 502 after the
  body was sent may hide a request that did take effect. A claim whose answer was lost
  leaves its jobs accepted for the caller; the executor finds them again (see
  ``agnt_executor.orphans``), so repeating the claim here would only take more jobs.

The wait is exponential backoff with jitter, unless the answer carries ``Retry-After``
(seconds or an HTTP date), which is honoured as given; a ``Retry-After`` longer than
``max_retry_after`` means the client gives up instead of sleeping that long. Retries stop
after ``max_retries`` (``None``: no count limit) or once the next attempt would start past
``deadline`` seconds after the call began, whichever comes first: a caller that must ride
out an API restart (the executor) sets a deadline of minutes rather than a count.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import httpx

from agnt_client.errors import connection_error_for, request_of, status_error_for

log = logging.getLogger("agnt_client")

RETRYABLE_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
"""Answers that mean "try again later" rather than "this request is wrong"."""

_UNPROCESSED_STATUSES = frozenset({408, 429})
_IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
IDEMPOTENCY_HEADER = "Idempotency-Key"


def is_idempotent(method: str, headers: Mapping[str, str]) -> bool:
    """Whether repeating the request cannot do anything twice."""
    if method.upper() in _IDEMPOTENT_METHODS:
        return True
    return any(name.lower() == IDEMPOTENCY_HEADER.lower() for name in headers)


def parse_retry_after(headers: httpx.Headers, now: datetime | None = None) -> float | None:
    """Seconds the server asks us to wait (``Retry-After``, or ``retry-after-ms``), if any."""
    millis = headers.get("retry-after-ms")
    if millis is not None:
        try:
            return max(float(millis) / 1000, 0.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max((when - (now or datetime.now(UTC))).total_seconds(), 0.0)


@dataclass(frozen=True)
class RetryPolicy:
    """How many times to retry, for how long, and how long to back off between attempts.

    ``attempt`` counts retries already made: the first retry is decided with ``attempt=0``;
    ``elapsed`` is the time since the call began. ``max_retries=None`` means no count limit
    (then ``deadline`` bounds the retries).
    """

    max_retries: int | None = 2
    initial_delay: float = 0.5
    max_delay: float = 8.0
    max_retry_after: float = 60.0
    deadline: float | None = None
    jitter: Callable[[], float] = field(default=random.random, compare=False)

    def __post_init__(self) -> None:
        if self.max_retries is None and self.deadline is None:
            raise ValueError("max_retries=None needs a deadline, or a call could retry forever")

    def _allowed(self, delay: float, attempt: int, elapsed: float) -> float | None:
        if self.max_retries is not None and attempt >= self.max_retries:
            return None
        if self.deadline is not None and elapsed + delay > self.deadline:
            return None
        return delay

    def backoff(self, attempt: int) -> float:
        """Exponential backoff for retry number ``attempt``, with up to 25 % jitter off."""
        delay = min(self.initial_delay * 2.0**attempt, self.max_delay)
        return delay * (1.0 - 0.25 * self.jitter())

    def delay_after_error(
        self, exc: httpx.TransportError, attempt: int, *, idempotent: bool, elapsed: float = 0.0
    ) -> float | None:
        """Seconds to wait before retrying after a transport error, or ``None`` to give up."""
        never_sent = isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout)
        if not (idempotent or never_sent):
            return None
        return self._allowed(self.backoff(attempt), attempt, elapsed)

    def delay_after_response(
        self, response: httpx.Response, attempt: int, *, idempotent: bool, elapsed: float = 0.0
    ) -> float | None:
        """Seconds to wait before retrying after this answer, or ``None`` to keep it."""
        status = response.status_code
        if status not in RETRYABLE_STATUSES:
            return None
        if not (idempotent or status in _UNPROCESSED_STATUSES):
            return None
        retry_after = parse_retry_after(response.headers)
        if retry_after is None:
            return self._allowed(self.backoff(attempt), attempt, elapsed)
        if retry_after > self.max_retry_after:
            return None
        return self._allowed(retry_after, attempt, elapsed)


class RetryState:
    """One call's way through its attempts: each failure becomes a wait, or the error.

    The sync and async clients share it, so only the sending and the sleeping differ.
    """

    def __init__(
        self,
        policy: RetryPolicy,
        *,
        idempotent: bool,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.policy = policy
        self.idempotent = idempotent
        self.retries = 0
        self._clock = clock
        self._started = clock()

    @property
    def elapsed(self) -> float:
        """Seconds since the call began."""
        return self._clock() - self._started

    def wait_after_error(self, exc: httpx.TransportError) -> float:
        """Seconds to wait before the next attempt; raises ``APIConnectionError`` when done."""
        delay = self.policy.delay_after_error(
            exc, self.retries, idempotent=self.idempotent, elapsed=self.elapsed
        )
        if delay is None:
            raise connection_error_for(exc) from exc
        self._note_retry(delay, request_of(exc), repr(exc))
        return delay

    def wait_after_response(self, response: httpx.Response) -> float:
        """Seconds to wait before the next attempt; raises the ``APIStatusError`` when done.

        The response body must have been read.
        """
        delay = self.policy.delay_after_response(
            response, self.retries, idempotent=self.idempotent, elapsed=self.elapsed
        )
        if delay is None:
            raise status_error_for(response)
        self._note_retry(delay, response.request, str(response.status_code))
        return delay

    def _note_retry(self, delay: float, request: httpx.Request | None, why: str) -> None:
        self.retries += 1
        # The query may carry a presigned signature: log the path only.
        target = f"{request.method} {request.url.copy_with(query=None)}" if request else "request"
        limit = "" if self.policy.max_retries is None else f"/{self.policy.max_retries}"
        log.info("retry %d%s of %s in %.2f s after %s", self.retries, limit, target, delay, why)
