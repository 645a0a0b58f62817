"""``FileStorage``: result files under a directory, served by the API's own download route.

Writes go to a temporary file beside the target, hashed as they stream, and become visible
with one atomic ``link`` (which also refuses to overwrite an existing object). Disk I/O runs
on worker threads in chunks, so the event loop never blocks and memory stays bounded.
Files are 0600 and the directories this creates 0700, whatever the umask: result files are
the buyers' data, not the host's other users'.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import uuid
from collections.abc import AsyncIterable, AsyncIterator
from pathlib import Path
from typing import BinaryIO

import anyio.to_thread

from agnt_api.storage.base import ObjectExists, ObjectNotFound, StorageError, StoredObject

WRITE_BUFFER_BYTES = 1024 * 1024
READ_CHUNK_BYTES = 256 * 1024
FILE_MODE = 0o600
DIRECTORY_MODE = 0o700


class FileStorage:
    """Objects as files below ``root``; the key is the relative path."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path_of(self, key: str) -> Path:
        """The file that holds ``key``; refuses keys that would leave ``root``."""
        parts = key.split("/")
        if not key or any(part in ("", ".", "..") or "\\" in part for part in parts):
            raise StorageError(f"invalid storage key: {key!r}")
        return self.root.joinpath(*parts)

    async def save(
        self, key: str, chunks: AsyncIterable[bytes], *, content_type: str
    ) -> StoredObject:
        """Stream ``chunks`` into a new file under ``key`` (see ``Storage.save``)."""
        target = self.path_of(key)
        # Not derived from the target's name: a 255-byte name has no room for a suffix.
        temp = target.with_name(f".{uuid.uuid4().hex}.part")
        digest = hashlib.sha256()
        size = 0
        handle: BinaryIO | None = None
        try:
            buffer = bytearray()
            async for chunk in chunks:
                digest.update(chunk)
                size += len(chunk)
                buffer += chunk
                if len(buffer) >= WRITE_BUFFER_BYTES:
                    if handle is None:
                        handle = await anyio.to_thread.run_sync(_create, temp)
                    await anyio.to_thread.run_sync(handle.write, bytes(buffer))
                    buffer.clear()
            if handle is None:
                # A file under one buffer (most results): one thread hop, not five.
                await anyio.to_thread.run_sync(_write_whole, temp, target, bytes(buffer))
            else:
                if buffer:
                    await anyio.to_thread.run_sync(handle.write, bytes(buffer))
                await anyio.to_thread.run_sync(_flush_and_close, handle)
                await anyio.to_thread.run_sync(_publish, temp, target)
        except BaseException:
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(_discard, handle, temp)
            raise
        return StoredObject(key=key, size=size, sha256=digest.hexdigest())

    async def delete(self, key: str) -> None:
        """Remove the file of ``key``, if any."""
        path = self.path_of(key)
        await anyio.to_thread.run_sync(_unlink_quietly, path)

    async def size(self, key: str) -> int:
        """Byte size of the file of ``key``."""
        path = self.path_of(key)
        try:
            stat = await anyio.to_thread.run_sync(path.stat)
        except FileNotFoundError as exc:
            raise ObjectNotFound(key) from exc
        return stat.st_size

    async def read(
        self, key: str, *, start: int = 0, end: int | None = None
    ) -> AsyncIterator[bytes]:
        """Stream bytes ``start..end`` (inclusive) of the file of ``key``."""
        path = self.path_of(key)
        try:
            handle: BinaryIO = await anyio.to_thread.run_sync(_open_for_reading, path)
        except FileNotFoundError as exc:
            raise ObjectNotFound(key) from exc
        try:
            await anyio.to_thread.run_sync(handle.seek, start)
            remaining = None if end is None else end - start + 1
            while remaining is None or remaining > 0:
                want = READ_CHUNK_BYTES if remaining is None else min(READ_CHUNK_BYTES, remaining)
                chunk = await anyio.to_thread.run_sync(handle.read, want)
                if not chunk:
                    break
                if remaining is not None:
                    remaining -= len(chunk)
                yield chunk
        finally:
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(handle.close)

    async def presigned_url(
        self, key: str, *, filename: str, content_type: str, expires_in: int
    ) -> str | None:
        """Files have no presigned URLs: the API serves them itself."""
        return None

    async def check(self) -> None:
        """Raise ``StorageError`` unless ``root`` exists (or can be made) and is writable."""
        try:
            await anyio.to_thread.run_sync(_probe, self.root)
        except OSError as exc:
            raise StorageError(f"storage directory {self.root} is not writable: {exc}") from exc

    async def close(self) -> None:
        """Nothing to release."""

    def save_bytes(self, key: str, data: bytes) -> StoredObject:
        """``save`` of bytes already in memory, on the calling (worker) thread.

        For a caller that shares its thread hop with other blocking work (a completion's
        one small file and its record); the same file, mode and refusal to overwrite.
        """
        target = self.path_of(key)
        temp = target.with_name(f".{uuid.uuid4().hex}.part")
        try:
            _write_whole(temp, target, data)
        except BaseException:
            _discard(None, temp)
            raise
        return StoredObject(key=key, size=len(data), sha256=hashlib.sha256(data).hexdigest())


def _make_directories(directory: Path) -> None:
    """Create ``directory`` and its missing parents, each 0700 (existing ones are left be)."""
    missing = []
    for path in (directory, *directory.parents):
        if path.is_dir():
            break
        missing.append(path)
    for path in reversed(missing):
        try:
            path.mkdir(mode=DIRECTORY_MODE)
        except FileExistsError:
            continue  # made meanwhile by a concurrent save
        os.chmod(path, DIRECTORY_MODE)  # mkdir's mode is masked by the umask


def _open_exclusive(path: Path) -> BinaryIO:
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    os.fchmod(descriptor, FILE_MODE)  # os.open's mode is masked by the umask
    return os.fdopen(descriptor, "wb")


def _create(temp: Path) -> BinaryIO:
    """The temporary file ``temp``, new, in its directory (made if missing)."""
    _make_directories(temp.parent)
    return _open_exclusive(temp)


def _write_whole(temp: Path, target: Path, data: bytes) -> None:
    """Write ``data`` to ``temp``, durably, and publish it as ``target``."""
    handle = _create(temp)
    try:
        handle.write(data)
        _flush_and_close(handle)
    finally:
        handle.close()
    _publish(temp, target)


def _open_for_reading(path: Path) -> BinaryIO:
    return path.open("rb")


def _flush_and_close(handle: BinaryIO) -> None:
    handle.flush()
    os.fsync(handle.fileno())
    handle.close()


def _publish(temp: Path, target: Path) -> None:
    # link() is atomic and fails if the target exists: complete files only, never overwritten.
    try:
        os.link(temp, target)
    except FileExistsError as exc:
        raise ObjectExists(str(target)) from exc
    finally:
        temp.unlink(missing_ok=True)


def _discard(handle: BinaryIO | None, temp: Path) -> None:
    if handle is not None:
        handle.close()
    temp.unlink(missing_ok=True)


def _unlink_quietly(path: Path) -> None:
    path.unlink(missing_ok=True)
    with contextlib.suppress(OSError):
        path.parent.rmdir()


def _probe(root: Path) -> None:
    _make_directories(root)
    probe = root / f".probe-{uuid.uuid4().hex}"
    probe.write_bytes(b"ok")
    probe.unlink()
