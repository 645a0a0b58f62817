"""A short-lived, per-process memory of authenticated keys: most requests skip the lookup.

An executor or buyer sends the same key with every request; looking it up costs a
transaction (a pool checkout and a thread hop) before the request's own work. The cache
maps the key's SHA-256 (never the key) to its principal for ``AGNT_AUTH_CACHE_SECONDS``
(5 s by default; 0 turns it off). A revoked key therefore stops working within that many
seconds on every replica and worker: each one forgets it on its own clock, with no
cross-process invalidation to go wrong. Unknown and revoked keys are never cached, so a
new key works at once.

It also throttles the "last used" mark (``use_due``): a key is marked at most once a
minute per process, cached hit or not, so marking costs about one row write per key a
minute instead of one per request.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from agnt_api.auth import Principal, hash_key

MAX_CACHED_KEYS = 10_000
USE_MARK_SECONDS = 60.0


class KeyCache:
    """Principals by key hash, each for ``ttl`` seconds."""

    def __init__(self, ttl: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self._clock = clock
        self._entries: dict[str, tuple[Principal, float]] = {}
        self._next_use_marks: dict[str, float] = {}

    async def principal(
        self, key: str, lookup: Callable[[str], Awaitable[Principal | None]]
    ) -> Principal | None:
        """The principal of ``key``: remembered, else ``lookup(key)`` (remembered if found)."""
        if self.ttl <= 0:
            return await lookup(key)
        digest = hash_key(key)
        now = self._clock()
        entry = self._entries.get(digest)
        if entry is not None and entry[1] > now:
            return entry[0]
        principal = await lookup(key)
        if principal is None:
            self._entries.pop(digest, None)
            return None
        if len(self._entries) >= MAX_CACHED_KEYS:
            self._evict(now)
        self._entries[digest] = (principal, now + self.ttl)
        return principal

    def _evict(self, now: float) -> None:
        live = {k: v for k, v in self._entries.items() if v[1] > now}
        if len(live) >= MAX_CACHED_KEYS:
            # Still full of live keys: drop the oldest half (dicts keep insertion order).
            live = dict(list(live.items())[MAX_CACHED_KEYS // 2 :])
        self._entries = live

    def use_due(self, prefix: str) -> bool:
        """Whether the key ``prefix`` should be marked used now (then not for a minute)."""
        now = self._clock()
        due = self._next_use_marks.get(prefix)
        if due is not None and due > now:
            return False
        if len(self._next_use_marks) >= MAX_CACHED_KEYS:
            self._next_use_marks = {k: v for k, v in self._next_use_marks.items() if v > now}
            if len(self._next_use_marks) >= MAX_CACHED_KEYS:
                self._next_use_marks.clear()
        self._next_use_marks[prefix] = now + USE_MARK_SECONDS
        return True
