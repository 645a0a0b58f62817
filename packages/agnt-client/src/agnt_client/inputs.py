"""Input files for an order: paths, or (name, bytes / binary file object), made uploadable.

An upload states its ``Content-Length`` up front and is read again on a retry, so bytes and
file objects (stdin) are first spooled to a private temp file; paths are streamed as they are.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import BinaryIO

from agnt_client.uploads import UploadSource
from agnt_models import JobInput, ResultFile

InputSource = UploadSource | tuple[str, bytes | BinaryIO]
"""An input file: a path (its own name is used), ``(name, path)``, ``(name, bytes)`` or
``(name, binary file object)``."""


@contextlib.contextmanager
def upload_sources(sources: Sequence[InputSource]) -> Iterator[list[UploadSource]]:
    """``sources`` as uploadable paths; bytes and file objects live in temp files meanwhile."""
    with tempfile.TemporaryDirectory(prefix="agnt-inputs-") as spool:
        ready: list[UploadSource] = []
        for index, source in enumerate(sources):
            if isinstance(source, tuple) and not isinstance(source[1], str | os.PathLike):
                name, content = source
                path = Path(spool) / str(index)
                with path.open("wb") as out:
                    if isinstance(content, bytes):
                        out.write(content)
                    else:
                        shutil.copyfileobj(content, out)
                ready.append((name, path))
            else:
                ready.append(source)
        yield ready


def as_result_file(entry: JobInput) -> ResultFile:
    """An input entry in the shape the verified download machinery takes."""
    return ResultFile(
        name=entry.name,
        size=entry.size,
        mime=entry.media_type,
        sha256=entry.sha256,
        download_url=entry.download_url,
    )
