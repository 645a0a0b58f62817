"""Opaque pagination cursors: URL-safe base64 of a small JSON document.

A cursor is bound to its query (``kind`` and a fingerprint of the filters), so a cursor
from one listing handed to another is ``invalid_cursor``, never a wrong page.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from typing import Any

from agnt_api.errors import InvalidCursor


def fingerprint(*parts: object) -> str:
    """A short stable digest of a query's filters."""
    return hashlib.sha256(json.dumps([str(p) for p in parts]).encode()).hexdigest()[:16]


def encode_cursor(kind: str, query: str, position: dict[str, Any]) -> str:
    """The cursor for the page after ``position`` of listing ``kind`` with filters ``query``."""
    document = json.dumps({"k": kind, "q": query, "p": position}, separators=(",", ":"))
    return base64.urlsafe_b64encode(document.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, kind: str, query: str) -> dict[str, Any]:
    """The position in ``cursor``; ``InvalidCursor`` unless this listing handed it out."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        document = json.loads(raw)
    except (binascii.Error, ValueError, UnicodeDecodeError) as exc:
        raise InvalidCursor("the cursor is not one this API handed out") from exc
    if (
        not isinstance(document, dict)
        or document.get("k") != kind
        or document.get("q") != query
        or not isinstance(document.get("p"), dict)
    ):
        raise InvalidCursor("the cursor belongs to another listing or other filters")
    position: dict[str, Any] = document["p"]
    return position
