"""Masking secrets: every copy of a secret value becomes ``***`` before the buyer sees it.

A manifest's ``secrets`` (and the executor's own API key) are replaced in result files, result
file names and failure reasons. Files are masked streaming, chunk by chunk, so a result of
any size costs a bounded amount of memory; a value that spans two chunks is still found.

Masking catches literal copies, which is what leaks by accident (``env``, a debug dump, an
error message quoting a header). It cannot catch a value that a hostile handler transformed
first (base64, reversed): keeping secrets away from handlers that do not need them is the
defence for that, masking is the second line.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import AnyStr, BinaryIO

MASK = "***"
"""What a secret value becomes in text and file contents."""

NAME_MASK = "masked"
"""What a secret value becomes in a result file name (``*`` is not portable in names)."""

CHUNK_BYTES = 1 << 20


class SecretMasker:
    """Replaces every occurrence of a set of secret values.

    A multi-line value is also masked line by line, so a tool that prints a PEM key wrapped
    differently still loses each line. Where occurrences overlap, the whole covered span
    becomes one ``***``.
    """

    def __init__(self, values: Iterable[str | None]) -> None:
        """``values``: the secrets; ``None``, empty and whitespace-only values are ignored."""
        texts: set[str] = set()
        for value in values:
            if not value or not value.strip():
                continue
            texts.add(value)
            texts.add(value.strip())
            texts.update(line.strip() for line in value.splitlines() if line.strip())
        self._texts = tuple(sorted(texts, key=len, reverse=True))
        self._bytes = tuple(t.encode("utf-8") for t in self._texts)
        self._longest = max((len(b) for b in self._bytes), default=0)

    def __bool__(self) -> bool:
        """Whether there is anything to mask."""
        return bool(self._texts)

    def mask_text(self, text: str, mask: str = MASK) -> str:
        """``text`` with every secret value replaced by ``mask``."""
        if not self._texts:
            return text
        spans = _merged(_occurrences(text, self._texts, len(text)))
        return _replace(text, spans, mask, continued=False)

    def mask_name(self, name: str) -> str:
        """A result file name with every secret value replaced by ``masked``."""
        return self.mask_text(name, NAME_MASK)

    def file_has_secret(self, path: Path, *, chunk_bytes: int = CHUNK_BYTES) -> bool:
        """Whether ``path`` contains a secret value (read ``chunk_bytes`` at a time)."""
        if not self._bytes:
            return False
        overlap = self._longest - 1
        with path.open("rb") as source:
            tail = b""
            while chunk := source.read(chunk_bytes):
                window = tail + chunk
                if any(secret in window for secret in self._bytes):
                    return True
                tail = window[-overlap:] if overlap else b""
        return False

    def mask_file(self, path: Path) -> bool:
        """Mask ``path`` in place (temp file + rename); False when it held no secret.

        A file without secrets is only read, never rewritten.
        """
        if not self.file_has_secret(path):
            return False
        fd, temp_name = tempfile.mkstemp(prefix=".masking-", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as sink, path.open("rb") as source:
                self.mask_stream(source, sink)
            os.replace(temp_name, path)
        except BaseException:
            Path(temp_name).unlink(missing_ok=True)
            raise
        return True

    def mask_results(self, files: list[tuple[str, Path]]) -> list[tuple[str, Path]]:
        """Mask every result file's contents and name; the (name, path) list to upload."""
        if not self._bytes:
            return files
        masked: list[tuple[str, Path]] = []
        for name, path in files:
            self.mask_file(path)
            masked.append((self.mask_name(name), path))
        return masked

    def mask_stream(
        self, source: BinaryIO, sink: BinaryIO, *, chunk_bytes: int = CHUNK_BYTES
    ) -> None:
        """Copy ``source`` to ``sink`` with every secret masked, ``chunk_bytes`` at a time."""
        # Each round writes the buffer up to ``limit``: an occurrence starting before it ends
        # inside the buffer (it is at most ``longest`` bytes long), so it was found whole.
        # The rest is carried into the next round; ``covered`` is how much of the carry a
        # masked span already took (its ``***`` written), so no span is masked twice and an
        # occurrence overlapping it is still joined to it.
        mask = MASK.encode()
        carry = b""
        covered = 0
        continued = False  # the last byte written was inside a masked span
        while True:
            chunk = source.read(chunk_bytes)
            buffer = carry + chunk
            limit = len(buffer) if not chunk else max(0, len(buffer) - (self._longest - 1))
            if limit == 0 and chunk:
                carry = buffer
                continue
            spans = _occurrences(buffer, self._bytes, limit)
            if covered:
                spans.append((0, covered))
            merged = [(start, end) for start, end in _merged(spans) if start < limit]
            reach = merged[-1][1] if merged else 0
            clipped = [(start, min(end, limit)) for start, end in merged]
            sink.write(_replace(buffer[:limit], clipped, mask, continued=continued))
            carry = buffer[limit:]
            covered = max(reach - limit, 0)
            continued = reach >= limit
            if not chunk:
                return


def _occurrences(
    haystack: AnyStr, needles: tuple[AnyStr, ...], limit: int
) -> list[tuple[int, int]]:
    """Every (start, end) of every needle in ``haystack`` that starts before ``limit``."""
    spans: list[tuple[int, int]] = []
    for needle in needles:
        start = haystack.find(needle)
        while 0 <= start < limit:
            spans.append((start, start + len(needle)))
            start = haystack.find(needle, start + 1)
    return spans


def _merged(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Overlapping or touching spans joined, in order."""
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def _replace(
    text: AnyStr, spans: list[tuple[int, int]], mask: AnyStr, *, continued: bool
) -> AnyStr:
    """``text`` with each span replaced by ``mask`` (none for a span at 0 when ``continued``)."""
    parts: list[AnyStr] = []
    position = 0
    for start, end in spans:
        parts.append(text[position:start])
        if not (continued and start == 0):
            parts.append(mask)
        position = end
    parts.append(text[position:])
    return text[:0].join(parts)
