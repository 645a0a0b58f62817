"""A multipart/form-data body streamed from files on disk, never held whole in memory.

The body is described up front (part headers, file sizes), so its ``Content-Length`` is
known before the first byte is sent, and it can be produced again for a retry: each
iteration opens the files anew and reads them in chunks.
"""

from __future__ import annotations

import mimetypes
import os
import re
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from agnt_client.errors import AgntError

CHUNK_SIZE = 64 * 1024

UploadSource = str | os.PathLike[str] | tuple[str, str | os.PathLike[str]]
"""A file to upload: its path (the file's own name is used), or ``(name, path)``."""

_ESCAPES = {'"': '\\"', "\\": "\\\\", "\r": "%0D", "\n": "%0A"}
_NEEDS_ESCAPE = re.compile(r'["\\\r\n]')


def _quoted(value: str) -> str:
    # An RFC 9110 quoted-string, which python-multipart (the API's parser) unescapes; the
    # HTML form style (%22 for a quote) would reach the API as a literal "%22". CR and LF
    # cannot be in a header at all, so they are percent-encoded.
    return '"' + _NEEDS_ESCAPE.sub(lambda m: _ESCAPES[m.group(0)], value) + '"'


@dataclass(frozen=True)
class UploadPart:
    """One file part: the form field, the file name the API records, where the bytes are."""

    field: str
    name: str
    path: Path
    size: int
    mime: str

    def header(self, boundary: str) -> bytes:
        """The boundary line and part headers that precede the file's bytes."""
        return (
            f"--{boundary}\r\n"
            f"Content-Disposition: form-data; name={_quoted(self.field)}; "
            f"filename={_quoted(self.name)}\r\n"
            f"Content-Type: {self.mime}\r\n\r\n"
        ).encode()


class MultipartUpload:
    """A streamed multipart/form-data body of one or more files."""

    def __init__(self, parts: Sequence[UploadPart], boundary: str | None = None) -> None:
        self.parts = list(parts)
        self.boundary = boundary or uuid.uuid4().hex

    @classmethod
    def from_sources(cls, field: str, sources: Sequence[UploadSource]) -> MultipartUpload:
        """Describe each file (its size now, for ``Content-Length``); a missing file raises."""
        parts: list[UploadPart] = []
        for source in sources:
            if isinstance(source, tuple):
                name, raw_path = source
                path = Path(raw_path)
            else:
                path = Path(source)
                name = path.name
            if not path.is_file():
                raise FileNotFoundError(f"cannot upload {path}: not a file")
            mime = mimetypes.guess_type(name)[0] or "application/octet-stream"
            parts.append(UploadPart(field, name, path, path.stat().st_size, mime))
        return cls(parts)

    @property
    def content_type(self) -> str:
        """The ``Content-Type`` header, with this body's boundary."""
        return f"multipart/form-data; boundary={self.boundary}"

    @property
    def closing(self) -> bytes:
        """The final boundary line."""
        return f"--{self.boundary}--\r\n".encode()

    @property
    def content_length(self) -> int:
        """Exact size of the body in bytes."""
        total = len(self.closing)
        for part in self.parts:
            total += len(part.header(self.boundary)) + part.size + 2
        return total

    def headers(self) -> dict[str, str]:
        """``Content-Type`` and ``Content-Length`` of the body."""
        return {"Content-Type": self.content_type, "Content-Length": str(self.content_length)}

    def iter_chunks(self) -> Iterator[bytes]:
        """The body, chunk by chunk, reading each file as it goes."""
        for part in self.parts:
            yield part.header(self.boundary)
            yield from _read_exactly(part)
            yield b"\r\n"
        yield self.closing

    async def aiter_chunks(self) -> AsyncIterator[bytes]:
        """The body for an async transport.

        Reads are plain blocking reads of a local file, as httpx's own multipart does.
        """
        for chunk in self.iter_chunks():
            yield chunk


def _read_exactly(part: UploadPart) -> Iterator[bytes]:
    # The Content-Length was promised from the size at describe time: a file that changed
    # since would corrupt the body, so it is an error rather than a silent short upload.
    remaining = part.size
    with part.path.open("rb") as stream:
        while remaining > 0:
            chunk = stream.read(min(CHUNK_SIZE, remaining))
            if not chunk:
                raise AgntError(f"{part.path} shrank while it was being uploaded")
            remaining -= len(chunk)
            yield chunk
        if stream.read(1):
            raise AgntError(f"{part.path} grew while it was being uploaded")
