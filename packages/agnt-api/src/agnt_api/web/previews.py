"""Inline previews of result files on the job page: text, Markdown, JSON, CSV, images.

A preview reads at most ``PREVIEW_BYTES`` of a file (larger files say so and offer the
download); text must decode as UTF-8. Markdown goes through the safe renderer (no raw
HTML), JSON is re-indented, CSV becomes a table of at most ``MAX_CSV_ROWS`` rows, and an
image is shown from the page's own download route (the CSP allows only this site).
"""

from __future__ import annotations

import csv
import io
import json
import uuid
from dataclasses import dataclass, field

from markupsafe import Markup

from agnt_api.auth import Principal
from agnt_api.runtime import Runtime
from agnt_api.services import results
from agnt_api.web.display import pretty_json
from agnt_api.web.markdown import render_markdown
from agnt_models import ResultFile

PREVIEW_BYTES = 64 * 1024
MAX_PREVIEWS = 10
MAX_CSV_ROWS = 50
MAX_CSV_COLUMNS = 20
MAX_IMAGE_BYTES = 5 * 1024 * 1024
_IMAGE_TYPES = {"image/png", "image/jpeg", "image/gif", "image/webp"}


@dataclass(frozen=True)
class Preview:
    """How one result file shows on the page: ``kind`` and what that kind needs."""

    kind: str  # "text", "markdown", "json", "csv", "image", "too_large" or "none"
    text: str = ""
    html: Markup = Markup("")
    rows: list[list[str]] = field(default_factory=list)
    more_rows: bool = False


def _kind_of(file: ResultFile) -> str:
    name = file.name.lower()
    mime = file.mime.split(";")[0].strip().lower()
    if mime in _IMAGE_TYPES:
        return "image"
    if name.endswith((".md", ".markdown")) or mime == "text/markdown":
        return "markdown"
    if name.endswith(".json") or mime == "application/json":
        return "json"
    if name.endswith(".csv") or mime == "text/csv":
        return "csv"
    if mime.startswith("text/") or name.endswith((".txt", ".log")):
        return "text"
    return "none"


def _csv_rows(text: str) -> tuple[list[list[str]], bool]:
    reader = csv.reader(io.StringIO(text))
    rows: list[list[str]] = []
    try:
        for row in reader:
            if len(rows) == MAX_CSV_ROWS + 1:
                return rows, True
            rows.append(row[:MAX_CSV_COLUMNS])
    except csv.Error:
        return rows, True
    return rows, False


def _preview_of(kind: str, raw: bytes) -> Preview:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return Preview("none")
    if kind == "markdown":
        return Preview("markdown", html=render_markdown(text))
    if kind == "json":
        try:
            return Preview("json", text=pretty_json(json.loads(text)))
        except ValueError:
            return Preview("text", text=text)
    if kind == "csv":
        rows, more = _csv_rows(text)
        return Preview("csv", rows=rows, more_rows=more) if rows else Preview("text", text=text)
    return Preview("text", text=text)


async def _read(rt: Runtime, key: str, size: int) -> bytes:
    chunks = [chunk async for chunk in rt.storage.read(key, start=0, end=size - 1)]
    return b"".join(chunks)


async def previews_of(
    rt: Runtime, principal: Principal, job_id: uuid.UUID, files: list[ResultFile]
) -> dict[str, Preview]:
    """A preview for each of the first ``MAX_PREVIEWS`` files, by name."""
    shown: dict[str, Preview] = {}
    for file in files[:MAX_PREVIEWS]:
        kind = _kind_of(file)
        if kind == "none":
            continue
        if kind == "image":
            shown[file.name] = Preview("image" if file.size <= MAX_IMAGE_BYTES else "too_large")
            continue
        if file.size > PREVIEW_BYTES:
            shown[file.name] = Preview("too_large")
            continue
        if file.size == 0:
            shown[file.name] = Preview("text", text="")
            continue
        stored = await results.result_file(rt, principal, job_id, file.name)
        shown[file.name] = _preview_of(kind, await _read(rt, stored.key, stored.size))
    return shown
