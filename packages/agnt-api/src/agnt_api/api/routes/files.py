"""Downloading a result file from the API itself: Range, ETag, Content-Length.

The bytes are the executor's, served from the web pages' origin: every answer is an
attachment that the browser may neither sniff into HTML nor run as a document
(``nosniff``, ``Content-Security-Policy: sandbox``), whatever type the executor declared.
"""

from __future__ import annotations

import re
import uuid
from typing import Annotated

from fastapi import APIRouter, Header, Path, Response
from fastapi.responses import StreamingResponse

from agnt_api.api.deps import Buyer, RuntimeDep
from agnt_api.errors import RangeNotSatisfiable
from agnt_api.services import results
from agnt_models import content_disposition

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])

_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
_MAX_POSITION_DIGITS = 18
"""A byte position longer than this is past any file (and int() refuses > 4,300 digits)."""

DOWNLOAD_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "sandbox",
    "Cache-Control": "private, max-age=0, must-revalidate",
}
"""Sent with every result file the API serves (the /v1 route and the web pages')."""


def _position(digits: str) -> int:
    """A byte position of a Range header; a huge one stands for "past any file"."""
    digits = digits.lstrip("0") or "0"
    return int(digits) if len(digits) <= _MAX_POSITION_DIGITS else 10**_MAX_POSITION_DIGITS


def parse_range(header: str, size: int) -> tuple[int, int] | None:
    """``(start, end)`` inclusive for a single ``bytes=`` range; ``None`` to send it all.

    Multiple ranges and other units are ignored (the whole file is sent, as RFC 9110
    allows); a range entirely outside the file is ``RangeNotSatisfiable``.
    """
    match = _RANGE.match(header.strip())
    if match is None:
        return None
    first, last = match.groups()
    if not first and not last:
        return None
    if not first:
        length = _position(last)
        if length == 0:
            raise RangeNotSatisfiable("an empty suffix range selects no bytes")
        return max(size - length, 0), size - 1
    start = _position(first)
    end = min(_position(last), size - 1) if last else size - 1
    if start >= size or (last and _position(last) < start):
        raise RangeNotSatisfiable(
            f"the file has {size} bytes", headers={"Content-Range": f"bytes */{size}"}
        )
    return start, end


@router.get(
    "/{job_id}/files/{name}",
    response_class=StreamingResponse,
    responses={
        200: {"content": {"application/octet-stream": {}}, "description": "The file's bytes."},
        206: {"description": "The requested byte range."},
        304: {"description": "Unchanged (If-None-Match)."},
    },
)
async def download_file(
    rt: RuntimeDep,
    caller: Buyer,
    job_id: uuid.UUID,
    name: Annotated[str, Path(max_length=255)],
    range_header: Annotated[str | None, Header(alias="Range")] = None,
    if_none_match: Annotated[str | None, Header(alias="If-None-Match")] = None,
    if_range: Annotated[str | None, Header(alias="If-Range")] = None,
) -> Response:
    """Stream one result file of the caller's completed job."""
    stored = await results.result_file(rt, caller, job_id, name)
    etag = f'"{stored.sha256}"'
    headers = {
        **DOWNLOAD_HEADERS,
        "ETag": etag,
        "Accept-Ranges": "bytes",
        "Content-Disposition": content_disposition(stored.name),
    }
    if if_none_match is not None and etag in {t.strip() for t in if_none_match.split(",")}:
        return Response(status_code=304, headers=headers)
    span = None
    if range_header is not None and (if_range is None or if_range.strip() == etag):
        span = parse_range(range_header, stored.size)
    if span is None:
        headers["Content-Length"] = str(stored.size)
        return StreamingResponse(
            rt.storage.read(stored.key), headers=headers, media_type=stored.mime
        )
    start, end = span
    headers["Content-Length"] = str(end - start + 1)
    headers["Content-Range"] = f"bytes {start}-{end}/{stored.size}"
    return StreamingResponse(
        rt.storage.read(stored.key, start=start, end=end),
        status_code=206,
        headers=headers,
        media_type=stored.mime,
    )
