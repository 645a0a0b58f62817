"""API keys: generated with ``secrets``, stored as a SHA-256 hash under a visible prefix.

A key is ``agnt_`` plus 43 URL-safe random characters; its first 13 characters are the
prefix (shown by ``keys list``, used by ``keys revoke``, and the lookup index). The hash is
compared with ``hmac.compare_digest`` so timing reveals nothing. 256 random bits make a
slow hash unnecessary.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass

from agnt_models import Role

KEY_SCHEME = "agnt_"
PREFIX_LENGTH = len(KEY_SCHEME) + 8


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: a buyer, an executor or an admin."""

    id: uuid.UUID
    role: Role
    name: str


def generate_key() -> str:
    """A fresh API key."""
    return KEY_SCHEME + secrets.token_urlsafe(32)


def key_prefix(key: str) -> str:
    """The visible, indexed part of a key."""
    return key[:PREFIX_LENGTH]


def hash_key(key: str) -> str:
    """The stored form of a key (hex SHA-256)."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def key_matches(key: str, stored_hash: str) -> bool:
    """Whether ``key`` hashes to ``stored_hash``, in constant time."""
    return hmac.compare_digest(hash_key(key), stored_hash)


def looks_like_key(key: str) -> bool:
    """Cheap shape check before touching the database."""
    return key.startswith(KEY_SCHEME) and PREFIX_LENGTH < len(key) <= 200
