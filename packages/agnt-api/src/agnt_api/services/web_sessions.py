"""Server-side web sessions: a row per signed-in browser, so signing out really ends it.

The signed cookie carries a random token; the table keeps only its SHA-256 and the key
prefix it was signed in with. A session counts while its row exists, has not expired and
its key is unrevoked: sign-out deletes the row, and revoking the key ends every session
signed in with it.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta

import sqlalchemy as sa

from agnt_api.auth import Principal
from agnt_api.db.tables import api_keys, principals, web_sessions
from agnt_api.services.records import as_utc, utc_now
from agnt_models import Role


def token_hash(token: str) -> str:
    """The stored form of a session token (hex SHA-256)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def start_session(
    connection: sa.Connection, token: str, key_prefix: str, lifetime: timedelta
) -> None:
    """Record a new session of the key with ``key_prefix``; drop that key's expired ones."""
    now = utc_now()
    connection.execute(
        web_sessions.delete().where(
            web_sessions.c.key_prefix == key_prefix, web_sessions.c.expires_at < now
        )
    )
    connection.execute(
        web_sessions.insert().values(
            token_hash=token_hash(token),
            key_prefix=key_prefix,
            created_at=now,
            expires_at=now + lifetime,
        )
    )


def session_principal(connection: sa.Connection, token: str) -> Principal | None:
    """Who the session ``token`` belongs to; ``None`` once ended, expired or its key revoked."""
    row = connection.execute(
        sa.select(web_sessions.c.expires_at, api_keys.c.revoked_at, principals)
        .join(api_keys, api_keys.c.prefix == web_sessions.c.key_prefix)
        .join(principals, principals.c.id == api_keys.c.principal_id)
        .where(web_sessions.c.token_hash == token_hash(token))
    ).one_or_none()
    if row is None or row.revoked_at is not None or as_utc(row.expires_at) <= utc_now():
        return None
    return Principal(id=row.id, role=Role(row.role), name=row.name)


def end_session(connection: sa.Connection, token: str) -> None:
    """Forget the session ``token`` (a no-op when it is already gone)."""
    connection.execute(web_sessions.delete().where(web_sessions.c.token_hash == token_hash(token)))


def session_key_prefix(connection: sa.Connection, token: str) -> str | None:
    """The prefix of the key the session ``token`` was signed in with, or ``None``."""
    return connection.execute(
        sa.select(web_sessions.c.key_prefix).where(web_sessions.c.token_hash == token_hash(token))
    ).scalar_one_or_none()
