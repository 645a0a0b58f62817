"""Downloading a job's result files safely: checked names, temp files, verified hashes.

A download is all or nothing: every file is streamed to a temp file beside its
destination and checked, as soon as it is complete, against the size and sha256 that the
result promised; only when all of them are right are they renamed into place. Anything that goes wrong
(a mismatch, a broken connection) removes the temp files and leaves ``dest_dir`` as it was.
"""

from __future__ import annotations

import hashlib
import ntpath
import os
import posixpath
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import httpx

from agnt_client.errors import ChecksumMismatchError, FileConflictError, UnsafeFileNameError
from agnt_models import ResultFile, ResultNames, result_name_problem


@dataclass(frozen=True)
class DownloadedFile:
    """A result file on disk: its name in the result, where it is, its size and sha256."""

    name: str
    path: Path
    size: int
    sha256: str


def destination(dest_dir: Path, name: str) -> Path:
    """Where result file ``name`` goes in ``dest_dir``; refuses any name that is not a plain,
    portable file name (``agnt_models.result_name_problem``) or that a POSIX or a Windows
    path join would place anywhere but directly in ``dest_dir``, whatever the server says."""
    problem = result_name_problem(name)
    if problem is not None:
        raise UnsafeFileNameError(name, problem)
    for paths in (posixpath, ntpath):
        joined = paths.join("dest", name)
        if (
            paths.isabs(name)
            or paths.splitdrive(name)[0]
            or paths.dirname(joined) != "dest"
            or paths.basename(joined) != name
        ):
            raise UnsafeFileNameError(name, f"{paths.__name__} reads it as a path")
    path = dest_dir / name
    if path.parent != dest_dir:
        raise UnsafeFileNameError(name, "it is a path")
    return path


def sha256_of(path: Path) -> str:
    """The sha256 hex digest of a file, read in chunks."""
    with path.open("rb") as stream:
        return hashlib.file_digest(stream, "sha256").hexdigest()


def existing_download(path: Path, expected: ResultFile, *, overwrite: bool) -> bool:
    """Whether ``path`` already holds exactly this file (then it need not be fetched).

    A different file there raises ``FileConflictError`` unless ``overwrite``.
    """
    if not path.exists():
        return False
    if (
        path.is_file()
        and path.stat().st_size == expected.size
        and sha256_of(path) == expected.sha256
    ):
        return True
    if overwrite and not path.is_dir():
        return False
    raise FileConflictError(path)


class PartialDownload:
    """A result file being written to a temp file beside its destination, hashed as it goes."""

    def __init__(self, expected: ResultFile, path: Path) -> None:
        self.expected = expected
        self.path = path
        # Not mkstemp: its 0600 would stick to the renamed file; this honours the umask.
        # Not derived from the name either: a 255-byte name has no room for a suffix.
        self.temp_path = path.with_name(f".agnt-{uuid.uuid4().hex[:12]}.part")
        handle = os.open(self.temp_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        self._stream: BinaryIO = os.fdopen(handle, "wb")
        self._hash = hashlib.sha256()
        self.size = 0
        self.etag: str | None = None

    def resume_headers(self) -> dict[str, str]:
        """Headers asking for the rest of the file after a broken download.

        ``If-Range`` makes the server send the whole file instead if it changed meanwhile.
        """
        if self.size == 0 or self.etag is None:
            return {}
        return {"Range": f"bytes={self.size}-", "If-Range": self.etag}

    def begin(self, status_code: int, headers: httpx.Headers) -> None:
        """Prepare for a successful answer's body: append to a 206 continuing where we
        stopped, start over on anything else."""
        resumed = status_code == 206 and headers.get("content-range", "").startswith(
            f"bytes {self.size}-"
        )
        if not resumed:
            self.restart()
        etag = headers.get("etag")
        # Byte ranges count encoded bytes: a compressed body cannot be resumed by offset.
        encoded = headers.get("content-encoding", "identity") != "identity"
        strong = etag is not None and not etag.startswith("W/")
        self.etag = etag if strong and not encoded else None

    def restart(self) -> None:
        """Drop what was written so far (before retrying the download from the start)."""
        self._stream.seek(0)
        self._stream.truncate()
        self._hash = hashlib.sha256()
        self.size = 0

    def write(self, chunk: bytes) -> None:
        """Append a chunk of the body; more bytes than promised stop the download at once."""
        self._hash.update(chunk)
        self.size += len(chunk)
        if self.size > self.expected.size:
            raise self._mismatch()
        self._stream.write(chunk)

    def finish(self) -> DownloadedFile:
        """Close the temp file and check it against the result entry."""
        self._stream.close()
        digest = self._hash.hexdigest()
        if digest != self.expected.sha256 or self.size != self.expected.size:
            raise self._mismatch()
        return DownloadedFile(self.expected.name, self.path, self.size, digest)

    def _mismatch(self) -> ChecksumMismatchError:
        return ChecksumMismatchError(
            self.expected.name,
            expected_sha256=self.expected.sha256,
            actual_sha256=self._hash.hexdigest(),
            expected_size=self.expected.size,
            actual_size=self.size,
        )

    def commit(self) -> None:
        """Move the verified temp file into place."""
        os.replace(self.temp_path, self.path)

    def discard(self) -> None:
        """Remove the temp file (nothing is left behind)."""
        self._stream.close()
        self.temp_path.unlink(missing_ok=True)


class ResultDownload:
    """The plan for downloading one job result into ``dest_dir``.

    Construction checks every name and every existing file first, so a conflict is
    reported before a single byte is fetched.
    """

    def __init__(self, files: list[ResultFile], dest_dir: Path, *, overwrite: bool) -> None:
        dest_dir.mkdir(parents=True, exist_ok=True)
        self.done: dict[str, DownloadedFile] = {}
        self.todo: list[tuple[ResultFile, Path]] = []
        self._order = [f.name for f in files]
        self._partials: list[PartialDownload] = []
        names = ResultNames()
        for entry in files:
            try:
                names.add(entry.name)  # A.txt and a.txt would overwrite each other on NTFS
            except ValueError as exc:
                raise UnsafeFileNameError(entry.name, str(exc)) from exc
        for entry in files:
            path = destination(dest_dir, entry.name)
            if existing_download(path, entry, overwrite=overwrite):
                self.done[entry.name] = DownloadedFile(entry.name, path, entry.size, entry.sha256)
            else:
                self.todo.append((entry, path))

    def start(self, entry: ResultFile, path: Path) -> PartialDownload:
        """Open the temp file for one file of the plan."""
        partial = PartialDownload(entry, path)
        self._partials.append(partial)
        return partial

    def verify(self, partial: PartialDownload) -> None:
        """Close a fully fetched temp file and check it now, before fetching the next one."""
        self.done[partial.expected.name] = partial.finish()

    def commit(self) -> list[DownloadedFile]:
        """Rename every verified temp file into place; the files in result order."""
        for partial in self._partials:
            partial.commit()
        return [self.done[name] for name in self._order]

    def discard(self) -> None:
        """Remove every temp file."""
        for partial in self._partials:
            partial.discard()
