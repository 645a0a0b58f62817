"""Principals and their API keys: create, list, revoke, and authenticate a bearer key."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import sqlalchemy as sa

from agnt_api import auth
from agnt_api.auth import Principal
from agnt_api.db.tables import api_keys, principals
from agnt_api.services.records import as_utc, utc_now
from agnt_models import ApiKeyCreated, ApiKeyInfo, Role


def create_key(
    connection: sa.Connection,
    role: Role,
    name: str,
    principal_id: uuid.UUID | None = None,
) -> ApiKeyCreated:
    """A new key; for a new principal unless ``principal_id`` names an existing one."""
    now = utc_now()
    if principal_id is None:
        principal_id = uuid.uuid4()
        connection.execute(
            principals.insert().values(id=principal_id, name=name, role=role.value, created_at=now)
        )
    else:
        existing = connection.execute(
            sa.select(principals.c.role).where(principals.c.id == principal_id)
        ).scalar_one_or_none()
        if existing is None:
            raise LookupError(f"no principal {principal_id}")
        role = Role(existing)
    key = auth.generate_key()
    connection.execute(
        api_keys.insert().values(
            prefix=auth.key_prefix(key),
            principal_id=principal_id,
            key_hash=auth.hash_key(key),
            name=name,
            created_at=now,
        )
    )
    return ApiKeyCreated(
        key=key, prefix=auth.key_prefix(key), role=role, principal_id=principal_id, name=name
    )


def list_keys(connection: sa.Connection) -> list[ApiKeyInfo]:
    """Every key (revoked ones too), oldest first; never the key itself."""
    rows = connection.execute(
        sa.select(api_keys, principals.c.role)
        .join(principals, principals.c.id == api_keys.c.principal_id)
        .order_by(api_keys.c.created_at, api_keys.c.prefix)
    )
    return [
        ApiKeyInfo(
            prefix=row.prefix,
            role=Role(row.role),
            principal_id=row.principal_id,
            name=row.name,
            created_at=as_utc(row.created_at),
            revoked_at=None if row.revoked_at is None else as_utc(row.revoked_at),
            last_used_at=None if row.last_used_at is None else as_utc(row.last_used_at),
        )
        for row in rows
    ]


def revoke_key(connection: sa.Connection, prefix: str) -> bool:
    """Revoke the key with ``prefix``; ``False`` if there is no such unrevoked key."""
    result = connection.execute(
        api_keys.update()
        .where(api_keys.c.prefix == prefix, api_keys.c.revoked_at.is_(None))
        .values(revoked_at=utc_now())
    )
    return result.rowcount == 1


def authenticate(connection: sa.Connection, key: str) -> Principal | None:
    """The principal holding the unrevoked ``key``, or ``None``."""
    if not auth.looks_like_key(key):
        return None
    row = connection.execute(
        sa.select(api_keys.c.key_hash, api_keys.c.revoked_at, principals)
        .join(principals, principals.c.id == api_keys.c.principal_id)
        .where(api_keys.c.prefix == auth.key_prefix(key))
    ).one_or_none()
    if row is None or row.revoked_at is not None or not auth.key_matches(key, row.key_hash):
        return None
    return Principal(id=row.id, role=Role(row.role), name=row.name)


def principal_name(connection: sa.Connection, principal_id: uuid.UUID) -> str | None:
    """The name of a principal (an agent's owner on its page), or ``None``."""
    return connection.execute(
        sa.select(principals.c.name).where(principals.c.id == principal_id)
    ).scalar_one_or_none()


def principal_keys(connection: sa.Connection, principal_id: uuid.UUID) -> list[ApiKeyInfo]:
    """The keys of one principal (revoked ones too), newest first; never the key itself."""
    rows = connection.execute(
        sa.select(api_keys, principals.c.role)
        .join(principals, principals.c.id == api_keys.c.principal_id)
        .where(api_keys.c.principal_id == principal_id)
        .order_by(api_keys.c.created_at.desc(), api_keys.c.prefix)
    )
    return [
        ApiKeyInfo(
            prefix=row.prefix,
            role=Role(row.role),
            principal_id=row.principal_id,
            name=row.name,
            created_at=as_utc(row.created_at),
            revoked_at=None if row.revoked_at is None else as_utc(row.revoked_at),
            last_used_at=None if row.last_used_at is None else as_utc(row.last_used_at),
        )
        for row in rows
    ]


def revoke_principal_key(connection: sa.Connection, principal_id: uuid.UUID, prefix: str) -> bool:
    """Revoke ``prefix`` if it is one of the principal's own unrevoked keys."""
    result = connection.execute(
        api_keys.update()
        .where(
            api_keys.c.prefix == prefix,
            api_keys.c.principal_id == principal_id,
            api_keys.c.revoked_at.is_(None),
        )
        .values(revoked_at=utc_now())
    )
    return result.rowcount == 1


USE_MARK_INTERVAL = timedelta(minutes=1)


def mark_used(connection: sa.Connection, prefix: str, now: datetime | None = None) -> bool:
    """Record that the key ``prefix`` authenticated; ``False`` if written within the minute.

    The condition makes the write idempotent across replicas and workers: each throttles
    itself in memory (``KeyCache.use_due``), and the row is left alone if any of them wrote
    it less than ``USE_MARK_INTERVAL`` ago, so a busy key costs about one row write a minute.
    """
    now = utc_now() if now is None else now
    result = connection.execute(
        api_keys.update()
        .where(
            api_keys.c.prefix == prefix,
            sa.or_(
                api_keys.c.last_used_at.is_(None),
                api_keys.c.last_used_at <= now - USE_MARK_INTERVAL,
            ),
        )
        .values(last_used_at=now)
    )
    return result.rowcount == 1
