"""Webhooks: where a job's events go, who may be called, the signing secret, the outbox.

A job's target is stored with the order; each event of the job that the target asked for
becomes one outbox row in the event's own transaction (``enqueue_deliveries``), so an
event is never lost and never sent for a change that rolled back. Delivery workers
(``agnt_api.services.webhook_delivery``) claim the rows and record every attempt.
This module imports nothing of the job services: the event log calls into it.

Signing follows Standard Webhooks: ``webhook-signature: v1,<base64 HMAC-SHA256 of
"{webhook-id}.{webhook-timestamp}.{body}">``, keyed with the bytes of the per-principal
secret (``whsec_<base64>``).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import ipaddress
import secrets
import socket
import uuid
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit, urlunsplit

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from agnt_api.auth import Principal
from agnt_api.db.tables import job_webhooks, webhook_outbox, webhook_secrets
from agnt_api.errors import ValidationFailed
from agnt_api.notify import announce
from agnt_api.services.records import as_utc, utc_now
from agnt_models import FieldError
from agnt_models.events import (
    JobEvent,
    JobEventKind,
    WebhookSecret,
    WebhookTarget,
)

WEBHOOKS_TOPIC = "webhooks"
"""Announced when an outbox row commits: wakes the delivery workers of every replica."""

DEFAULT_EVENT_KINDS: tuple[JobEventKind, ...] = tuple(
    kind for kind in JobEventKind if kind not in (JobEventKind.PROGRESS, JobEventKind.LOG)
)
"""What a target without ``events`` receives: every status kind, no progress or log lines."""

SECRET_PREFIX = "whsec_"
_SECRET_BYTES = 32
_RESOLVE_TIMEOUT_SECONDS = 5.0

PENDING, DELIVERED, FAILED = "pending", "delivered", "failed"


# --- Who may be called ---------------------------------------------------------------------


class UnsafeWebhookUrl(Exception):
    """The URL may not be called: not http(s), or its host is (or resolves to) a private address."""


IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def is_public_address(address: IpAddress) -> bool:
    """Whether ``address`` is a public unicast address (not loopback, private, link-local...)."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_global and not address.is_multicast


async def resolve_public_addresses(url: str, *, allow_private: bool) -> list[IpAddress]:
    """Every address ``url``'s host resolves to; ``UnsafeWebhookUrl`` if any is not public.

    All of them must be public: a name that resolves to one public and one private address
    would let the caller pick which one the API connects to.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UnsafeWebhookUrl("only http and https URLs with a host are allowed")
    host = parts.hostname
    try:
        addresses: list[IpAddress] = [ipaddress.ip_address(host)]
    except ValueError:
        addresses = await _resolve(host, parts.port or (443 if parts.scheme == "https" else 80))
    if not allow_private:
        for address in addresses:
            if not is_public_address(address):
                raise UnsafeWebhookUrl(
                    f"{host} is a loopback, private, link-local or reserved address ({address})"
                )
    return addresses


async def _resolve(host: str, port: int) -> list[IpAddress]:
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout(_RESOLVE_TIMEOUT_SECONDS):
            infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, TimeoutError) as exc:
        raise UnsafeWebhookUrl(f"{host} does not resolve ({exc})") from exc
    addresses: list[IpAddress] = []
    for _family, _type, _proto, _name, sockaddr in infos:
        address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise UnsafeWebhookUrl(f"{host} does not resolve")
    return addresses


async def check_webhook_target(target: WebhookTarget | None, *, allow_private: bool) -> None:
    """At order time: ``ValidationFailed`` naming ``webhook.url`` unless it may be called."""
    if target is None:
        return
    try:
        await resolve_public_addresses(str(target.url), allow_private=allow_private)
    except UnsafeWebhookUrl as exc:
        raise ValidationFailed(
            "the webhook URL may not be called",
            errors=[FieldError(loc="webhook.url", message=str(exc))],
        ) from exc


@dataclass(frozen=True)
class PinnedRequest:
    """A delivery's request, sent to the address that was checked (no second DNS lookup).

    The URL carries the IP; ``Host`` and TLS (SNI and certificate name) keep the real host,
    so a name that resolves to a public address at the check and a private one a moment
    later (DNS rebinding) cannot redirect the call.
    """

    url: str
    host_header: str
    sni_hostname: str | None


async def pin_webhook_url(url: str, *, allow_private: bool) -> PinnedRequest:
    """Resolve and check ``url`` now, and build the request that goes to that address."""
    addresses = await resolve_public_addresses(url, allow_private=allow_private)
    parts = urlsplit(url)
    address = addresses[0]
    literal = f"[{address}]" if address.version == 6 else str(address)
    netloc = literal if parts.port is None else f"{literal}:{parts.port}"
    host_header = parts.netloc.rsplit("@", 1)[-1]
    pinned = urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, ""))
    sni = parts.hostname if parts.scheme == "https" else None
    return PinnedRequest(url=pinned, host_header=host_header, sni_hostname=sni)


# --- Signing -------------------------------------------------------------------------------


def new_secret() -> str:
    """A fresh signing secret: ``whsec_`` and 32 random bytes in base64."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(_SECRET_BYTES)).decode()


def sign(secret: str, message_id: str, timestamp: int, body: str) -> str:
    """The ``webhook-signature`` header value for one delivery (Standard Webhooks, v1)."""
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    signed = f"{message_id}.{timestamp}.{body}".encode()
    digest = hmac.new(key, signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def message_id(job_id: uuid.UUID, seq: int) -> str:
    """``webhook-id``: one per event, the same on every retry (receivers de-duplicate on it)."""
    return f"evt_{job_id}_{seq}"


# --- The signing secret ---------------------------------------------------------------------


def _read_secret(connection: sa.Connection, principal_id: uuid.UUID) -> WebhookSecret | None:
    row = connection.execute(
        sa.select(webhook_secrets.c.secret, webhook_secrets.c.created_at).where(
            webhook_secrets.c.principal_id == principal_id
        )
    ).one_or_none()
    if row is None:
        return None
    return WebhookSecret(secret=row.secret, created_at=as_utc(row.created_at))


def ensure_secret(connection: sa.Connection, principal_id: uuid.UUID) -> WebhookSecret:
    """The principal's signing secret, created on first use (in a write transaction)."""
    existing = _read_secret(connection, principal_id)
    if existing is not None:
        return existing
    created = WebhookSecret(secret=new_secret(), created_at=utc_now())
    try:
        with connection.begin_nested():
            connection.execute(
                webhook_secrets.insert().values(
                    principal_id=principal_id,
                    secret=created.secret,
                    created_at=created.created_at,
                )
            )
    except IntegrityError:
        # A concurrent first use committed its secret first: that one is the secret.
        existing = _read_secret(connection, principal_id)
        if existing is None:
            raise
        return existing
    return created


def get_secret(connection: sa.Connection, caller: Principal) -> WebhookSecret:
    """``GET /v1/webhooks/secret``: the caller's secret (made now if it has none yet)."""
    return ensure_secret(connection, caller.id)


def rotate_secret(connection: sa.Connection, caller: Principal) -> WebhookSecret:
    """Replace the caller's secret; deliveries from now on (retries too) use the new one."""
    ensure_secret(connection, caller.id)
    rotated = WebhookSecret(secret=new_secret(), created_at=utc_now())
    connection.execute(
        webhook_secrets.update()
        .where(webhook_secrets.c.principal_id == caller.id)
        .values(secret=rotated.secret, created_at=rotated.created_at)
    )
    return rotated


def signing_secrets(
    connection: sa.Connection, principal_ids: set[uuid.UUID]
) -> dict[uuid.UUID, str]:
    """The current secret of each principal (made if missing), for signing deliveries."""
    return {
        principal_id: ensure_secret(connection, principal_id).secret
        for principal_id in principal_ids
    }


# --- Targets and the outbox ------------------------------------------------------------------


def store_webhook_target(
    connection: sa.Connection,
    job_id: uuid.UUID,
    buyer_id: uuid.UUID,
    target: WebhookTarget,
    now: datetime,
) -> None:
    """Remember where ``job_id``'s events go (in the order's transaction)."""
    kinds = DEFAULT_EVENT_KINDS if target.events is None else tuple(target.events)
    connection.execute(
        job_webhooks.insert().values(
            job_id=job_id,
            buyer_id=buyer_id,
            url=str(target.url),
            events=sorted({kind.value for kind in kinds}),
            created_at=now,
        )
    )
    # The buyer can read the secret before the first event arrives.
    ensure_secret(connection, buyer_id)


def enqueue_deliveries(connection: sa.Connection, job_id: uuid.UUID, event: JobEvent) -> None:
    """Queue ``event`` for the job's webhook, if it has one that wants this kind.

    Called inside the transaction that appends the event: the outbox row commits (and
    wakes the delivery workers) with it, or not at all.
    """
    target = connection.execute(
        sa.select(job_webhooks.c.buyer_id, job_webhooks.c.url, job_webhooks.c.events).where(
            job_webhooks.c.job_id == job_id
        )
    ).one_or_none()
    if target is None or event.kind.value not in target.events:
        return
    now = utc_now()
    connection.execute(
        webhook_outbox.insert().values(
            id=uuid.uuid4(),
            job_id=job_id,
            event_seq=event.seq,
            buyer_id=target.buyer_id,
            url=target.url,
            body=event.model_dump_json(),
            state=PENDING,
            attempts=0,
            next_attempt_at=now,
            claim_token=None,
            created_at=now,
        )
    )
    announce(connection, [WEBHOOKS_TOPIC])
