"""Principals and API keys, as ``agnt-server keys`` prints them."""

from __future__ import annotations

from enum import StrEnum

from pydantic import AwareDatetime
from pydantic.types import UUID4

from agnt_models.common import WireModel


class Role(StrEnum):
    """What a principal may do: order jobs, serve jobs, or operate the service."""

    BUYER = "buyer"
    EXECUTOR = "executor"
    ADMIN = "admin"


class ApiKeyCreated(WireModel):
    """A new key, shown once: only its hash is stored."""

    key: str
    prefix: str
    role: Role
    principal_id: UUID4
    name: str


class ApiKeyInfo(WireModel):
    """A stored key as listed by operators: never the key itself."""

    prefix: str
    role: Role
    principal_id: UUID4
    name: str
    created_at: AwareDatetime
    revoked_at: AwareDatetime | None = None
    # When the key last authenticated (to within about a minute), or ``None`` if never.
    last_used_at: AwareDatetime | None = None


class Health(WireModel):
    """``/healthz`` and ``/readyz``: overall status and each dependency's."""

    status: str
    checks: dict[str, str] = {}
