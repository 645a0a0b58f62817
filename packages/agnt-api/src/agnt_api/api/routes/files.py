"""Downloading a result file from the API itself: Range, ETag, Content-Length."""

from __future__ import annotations

import re
import uuid
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Header, Path, Response
from fastapi.responses import StreamingResponse

from agnt_api.api.deps import Buyer, RuntimeDep
from agnt_api.errors import RangeNotSatisfiable
from agnt_api.services import results

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])

_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


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
        length = int(last)
        if length == 0:
            raise RangeNotSatisfiable("an empty suffix range selects no bytes")
        return max(size - length, 0), size - 1
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    if start >= size or (last and int(last) < start):
        raise RangeNotSatisfiable(
            f"the file has {size} bytes", headers={"Content-Range": f"bytes */{size}"}
        )
    return start, end


def _disposition(name: str) -> str:
    ascii_name = name.encode("ascii", "replace").decode().replace('"', "_").replace("?", "_")
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name, safe='')}"


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
        "ETag": etag,
        "Accept-Ranges": "bytes",
        "Content-Disposition": _disposition(stored.name),
        "Cache-Control": "private, max-age=0, must-revalidate",
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
