"""The one place where errors become RFC 9457 problem+json responses.

Domain errors (``agnt_api.errors``), request validation, unknown routes, wrong methods,
oversized bodies and unexpected failures all answer with the same shape and a stable
``code``; bad input never answers 500.
"""

from __future__ import annotations

import logging
import traceback
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError, DBAPIError, OperationalError, StatementError
from starlette.exceptions import HTTPException as StarletteHTTPException

from agnt_api.errors import ApiError
from agnt_api.storage.base import StorageError
from agnt_models import PROBLEM_CONTENT_TYPE, ErrorCode, FieldError, Problem

log = logging.getLogger(__name__)

_STATUS_CODES = {
    400: ErrorCode.BAD_REQUEST,
    401: ErrorCode.NOT_AUTHENTICATED,
    403: ErrorCode.FORBIDDEN,
    404: ErrorCode.NOT_FOUND,
    405: ErrorCode.METHOD_NOT_ALLOWED,
    413: ErrorCode.PAYLOAD_TOO_LARGE,
    415: ErrorCode.UNSUPPORTED_MEDIA_TYPE,
    416: ErrorCode.RANGE_NOT_SATISFIABLE,
    422: ErrorCode.VALIDATION_ERROR,
    429: ErrorCode.RATE_LIMITED,
    503: ErrorCode.SERVICE_UNAVAILABLE,
}


class BodyTooLarge(StarletteHTTPException):
    """Raised while a body streams in past its limit.

    An HTTP exception so that FastAPI's body parsing lets it through unchanged.
    """

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the request body is larger than {limit} bytes")


_DESCRIPTIONS = {
    400: "Malformed request (bad JSON, invalid cursor).",
    401: "Missing, unknown or revoked API key.",
    403: "The key's role may not do this.",
    404: "No such resource (or not yours).",
    409: "Conflict: invalid transition, idempotency key reuse, agent id taken, not completed.",
    413: "Body too large.",
    415: "Wrong content type.",
    416: "Range outside the file.",
    422: "Invalid field; `errors` names each.",
    429: "Over a rate limit; retry after `Retry-After` seconds.",
    503: "Database or storage unavailable; retry.",
}

API_ERROR_STATUSES = (400, 401, 403, 404, 409, 413, 422, 503)


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` documenting problem+json answers for ``statuses``."""
    return {
        status: {
            "model": Problem,
            "description": _DESCRIPTIONS[status],
            "content": {PROBLEM_CONTENT_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
        for status in statuses
    }


def request_id_of(request: Request) -> str | None:
    """The request's id (set by ``RequestContextMiddleware``)."""
    value = request.scope.get("state", {}).get("request_id")
    return value if isinstance(value, str) else None


def problem_response(
    code: ErrorCode,
    detail: str | None,
    *,
    request_id: str | None,
    errors: list[FieldError] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    """A problem+json response for ``code``."""
    problem = Problem.of(code, detail, errors=errors, request_id=request_id)
    all_headers = dict(headers or {})
    if request_id:
        all_headers["X-Request-ID"] = request_id
    return JSONResponse(
        problem.model_dump(mode="json", exclude_none=True),
        status_code=problem.status,
        headers=all_headers,
        media_type=PROBLEM_CONTENT_TYPE,
    )


def _loc(parts: tuple[Any, ...] | list[Any]) -> str:
    items = [str(p) for p in parts]
    if items and items[0] == "body":
        items = items[1:]
    return ".".join(items) or "body"


async def _api_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return problem_response(
        exc.code,
        exc.detail,
        request_id=request_id_of(request),
        errors=exc.errors,
        headers=exc.headers,
    )


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    failures = list(exc.errors())
    malformed = [f for f in failures if f.get("type") == "json_invalid"]
    if malformed:
        reason = malformed[0].get("ctx", {}).get("error", "invalid JSON")
        return problem_response(
            ErrorCode.BAD_REQUEST,
            f"the request body is not valid JSON: {reason}",
            request_id=request_id_of(request),
        )
    errors = [FieldError(loc=_loc(f.get("loc", ())), message=str(f.get("msg"))) for f in failures]
    detail = "; ".join(f"{e.loc}: {e.message}" for e in errors[:5])
    return problem_response(
        ErrorCode.VALIDATION_ERROR, detail, request_id=request_id_of(request), errors=errors
    )


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = _STATUS_CODES.get(exc.status_code, ErrorCode.BAD_REQUEST)
    detail = exc.detail if isinstance(exc.detail, str) else None
    if code is ErrorCode.NOT_FOUND and detail == "Not Found":
        detail = f"no such route: {request.method} {request.url.path}"
    elif code is ErrorCode.METHOD_NOT_ALLOWED and detail == "Method Not Allowed":
        detail = f"{request.method} is not allowed on {request.url.path}"
    return problem_response(
        code, detail, request_id=request_id_of(request), headers=dict(exc.headers or {})
    )


def describe_database_error(exc: BaseException) -> str:
    """A log-safe summary of a database error: its class, SQLSTATE, and for connection
    trouble the driver's first line.

    Never the error's full text: Postgres's DETAIL and CONTEXT lines quote the data of the
    statement (a failing row, a JSON document: prompts and params), whatever
    ``hide_parameters`` hides.
    """
    orig = exc.orig if isinstance(exc, DBAPIError) else None
    parts = [type(orig or exc).__name__]
    postgres_state = getattr(orig, "sqlstate", None)
    sqlite_name = getattr(orig, "sqlite_errorname", None)
    if postgres_state:
        parts.append(f"SQLSTATE {postgres_state}")
    elif sqlite_name:
        parts.append(str(sqlite_name))
    if isinstance(exc, OperationalError) and orig is not None:
        parts.append(str(orig).split("\n", 1)[0][:200])
    return ": ".join(parts)


def _log_safe(exc: BaseException) -> str:
    if isinstance(exc, StatementError):
        return describe_database_error(exc)
    return f"{type(exc).__name__}: {exc}"


async def _dependency_down(request: Request, exc: Exception) -> JSONResponse:
    log.error("dependency failure on %s %s: %s", request.method, request.url.path, _log_safe(exc))
    return problem_response(
        ErrorCode.SERVICE_UNAVAILABLE,
        "the database or the file storage is unavailable; retry shortly",
        request_id=request_id_of(request),
        headers={"Retry-After": "2"},
    )


async def _unstorable_value(request: Request, exc: Exception) -> JSONResponse:
    log.warning(
        "database refused a value on %s %s: %s",
        request.method,
        request.url.path,
        describe_database_error(exc),
    )
    return problem_response(
        ErrorCode.BAD_REQUEST,
        "the request holds a value the database cannot store",
        request_id=request_id_of(request),
    )


async def _unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return problem_response(
        ErrorCode.INTERNAL_ERROR,
        "an unexpected error occurred; quote the request id when reporting it",
        request_id=request_id_of(request),
    )


async def _database_error(request: Request, exc: Exception) -> JSONResponse:
    # Handled here, not by the catch-all: Starlette re-raises what reaches the catch-all and
    # uvicorn then logs the error's full text, data included.
    stack = "".join(traceback.format_tb(exc.__traceback__))
    log.error(
        "database error on %s %s: %s\n%s",
        request.method,
        request.url.path,
        describe_database_error(exc),
        stack,
    )
    return problem_response(
        ErrorCode.INTERNAL_ERROR,
        "an unexpected error occurred; quote the request id when reporting it",
        request_id=request_id_of(request),
    )


def install_problem_handlers(app: FastAPI) -> None:
    """Route every error of ``app`` through problem+json."""
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    # Connection trouble is the service's, not the caller's: 503, which clients retry.
    app.add_exception_handler(OperationalError, _dependency_down)
    # A value the database refuses (out of range, bad encoding) came from the request.
    app.add_exception_handler(DataError, _unstorable_value)
    app.add_exception_handler(StatementError, _database_error)
    app.add_exception_handler(StorageError, _dependency_down)
    app.add_exception_handler(Exception, _unexpected_error)
