"""Rate limits: one GCRA bucket per (action, caller); over it, 429 ``rate_limited``.

GCRA (the generic cell rate algorithm) is a token bucket kept as one number, the bucket's
theoretical arrival time (TAT). With ``T = 60 s / per_minute``, a request at ``now`` passes
when ``max(TAT, now) + T - now <= burst * T`` and moves the TAT to ``max(TAT, now) + T``: a
rested bucket lets ``burst`` requests through at once, then one every ``T``. A refused
request changes nothing and learns when the next one would pass (``Retry-After``).

Where the TATs live:

- Postgres: the ``rate_limits`` table, one row per bucket, taken by one statement
  (``INSERT ... ON CONFLICT DO UPDATE ... WHERE``) on the database's clock, so every replica
  shares each bucket and clock skew between replicas does not count.
- SQLite: a dict in this process. The embedded database is one process, and a second
  write per order would queue on SQLite's single write lock.

What is limited, per principal (so extra keys of one principal share its allowance): orders,
publishes, completions (the upload of result files) and API searches (a search reads an
index range per word: cheap per call, but public and unbounded in number); and web sign-in
attempts per client IP. Reads, status reports and the executor's long-polls are not: they are cheap, bounded by
their own wait, or (status reports) idempotent writes of one row on the job path, which
must stay one statement long (issue 14's throughput).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import NoReturn, Protocol, TypeVar

import anyio.to_thread
import sqlalchemy as sa
from fastapi import FastAPI, Request

from agnt_api.api.deps import AnyPrincipal
from agnt_api.api.problems import problem_responses
from agnt_api.db import Database
from agnt_api.errors import ApiError
from agnt_api.settings import Settings
from agnt_models import ErrorCode

T = TypeVar("T")


class RateAction(StrEnum):
    """What a bucket counts (the ``AGNT_RATE_<ACTION>_*`` settings)."""

    ORDERS = "orders"
    PUBLISHES = "publishes"
    COMPLETIONS = "completions"
    SIGN_INS = "sign_ins"
    SEARCHES = "searches"


@dataclass(frozen=True, slots=True)
class Rate:
    """A sustained rate and the burst a rested bucket allows."""

    per_minute: float
    burst: int

    @property
    def interval(self) -> float:
        """Seconds per request at the sustained rate (GCRA's emission interval ``T``)."""
        return 60.0 / self.per_minute

    @property
    def tolerance(self) -> float:
        """How far ahead of now the TAT may run: ``burst`` intervals."""
        return self.interval * self.burst


def configured_rates(settings: Settings) -> dict[RateAction, Rate]:
    """The rate of each action, from the ``AGNT_RATE_*`` settings."""
    return {
        RateAction.ORDERS: Rate(settings.rate_orders_per_minute, settings.rate_orders_burst),
        RateAction.PUBLISHES: Rate(
            settings.rate_publishes_per_minute, settings.rate_publishes_burst
        ),
        RateAction.COMPLETIONS: Rate(
            settings.rate_completions_per_minute, settings.rate_completions_burst
        ),
        RateAction.SIGN_INS: Rate(settings.rate_sign_ins_per_minute, settings.rate_sign_ins_burst),
        RateAction.SEARCHES: Rate(settings.rate_searches_per_minute, settings.rate_searches_burst),
    }


class RateLimited(ApiError):
    """The caller is over a rate limit; ``Retry-After`` says when to try again (429)."""

    code = ErrorCode.RATE_LIMITED


class BucketStore(Protocol):
    """Where bucket TATs live."""

    async def take(self, bucket: str, rate: Rate) -> float:
        """Take one token: 0 when it was there, else the seconds until it will be."""
        ...


class MemoryBuckets:
    """TATs in a dict of this process (SQLite: one process). Used from the event loop only."""

    SWEEP_AT = 10_000

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._tats: dict[str, float] = {}
        self._clock = clock

    async def take(self, bucket: str, rate: Rate) -> float:
        """Take one token from ``bucket`` (see the module docstring for the rule)."""
        now = self._clock()
        if len(self._tats) >= self.SWEEP_AT:
            # A TAT in the past is a rested bucket: forgetting it changes nothing.
            self._tats = {key: tat for key, tat in self._tats.items() if tat > now}
        tat = max(self._tats.get(bucket, now), now) + rate.interval
        if tat - now > rate.tolerance:
            return tat - now - rate.tolerance
        self._tats[bucket] = tat
        return 0.0


# One statement: insert a rested bucket or advance an existing one when the token is there.
# ``current`` is the TAT before this statement (its snapshot): it says how long a refused
# caller must wait.
_TAKE_TOKEN = sa.text(
    """
    WITH clock AS (SELECT EXTRACT(EPOCH FROM statement_timestamp())::float8 AS now),
    taken AS (
        INSERT INTO rate_limits AS bucket (bucket, tat)
        SELECT :bucket, clock.now + :interval FROM clock
        ON CONFLICT (bucket) DO UPDATE
            SET tat = GREATEST(bucket.tat, (SELECT now FROM clock)) + :interval
            WHERE GREATEST(bucket.tat, (SELECT now FROM clock)) + :interval
                  - (SELECT now FROM clock) <= :tolerance
        RETURNING bucket.tat
    )
    SELECT (SELECT tat FROM taken) AS taken,
           (SELECT now FROM clock) AS now,
           (SELECT tat FROM rate_limits WHERE bucket = :bucket) AS current
    """
)

_SWEEP = sa.text(
    "DELETE FROM rate_limits WHERE tat < EXTRACT(EPOCH FROM statement_timestamp())::float8"
)


def _take_token(connection: sa.Connection, bucket: str, interval: float, tolerance: float) -> float:
    row = connection.execute(
        _TAKE_TOKEN, {"bucket": bucket, "interval": interval, "tolerance": tolerance}
    ).one()
    if row.taken is not None:
        return 0.0
    if row.current is None:
        # Created by a concurrent first request after this statement's snapshot.
        return interval
    return max(float(max(row.current, row.now) + interval - tolerance - row.now), 0.001)


def _sweep(connection: sa.Connection) -> None:
    connection.execute(_SWEEP)


class PostgresBuckets:
    """TATs in the ``rate_limits`` table, shared by every replica."""

    SWEEP_SECONDS = 600.0

    def __init__(self, database: Database) -> None:
        self._database = database
        self._next_sweep = time.monotonic() + self.SWEEP_SECONDS

    def _take_autocommit(self, bucket: str, interval: float, tolerance: float) -> float:
        # The statement is atomic on its own: BEGIN and COMMIT would be two more round trips.
        with self._database.engine.connect() as connection:
            connection = connection.execution_options(isolation_level="AUTOCOMMIT")
            return _take_token(connection, bucket, interval, tolerance)

    async def take(self, bucket: str, rate: Rate) -> float:
        """Take one token from ``bucket``: one statement, one round trip (autocommit)."""
        wait = await anyio.to_thread.run_sync(
            self._take_autocommit, bucket, rate.interval, rate.tolerance
        )
        await self.sweep_if_due()
        return wait

    async def sweep_if_due(self) -> None:
        """Drop rested buckets, every ``SWEEP_SECONDS``."""
        if time.monotonic() >= self._next_sweep:
            self._next_sweep = time.monotonic() + self.SWEEP_SECONDS
            # Rested buckets (TAT in the past) are dropped so the table stays one row per
            # recently active caller (sign-in attempts add one per client address).
            await self._database.write(_sweep)


class RateLimits:
    """The app's buckets and rates; ``app.state.rate_limits`` (absent when turned off)."""

    def __init__(self, store: BucketStore, rates: dict[RateAction, Rate]) -> None:
        self.store = store
        self.rates = rates

    async def retry_after(self, action: RateAction, caller: str) -> int | None:
        """Take a token of ``action`` for ``caller``: ``None`` if allowed, else whole seconds
        to wait (at least 1)."""
        wait = await self.store.take(f"{action.value}:{caller}", self.rates[action])
        return None if wait <= 0 else max(1, math.ceil(wait))

    async def enforce(self, action: RateAction, caller: str) -> None:
        """``retry_after``, raising ``RateLimited`` (with ``Retry-After``) when over."""
        seconds = await self.retry_after(action, caller)
        if seconds is None:
            return
        self._refuse(action, seconds)

    async def enforce_then_read(
        self,
        action: RateAction,
        caller: str,
        database: Database,
        work: Callable[..., T],
        *args: object,
    ) -> T:
        """``enforce``, then ``database.run(work, *args)`` if the token was there.

        On Postgres both in one thread hop and one pooled connection: the token's
        statement is autocommit either way (a read runs outside a transaction).
        """
        store = self.store
        if not isinstance(store, PostgresBuckets):
            await self.enforce(action, caller)
            return await database.run(work, *args)
        rate = self.rates[action]
        bucket = f"{action.value}:{caller}"

        def both(connection: sa.Connection, *args: object) -> tuple[float, T | None]:
            wait = _take_token(connection, bucket, rate.interval, rate.tolerance)
            return (wait, None) if wait > 0 else (0.0, work(connection, *args))

        wait, result = await database.run(both, *args)
        await store.sweep_if_due()
        if wait > 0:
            self._refuse(action, max(1, math.ceil(wait)))
        return result  # type: ignore[return-value]

    def _refuse(self, action: RateAction, seconds: int) -> NoReturn:
        rate = self.rates[action]
        raise RateLimited(
            f"too many {action.value.replace('_', '-')} from this caller: at most "
            f"{rate.per_minute:g} per minute in bursts of {rate.burst}; retry in {seconds} s",
            headers={"Retry-After": str(seconds)},
        )


def rate_limits_of(request: Request) -> RateLimits | None:
    """The app's rate limits, or ``None`` when ``AGNT_RATE_LIMITS=false``."""
    limits: RateLimits | None = getattr(request.app.state, "rate_limits", None)
    return limits


def client_address(request: Request) -> str:
    """The caller's IP address (uvicorn's ``proxy_headers`` applies trusted forwarding)."""
    return request.client.host if request.client else "unknown"


class RateLimit:
    """Route dependency: one ``action`` token from the calling principal's bucket.

    ``@router.post(..., dependencies=[Depends(RateLimit(RateAction.ORDERS))],
    responses=RATE_LIMITED_RESPONSES)``. It runs
    before the route's own dependencies, after the key check (an unknown key is a 401 and
    costs nothing).
    """

    def __init__(self, action: RateAction) -> None:
        self.action = action

    async def __call__(self, request: Request, caller: AnyPrincipal) -> None:
        """Raise ``RateLimited`` when the caller is over the limit of this action."""
        limits = rate_limits_of(request)
        if limits is not None:
            await limits.enforce(self.action, str(caller.id))


RATE_LIMITED_RESPONSES = problem_responses(429)
"""OpenAPI ``responses`` of a rate-limited route."""


def install_rate_limits(app: FastAPI, settings: Settings, database: Database) -> None:
    """Give ``app`` its buckets: shared in Postgres, in this process on SQLite."""
    if settings.rate_limits:
        store: BucketStore = PostgresBuckets(database) if database.is_postgres else MemoryBuckets()
        app.state.rate_limits = RateLimits(store, configured_rates(settings))
    else:
        app.state.rate_limits = None
