"""Streaming multipart/form-data: each file part is handed on as it arrives.

python-multipart's push parser is fed the request stream chunk by chunk; its callbacks
queue events that ``iter_file_uploads`` turns into ``ResultUpload``s whose ``chunks``
pull more of the request only as storage consumes them. Memory holds one network chunk,
never a file.
"""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import Request

from agnt_api.errors import BadRequest, UnsupportedMediaType, ValidationFailed
from agnt_api.services.results import ResultUpload
from agnt_models import FieldError

FILES_FIELD = "files"
MAX_HEADER_BYTES = 16 * 1024

_BEGIN, _HEADER, _HEADERS_DONE, _DATA, _END = range(5)


class _Events:
    """The parser's callbacks, recorded in order."""

    def __init__(self) -> None:
        self.queue: deque[tuple[int, bytes, bytes]] = deque()
        self._field = bytearray()
        self._value = bytearray()

    def on_part_begin(self) -> None:
        self.queue.append((_BEGIN, b"", b""))

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._field += data[start:end]
        self._check()

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._value += data[start:end]
        self._check()

    def on_header_end(self) -> None:
        self.queue.append((_HEADER, bytes(self._field).lower(), bytes(self._value)))
        self._field.clear()
        self._value.clear()

    def on_headers_finished(self) -> None:
        self.queue.append((_HEADERS_DONE, b"", b""))

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        self.queue.append((_DATA, data[start:end], b""))

    def on_part_end(self) -> None:
        self.queue.append((_END, b"", b""))

    def _check(self) -> None:
        if len(self._field) + len(self._value) > MAX_HEADER_BYTES:
            raise BadRequest("a multipart part header is too large")


def _boundary(request: Request) -> bytes:
    content_type, options = parse_options_header(request.headers.get("content-type", ""))
    if content_type != b"multipart/form-data":
        raise UnsupportedMediaType("send the result files as multipart/form-data")
    boundary = options.get(b"boundary")
    if not boundary:
        raise BadRequest("the multipart/form-data content type has no boundary")
    return boundary


class _Reader:
    """Pulls request chunks into the parser until an event is queued."""

    def __init__(self, request: Request, boundary: bytes) -> None:
        self.events = _Events()
        self._stream = request.stream().__aiter__()
        self._done = False
        self._parser = MultipartParser(
            boundary,
            callbacks={
                "on_part_begin": self.events.on_part_begin,
                "on_header_field": self.events.on_header_field,
                "on_header_value": self.events.on_header_value,
                "on_header_end": self.events.on_header_end,
                "on_headers_finished": self.events.on_headers_finished,
                "on_part_data": self.events.on_part_data,
                "on_part_end": self.events.on_part_end,
            },
        )

    async def next_event(self) -> tuple[int, bytes, bytes] | None:
        while not self.events.queue:
            if self._done:
                return None
            try:
                chunk = await self._stream.__anext__()
            except StopAsyncIteration:
                self._done = True
                self._parser.finalize()
                continue
            try:
                self._parser.write(chunk)
            except MultipartParseError as exc:
                raise BadRequest(f"malformed multipart body: {exc}") from exc
        return self.events.queue.popleft()


def _disposition(headers: dict[bytes, bytes]) -> tuple[str, str | None]:
    _, options = parse_options_header(headers.get(b"content-disposition", b""))
    name = options.get(b"name", b"").decode("utf-8", "replace")
    filename = options.get(b"filename")
    if filename is None:
        return name, None
    try:
        return name, filename.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValidationFailed(
            "a result file name is not valid UTF-8",
            errors=[FieldError(loc="files", message="file name is not UTF-8")],
        ) from exc


async def iter_file_uploads(request: Request) -> AsyncIterator[ResultUpload]:
    """Each file part named ``files`` of the request, streamed; other fields are skipped."""
    reader = _Reader(request, _boundary(request))
    while True:
        event = await reader.next_event()
        if event is None:
            return
        if event[0] != _BEGIN:
            continue
        headers: dict[bytes, bytes] = {}
        while (event := await reader.next_event()) is not None and event[0] != _HEADERS_DONE:
            if event[0] == _HEADER:
                headers[event[1]] = event[2]
        name, filename = _disposition(headers)
        body = _part_body(reader)
        if name == FILES_FIELD and filename is not None:
            content_type = headers.get(b"content-type")
            yield ResultUpload(
                filename=filename,
                content_type=None if content_type is None else content_type.decode("latin-1"),
                chunks=body,
            )
        async for _ in body:  # drain whatever the consumer did not read
            pass


async def _part_body(reader: _Reader) -> AsyncIterator[bytes]:
    while (event := await reader.next_event()) is not None:
        if event[0] == _END:
            return
        if event[0] == _DATA and event[1]:
            yield event[1]
    raise BadRequest("the multipart body ended inside a part")


@dataclass
class FormPart:
    """One part of a multipart/form-data body as it streams in: its field, file name
    (``None`` for a plain field), declared type, and bytes."""

    field: str
    filename: str | None
    content_type: str | None
    chunks: AsyncIterator[bytes]


async def iter_form_parts(request: Request) -> AsyncIterator[FormPart]:
    """Every part of the request in order, streamed; what a consumer leaves unread is skipped."""
    reader = _Reader(request, _boundary(request))
    while True:
        event = await reader.next_event()
        if event is None:
            return
        if event[0] != _BEGIN:
            continue
        headers: dict[bytes, bytes] = {}
        while (event := await reader.next_event()) is not None and event[0] != _HEADERS_DONE:
            if event[0] == _HEADER:
                headers[event[1]] = event[2]
        field, filename = _disposition(headers)
        body = _part_body(reader)
        content_type = headers.get(b"content-type")
        yield FormPart(
            field=field,
            filename=filename,
            content_type=None if content_type is None else content_type.decode("latin-1"),
            chunks=body,
        )
        async for _ in body:  # drain whatever the consumer did not read
            pass
