"""Friendly error pages for browsers; everything else keeps its problem+json.

The app's problem handlers stay the one place where errors get their codes: each is
wrapped so that a browser's page request (``Accept: text/html``, outside the machine
routes) gets an HTML page with the same status and code, and anything else goes through
the original handler unchanged.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable
from http import HTTPStatus
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from agnt_api.api.problems import problem_response, request_id_of
from agnt_api.errors import ApiError
from agnt_api.web.sessions import SignInRequired, WebSession, web_session
from agnt_api.web.templating import render
from agnt_models import ErrorCode

log = logging.getLogger(__name__)

Handler = Callable[[Request, Any], Response | Awaitable[Response]]

_MACHINE_PATHS = ("/v1/", "/healthz", "/readyz", "/openapi.json", "/docs", "/redoc", "/static/")
_HTTP_CODES = {
    400: ErrorCode.BAD_REQUEST,
    401: ErrorCode.NOT_AUTHENTICATED,
    403: ErrorCode.FORBIDDEN,
    404: ErrorCode.NOT_FOUND,
    405: ErrorCode.METHOD_NOT_ALLOWED,
    413: ErrorCode.PAYLOAD_TOO_LARGE,
}


def wants_html(request: Request) -> bool:
    """Whether the request is a browser asking for a page (not the API, not a script)."""
    path = request.url.path
    if path == "/v1" or path.startswith(_MACHINE_PATHS):
        return False
    return "text/html" in request.headers.get("accept", "")


async def _session_or_anonymous(request: Request) -> WebSession:
    try:
        return await web_session(request)
    except Exception:
        # The error may be the database itself; the page still renders, signed out.
        return WebSession(principal=None, csrf_nonce="", csrf_token="", new_csrf_nonce=False)


async def error_page(
    request: Request, status: int, code: str, detail: str | None, title: str | None = None
) -> Response:
    """The error page for ``status``, naming the problem ``code`` and the request id."""
    return await render(
        request,
        "error.html",
        {
            "status": status,
            "code": code,
            "title": title or HTTPStatus(status).phrase,
            "detail": detail,
            "request_id": request_id_of(request),
        },
        status_code=status,
        session=await _session_or_anonymous(request),
    )


async def _page_for(request: Request, exc: Exception) -> Response:
    if isinstance(exc, ApiError):
        return await error_page(
            request, exc.code.http_status, exc.code.value, exc.detail, exc.code.problem_title
        )
    if isinstance(exc, RequestValidationError):
        if all(error.get("loc", ("",))[0] == "path" for error in exc.errors()):
            # /jobs/not-a-uuid names no job: to a reader that is a missing page.
            return await error_page(request, 404, ErrorCode.NOT_FOUND.value, None, "Not found")
        return await error_page(
            request,
            422,
            ErrorCode.VALIDATION_ERROR.value,
            "Some of the address's parameters are invalid.",
        )
    if isinstance(exc, StarletteHTTPException):
        code = _HTTP_CODES.get(exc.status_code, ErrorCode.BAD_REQUEST)
        return await error_page(request, exc.status_code, code.value, None)
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return await error_page(
        request,
        500,
        ErrorCode.INTERNAL_ERROR.value,
        "Something went wrong on our side. Quote the request id when reporting it.",
    )


def _pages_for_browsers(api_handler: Handler) -> Handler:
    async def handler(request: Request, exc: Exception) -> Response:
        if wants_html(request):
            return await _page_for(request, exc)
        answer = api_handler(request, exc)
        return await answer if inspect.isawaitable(answer) else answer

    return handler


async def _sign_in_first(request: Request, exc: Exception) -> Response:
    if not wants_html(request):
        return problem_response(
            ErrorCode.NOT_AUTHENTICATED,
            "sign in on /signin first",
            request_id=request_id_of(request),
        )
    target = "/signin"
    if request.method == "GET" and request.url.path != "/":
        here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        target += "?next=" + quote(here, safe="")
    return RedirectResponse(target, status_code=303)


def install_error_pages(app: FastAPI) -> None:
    """Give browsers HTML error pages; call after the problem handlers are installed."""
    for error_class in (ApiError, RequestValidationError, StarletteHTTPException, Exception):
        api_handler = app.exception_handlers.get(error_class)
        if api_handler is not None:
            app.exception_handlers[error_class] = _pages_for_browsers(api_handler)
    app.exception_handlers[SignInRequired] = _sign_in_first
