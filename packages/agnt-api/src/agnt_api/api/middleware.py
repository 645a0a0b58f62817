"""ASGI middleware: a request id and ``nosniff`` on every response, and body size limits.

A body whose ``Content-Length`` is over the limit is refused before it is read; a body
streamed without one is cut off with 413 as soon as it passes the limit.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from agnt_api.api.problems import BodyTooLarge, problem_response
from agnt_models import ErrorCode

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def _has_nameless_parameter(query: bytes) -> bool:
    return any(pair.startswith(b"=") for pair in query.split(b"&"))


class RequestContextMiddleware:
    """Give each request an id (``X-Request-ID``, honoured when sane) and bound its body.

    Every response also says ``X-Content-Type-Options: nosniff``: a browser never
    reinterprets a JSON answer or a file as HTML or script.
    """

    def __init__(self, app: ASGIApp, *, body_limit: Callable[[str, str], int]) -> None:
        self.app = app
        self.body_limit = body_limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one ASGI call."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        incoming = headers.get("x-request-id", "")
        request_id = incoming if _REQUEST_ID.match(incoming) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                response_headers = MutableHeaders(scope=message)
                response_headers["X-Request-ID"] = request_id
                response_headers["X-Content-Type-Options"] = "nosniff"
            await send(message)

        if _has_nameless_parameter(scope.get("query_string", b"")):
            response = problem_response(
                ErrorCode.BAD_REQUEST,
                "the query string has a parameter without a name",
                request_id=request_id,
            )
            await response(scope, receive, send_with_id)
            return

        limit = self.body_limit(scope["path"], headers.get("content-type", ""))
        declared = headers.get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            code = ErrorCode.PAYLOAD_TOO_LARGE if declared.isdigit() else ErrorCode.BAD_REQUEST
            response = problem_response(
                code,
                f"the request body is larger than {limit} bytes"
                if declared.isdigit()
                else "invalid Content-Length",
                request_id=request_id,
            )
            await response(scope, receive, send_with_id)
            return

        received = 0

        async def bounded_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        await self.app(scope, bounded_receive, send_with_id)
