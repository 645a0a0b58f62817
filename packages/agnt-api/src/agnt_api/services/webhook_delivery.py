"""The webhook delivery worker: claims due outbox rows, sends them, records every attempt.

It runs inside every API process (started by the app's lifespan, like the lease reaper),
not as a separate ``agnt-server deliver`` process: the outbox is claimed with ``FOR UPDATE
SKIP LOCKED`` (on SQLite the write lock serializes claims), and a claim moves the row's
due time past the attempt's end, so any number of replicas deliver each event once, and
one that dies mid-attempt leaves the row to another (or to itself after a restart). One
less process to deploy, monitor and scale; delivery capacity grows with the replicas.

A delivery is one POST with ``follow_redirects=False`` (a 3xx is a recorded failure: a
redirect would move a signed body to a URL nobody checked), a timeout, and no body read
back. Failed attempts are retried with exponential backoff (``base * 3**(n-1)``, a little
jitter) until ``webhook_max_attempts``. At most ``webhook_concurrency`` deliveries are in
flight per process: a slow receiver holds one slot, never the job or other deliveries.
"""

from __future__ import annotations

import logging
import random
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import anyio
import httpx
import sqlalchemy as sa

import agnt_api
from agnt_api.auth import Principal
from agnt_api.db.tables import webhook_attempts, webhook_outbox
from agnt_api.notify import Subscription
from agnt_api.runtime import Runtime
from agnt_api.services.records import as_utc, utc_now
from agnt_api.services.transitions import buyer_scope, load_job
from agnt_api.services.webhooks import (
    DELIVERED,
    FAILED,
    PENDING,
    WEBHOOKS_TOPIC,
    UnsafeWebhookUrl,
    message_id,
    pin_webhook_url,
    sign,
    signing_secrets,
)
from agnt_api.settings import Settings
from agnt_models.events import WebhookDelivery, WebhookDeliveryPage

log = logging.getLogger(__name__)

BACKOFF_FACTOR = 3
_CLAIM_MARGIN_SECONDS = 30.0
"""A claimed row is due again this long after the attempt's timeout (its worker died)."""
_MAX_ERROR_CHARS = 500
MAX_LISTED_ATTEMPTS = 1_000
"""``GET /v1/jobs/{id}/webhook-deliveries`` lists at most this many attempts (the oldest)."""


@dataclass(frozen=True)
class ClaimedDelivery:
    """One outbox row this worker holds for one attempt."""

    outbox_id: uuid.UUID
    job_id: uuid.UUID
    event_seq: int
    url: str
    body: str
    attempt: int
    claim_token: uuid.UUID
    secret: str


@dataclass(frozen=True)
class AttemptOutcome:
    """What one attempt got: a status code (or none), how long it took, what went wrong."""

    status_code: int | None
    latency_ms: float | None
    error: str | None

    @property
    def delivered(self) -> bool:
        """A 2xx answer is a delivery; anything else is retried."""
        return self.status_code is not None and 200 <= self.status_code < 300


def retry_delay(settings: Settings, attempt: int) -> float:
    """Seconds between attempt ``attempt`` failing and the next one."""
    base = settings.webhook_backoff_seconds * BACKOFF_FACTOR ** (attempt - 1)
    # Up to 10 % jitter: receivers that came back are not hit by every retry at once.
    return float(base * (1 + random.random() / 10))  # not a secret


def claim_due(
    connection: sa.Connection, limit: int, hold_seconds: float
) -> tuple[list[ClaimedDelivery], datetime | None]:
    """Take up to ``limit`` due rows; also when the next not-yet-due row is due."""
    now = utc_now()
    rows = connection.execute(
        sa.select(
            webhook_outbox.c.id,
            webhook_outbox.c.job_id,
            webhook_outbox.c.event_seq,
            webhook_outbox.c.buyer_id,
            webhook_outbox.c.url,
            webhook_outbox.c.body,
            webhook_outbox.c.attempts,
        )
        .where(webhook_outbox.c.state == PENDING, webhook_outbox.c.next_attempt_at <= now)
        .order_by(webhook_outbox.c.next_attempt_at)
        .limit(limit)
        # SKIP LOCKED: replicas claiming at once each take different rows, none waits.
        .with_for_update(skip_locked=True)
    ).all()
    claimed: list[ClaimedDelivery] = []
    if rows:
        token = uuid.uuid4()
        connection.execute(
            webhook_outbox.update()
            .where(webhook_outbox.c.id.in_([row.id for row in rows]))
            .values(
                attempts=webhook_outbox.c.attempts + 1,
                next_attempt_at=now + timedelta(seconds=hold_seconds),
                claim_token=token,
            )
        )
        keys = signing_secrets(connection, {row.buyer_id for row in rows})
        claimed = [
            ClaimedDelivery(
                outbox_id=row.id,
                job_id=row.job_id,
                event_seq=row.event_seq,
                url=row.url,
                body=row.body,
                attempt=row.attempts + 1,
                claim_token=token,
                secret=keys[row.buyer_id],
            )
            for row in rows
        ]
    next_due = connection.execute(
        sa.select(sa.func.min(webhook_outbox.c.next_attempt_at)).where(
            webhook_outbox.c.state == PENDING
        )
    ).scalar_one_or_none()
    return claimed, as_utc(next_due) if next_due is not None else None


def record_attempt(
    connection: sa.Connection,
    delivery: ClaimedDelivery,
    outcome: AttemptOutcome,
    settings: Settings,
) -> None:
    """Write the attempt and move the row on: delivered, retried later, or given up."""
    now = utc_now()
    next_attempt_at: datetime | None = None
    if outcome.delivered:
        state = DELIVERED
    elif delivery.attempt >= settings.webhook_max_attempts:
        state = FAILED
    else:
        state = PENDING
        next_attempt_at = now + timedelta(seconds=retry_delay(settings, delivery.attempt))
    moved = connection.execute(
        webhook_outbox.update()
        .where(
            webhook_outbox.c.id == delivery.outbox_id,
            webhook_outbox.c.claim_token == delivery.claim_token,
        )
        .values(
            state=state,
            next_attempt_at=next_attempt_at or now,
            claim_token=None,
        )
    ).rowcount
    if not moved:
        # Our hold ran out and another worker took the row: it decides what comes next.
        next_attempt_at = None
    connection.execute(
        webhook_attempts.insert().values(
            id=uuid.uuid4(),
            outbox_id=delivery.outbox_id,
            job_id=delivery.job_id,
            event_seq=delivery.event_seq,
            attempt=delivery.attempt,
            url=delivery.url,
            status_code=outcome.status_code,
            latency_ms=outcome.latency_ms,
            error=outcome.error,
            delivered=outcome.delivered,
            created_at=now,
            next_attempt_at=next_attempt_at,
        )
    )


def release_claims(connection: sa.Connection, tokens: list[uuid.UUID]) -> None:
    """Make rows whose attempt was cut short (shutdown) due now, the attempt not counted."""
    connection.execute(
        webhook_outbox.update()
        .where(webhook_outbox.c.claim_token.in_(tokens), webhook_outbox.c.state == PENDING)
        .values(
            attempts=webhook_outbox.c.attempts - 1,
            next_attempt_at=utc_now(),
            claim_token=None,
        )
    )


async def send_delivery(
    client: httpx.AsyncClient, delivery: ClaimedDelivery, settings: Settings
) -> AttemptOutcome:
    """POST one signed event; never raises for what the receiver or the network does."""
    started = time.perf_counter()

    def elapsed_ms() -> float:
        return round((time.perf_counter() - started) * 1000, 3)

    try:
        pinned = await pin_webhook_url(delivery.url, allow_private=settings.webhook_allow_private)
    except UnsafeWebhookUrl as exc:
        return AttemptOutcome(None, None, str(exc)[:_MAX_ERROR_CHARS])
    msg_id = message_id(delivery.job_id, delivery.event_seq)
    timestamp = int(time.time())
    headers = {
        "Host": pinned.host_header,
        "Content-Type": "application/json",
        "User-Agent": f"agnt-webhooks/{agnt_api.__version__}",
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(delivery.secret, msg_id, timestamp, delivery.body),
    }
    extensions = {"sni_hostname": pinned.sni_hostname} if pinned.sni_hostname else None
    try:
        request = client.build_request(
            "POST",
            pinned.url,
            content=delivery.body.encode(),
            headers=headers,
            extensions=extensions,
        )
        # The answer's body is never read: a receiver cannot make us download anything.
        response = await client.send(request, stream=True)
        await response.aclose()
    except httpx.TimeoutException:
        return AttemptOutcome(
            None, elapsed_ms(), f"timed out after {settings.webhook_timeout_seconds:g} s"
        )
    except httpx.HTTPError as exc:
        return AttemptOutcome(None, elapsed_ms(), f"{type(exc).__name__}: {exc}"[:_MAX_ERROR_CHARS])
    error = None
    if response.is_redirect:
        location = response.headers.get("location", "")
        error = f"HTTP {response.status_code}: redirects are not followed ({location})"
    elif not response.is_success:
        error = f"HTTP {response.status_code}"
    return AttemptOutcome(
        response.status_code, elapsed_ms(), error[:_MAX_ERROR_CHARS] if error else None
    )


async def run_webhook_deliveries(rt: Runtime) -> None:
    """Deliver due outbox rows until cancelled: woken by new rows, polled as a fallback."""
    settings = rt.settings
    hold = settings.webhook_timeout_seconds + _CLAIM_MARGIN_SECONDS
    in_flight: dict[uuid.UUID, ClaimedDelivery] = {}
    timeout = httpx.Timeout(settings.webhook_timeout_seconds)
    limits = httpx.Limits(max_connections=settings.webhook_concurrency)
    async with (
        httpx.AsyncClient(
            follow_redirects=False, timeout=timeout, limits=limits, trust_env=False
        ) as client,
        rt.notifier.subscribe([WEBHOOKS_TOPIC]) as wakeups,
    ):
        try:
            async with anyio.create_task_group() as tasks:
                while True:
                    free = settings.webhook_concurrency - len(in_flight)
                    next_due: datetime | None = None
                    if free > 0:
                        claimed, next_due = await _claim(rt, free, hold)
                        for delivery in claimed:
                            in_flight[delivery.outbox_id] = delivery
                            tasks.start_soon(_attempt, rt, client, delivery, in_flight, wakeups)
                        if claimed and len(claimed) == free:
                            continue
                    wait = settings.webhook_poll_seconds
                    if next_due is not None:
                        wait = min(wait, (next_due - utc_now()).total_seconds())
                    await wakeups.wait(max(wait, 0.0))
        finally:
            if in_flight:
                tokens = list({delivery.claim_token for delivery in in_flight.values()})
                with anyio.CancelScope(shield=True), anyio.move_on_after(5):
                    await rt.database.write(release_claims, tokens)


async def _claim(
    rt: Runtime, limit: int, hold: float
) -> tuple[list[ClaimedDelivery], datetime | None]:
    try:
        return await rt.database.write(claim_due, limit, hold)
    except Exception:
        # A database hiccup must not end deliveries; the next round retries.
        log.exception("claiming webhook deliveries failed")
        return [], None


async def _attempt(
    rt: Runtime,
    client: httpx.AsyncClient,
    delivery: ClaimedDelivery,
    in_flight: dict[uuid.UUID, ClaimedDelivery],
    wakeups: Subscription,
) -> None:
    outcome = await send_delivery(client, delivery, rt.settings)
    try:
        with anyio.CancelScope(shield=True):
            await rt.database.write(record_attempt, delivery, outcome, rt.settings)
    except Exception:
        # The row stays claimed; it is due again when the hold runs out.
        log.exception("recording webhook attempt for job %s failed", delivery.job_id)
    finally:
        del in_flight[delivery.outbox_id]
        # A slot is free (and a retry may be due sooner than the loop's wait).
        wakeups.wake()


def list_deliveries(
    connection: sa.Connection, caller: Principal, job_id: uuid.UUID
) -> WebhookDeliveryPage:
    """Every delivery attempt of the caller's job, oldest first (``JobNotFound`` otherwise)."""
    load_job(connection, job_id, buyer_scope(caller))
    rows = connection.execute(
        sa.select(webhook_attempts)
        .where(webhook_attempts.c.job_id == job_id)
        .order_by(
            webhook_attempts.c.created_at,
            webhook_attempts.c.event_seq,
            webhook_attempts.c.attempt,
        )
        .limit(MAX_LISTED_ATTEMPTS)
    ).all()
    return WebhookDeliveryPage(
        items=[
            WebhookDelivery(
                id=row.id,
                event_seq=row.event_seq,
                attempt=row.attempt,
                url=row.url,
                status_code=row.status_code,
                latency_ms=row.latency_ms,
                error=row.error,
                delivered=row.delivered,
                created_at=as_utc(row.created_at),
                next_attempt_at=(
                    as_utc(row.next_attempt_at) if row.next_attempt_at is not None else None
                ),
            )
            for row in rows
        ]
    )
