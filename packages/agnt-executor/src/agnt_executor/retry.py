"""Retrying API calls through network trouble, with exponential backoff and jitter.

The client retries only what is certainly safe; the executor must also ride out an API
that is down for a while (a restart, a deploy), so its calls retry transient failures
until a deadline. A 4xx answer is never retried here: it is an answer.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from agnt_client import APIConnectionError, InternalServerError, RateLimitError
from agnt_executor.logs import log_warning

T = TypeVar("T")

TRANSIENT_ERRORS: tuple[type[Exception], ...] = (
    APIConnectionError,
    InternalServerError,
    RateLimitError,
)
"""Failures worth retrying: no answer, a 5xx, or 429."""

INITIAL_DELAY = 0.25
MAX_DELAY = 5.0


def backoff_delay(attempt: int) -> float:
    """Seconds to wait before retry ``attempt`` (0-based): doubling, capped, 50-100 % jitter."""
    return min(INITIAL_DELAY * 2.0**attempt, MAX_DELAY) * (0.5 + random.random() / 2)


async def call_with_retries(
    operation: Callable[[], Awaitable[T]],
    *,
    what: str,
    retry_for: float | None,
    **fields: Any,
) -> T:
    """Await ``operation()``, retrying transient errors for up to ``retry_for`` seconds.

    ``retry_for=None`` retries forever (the claim loop: only a signal stops it). The last
    error is raised when time runs out; ``what`` and ``fields`` go into the retry log lines.
    """
    loop = asyncio.get_running_loop()
    deadline = None if retry_for is None else loop.time() + retry_for
    attempt = 0
    while True:
        try:
            return await operation()
        except TRANSIENT_ERRORS as exc:
            delay = backoff_delay(attempt)
            if deadline is not None and loop.time() + delay > deadline:
                raise
            log_warning(
                "api_retry",
                call=what,
                attempt=attempt + 1,
                delay_seconds=round(delay, 3),
                error=str(exc),
                **fields,
            )
            await asyncio.sleep(delay)
            attempt += 1
