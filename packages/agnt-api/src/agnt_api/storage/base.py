"""The one storage protocol that result files go through, whatever the backend.

Backends: ``FileStorage`` (files under the data directory, served by the API itself) and
``S3Storage`` (any S3-compatible bucket, downloads by presigned URL).
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass
from typing import Protocol


class StorageError(Exception):
    """A storage operation failed (the backend is unreachable or refused it)."""


class ObjectNotFound(StorageError):
    """No object is stored under the key."""


class ObjectExists(StorageError):
    """An object is already stored under the key; result files are never overwritten."""


@dataclass(frozen=True, slots=True)
class StoredObject:
    """What ``save`` wrote: the key, the byte count and the SHA-256 of the bytes (hex)."""

    key: str
    size: int
    sha256: str


class Storage(Protocol):
    """Where result files live. Keys are namespaced by job id: ``jobs/<job_id>/<name>``."""

    async def save(
        self, key: str, chunks: AsyncIterable[bytes], *, content_type: str
    ) -> StoredObject:
        """Stream ``chunks`` into a new object under ``key``, hashing as the bytes pass.

        Memory stays bounded (a few chunks, never the whole file). The object becomes
        visible only once complete; if ``chunks`` raises or the backend fails, nothing is
        left under ``key`` and the error propagates. Raises ``ObjectExists`` when ``key``
        is taken.
        """
        ...

    async def delete(self, key: str) -> None:
        """Remove the object under ``key``; a missing key is not an error."""
        ...

    async def size(self, key: str) -> int:
        """Byte size of the stored object; ``ObjectNotFound`` when there is none."""
        ...

    def read(self, key: str, *, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        """Stream the bytes ``start..end`` (inclusive end, as in HTTP ranges) of an object."""
        ...

    async def presigned_url(
        self, key: str, *, filename: str, content_type: str, expires_in: int
    ) -> str | None:
        """A URL that downloads the object without an API key, valid ``expires_in`` seconds.

        ``None`` means the backend has no such URLs and the API serves the bytes itself.
        """
        ...

    async def check(self) -> None:
        """Raise ``StorageError`` unless the backend is reachable and writable (``/readyz``)."""
        ...

    async def close(self) -> None:
        """Release connections and threads."""
        ...
