"""Every error the agnt client raises, rooted at one ``AgntError``.

The tree::

    AgntError                          anything agnt_client raises on purpose
    ├── APIConnectionError             the API could not be reached, or the connection broke
    │   └── APITimeoutError            connect, read, write or pool timeout
    ├── APIStatusError                 the API answered 4xx/5xx (.status_code, .code, .detail,
    │   │                              .request_id, .problem, .response)
    │   ├── BadRequestError            400  e.g. invalid_cursor
    │   ├── AuthenticationError        401  not_authenticated, invalid_api_key
    │   ├── PermissionDeniedError      403  forbidden
    │   ├── NotFoundError              404  job_not_found, agent_not_found, file_not_found
    │   ├── ConflictError              409  invalid_transition, job_not_completed,
    │   │                                   idempotency_conflict, agent_owned_by_other
    │   ├── PayloadTooLargeError       413  payload_too_large
    │   ├── UnprocessableEntityError   422  validation_error (.errors names the bad fields)
    │   ├── RateLimitError             429  rate_limited
    │   └── InternalServerError        5xx  internal_error, service_unavailable, gateway errors
    ├── APIKeyFormatError              the API key has a space, control or non-ASCII character
    ├── HeaderValueError               an extra header's value cannot be sent over HTTP
    ├── APIResponseValidationError     a 2xx body that is not the documented shape
    ├── WaitTimeoutError               wait_for_job ran out of time (.job is the last seen)
    ├── JobFailedError                 run() saw the job fail, be rejected or canceled (.job)
    ├── ChecksumMismatchError          a downloaded file's sha256 or size is not the promised one
    ├── FileConflictError              a different file already exists where a download goes
    └── UnsafeFileNameError            the API named a result file unsafely (path, drive, device)

Other status codes (405, 408, 415, 416, ...) raise ``APIStatusError`` itself.
Each ``APIStatusError`` carries the problem ``code`` (an ``agnt_models.ErrorCode`` value,
or ``None`` when the body was not problem+json, e.g. a proxy's 502 page).
"""

from __future__ import annotations

from pathlib import Path

import httpx
from pydantic import ValidationError

from agnt_models import FieldError, Job, Problem


class AgntError(Exception):
    """Root of every error the agnt client raises."""


class APIConnectionError(AgntError):
    """The request did not get an answer: refused, reset, DNS, TLS or a broken body."""

    def __init__(self, message: str, *, request: httpx.Request | None = None) -> None:
        super().__init__(message)
        self.request = request


class APITimeoutError(APIConnectionError):
    """The request timed out (connect, read, write or waiting for a pooled connection)."""


class APIStatusError(AgntError):
    """The API answered with an error status; ``code`` is the stable machine code."""

    def __init__(self, response: httpx.Response, problem: Problem | None) -> None:
        self.response = response
        self.problem = problem
        self.status_code = response.status_code
        self.code: str | None = str(problem.code) if problem is not None else None
        self.detail: str | None = problem.detail if problem is not None else None
        self.request_id: str | None = (
            problem.request_id if problem is not None and problem.request_id else None
        ) or response.headers.get("x-request-id")
        self.errors: list[FieldError] = list(problem.errors or []) if problem is not None else []
        super().__init__(self._message())

    def _message(self) -> str:
        title = self.problem.title if self.problem is not None else self.response.reason_phrase
        text = f"{self.status_code} {self.code or title}"
        if self.detail:
            text += f": {self.detail}"
        for field in self.errors:
            text += f"; {field.loc}: {field.message}"
        if self.request_id:
            text += f" (request id {self.request_id})"
        return text


class BadRequestError(APIStatusError):
    """400: the request was malformed (e.g. ``invalid_cursor``)."""


class AuthenticationError(APIStatusError):
    """401: no API key, or one the API does not know (``invalid_api_key``)."""


class PermissionDeniedError(APIStatusError):
    """403: the key's role may not do this (``forbidden``)."""


class NotFoundError(APIStatusError):
    """404: no such job, agent or file visible to this key."""


class ConflictError(APIStatusError):
    """409: the request conflicts with the current state (e.g. ``invalid_transition``)."""


class PayloadTooLargeError(APIStatusError):
    """413: the body (prompt or uploaded files) is larger than the API accepts."""


class UnprocessableEntityError(APIStatusError):
    """422: a field is invalid; ``errors`` lists each bad field and why."""


class RateLimitError(APIStatusError):
    """429: too many requests; the client already retried as ``Retry-After`` allowed."""


class InternalServerError(APIStatusError):
    """5xx: the API or a gateway in front of it failed."""


class APIKeyFormatError(AgntError):
    """The API key cannot be sent: a space, control or non-ASCII character inside it.

    Surrounding whitespace is stripped before this check; the message never shows the key.
    """

    def __init__(self, source: str = "the API key") -> None:
        super().__init__(
            f"{source} is not a valid API key: it contains a space, a control character or a "
            "non-ASCII character (an agnt key is printable ASCII without spaces); "
            "check how it was copied"
        )
        self.source = source


class HeaderValueError(AgntError):
    """An extra header's value has a character HTTP cannot carry (the value is not shown)."""

    def __init__(self, name: str) -> None:
        super().__init__(
            f"header {name!r} has a value HTTP cannot carry (a line break, a control "
            "character or a non-ASCII character)"
        )
        self.name = name


class APIResponseValidationError(AgntError):
    """A successful response whose body is not JSON of the documented model."""

    def __init__(self, response: httpx.Response, error: ValueError) -> None:
        super().__init__(
            f"{response.request.method} {response.request.url.path} answered "
            f"{response.status_code} with an unexpected body: {error}"
        )
        self.response = response
        self.error = error


class WaitTimeoutError(AgntError):
    """``wait_for_job`` gave up before the job reached a terminal status; ``job`` is the last seen."""

    def __init__(self, job: Job, timeout: float) -> None:
        super().__init__(
            f"job {job.id} is still {job.status.value} ({job.progress}%) after {timeout:g} s"
        )
        self.job = job
        self.timeout = timeout


class JobFailedError(AgntError):
    """``run`` saw the job end failed, rejected or canceled; ``job`` is its final state."""

    def __init__(self, job: Job) -> None:
        reason = f": {job.decision_reason}" if job.decision_reason else ""
        super().__init__(f"job {job.id} {job.status.value}{reason}")
        self.job = job


class ChecksumMismatchError(AgntError):
    """A downloaded file is not the one the API promised; nothing was written."""

    def __init__(
        self,
        name: str,
        *,
        expected_sha256: str,
        actual_sha256: str,
        expected_size: int,
        actual_size: int,
    ) -> None:
        super().__init__(
            f"downloaded {name!r} does not match its result entry: "
            f"sha256 {actual_sha256} size {actual_size}, "
            f"expected sha256 {expected_sha256} size {expected_size}"
        )
        self.name = name
        self.expected_sha256 = expected_sha256
        self.actual_sha256 = actual_sha256
        self.expected_size = expected_size
        self.actual_size = actual_size


class FileConflictError(AgntError):
    """A different file already exists at a download's destination (pass ``overwrite=True``)."""

    def __init__(self, path: Path) -> None:
        super().__init__(f"{path} already exists with other content; pass overwrite=True")
        self.path = path


class UnsafeFileNameError(AgntError):
    """A result file name is not a plain, portable file name (path, drive, device, clash)."""

    def __init__(self, name: str, reason: str | None = None) -> None:
        because = f" ({reason})" if reason else ""
        super().__init__(f"refusing to write result file with unsafe name {name!r}{because}")
        self.name = name
        self.reason = reason


_STATUS_ERRORS: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    413: PayloadTooLargeError,
    422: UnprocessableEntityError,
    429: RateLimitError,
}


def problem_of(response: httpx.Response) -> Problem | None:
    """The response's problem document, or ``None`` when the body is not one."""
    try:
        return Problem.model_validate_json(response.content)
    except ValidationError:
        return None


def status_error_for(response: httpx.Response) -> APIStatusError:
    """The ``APIStatusError`` subclass for an error response (its body must be read)."""
    status = response.status_code
    error_type = _STATUS_ERRORS.get(status)
    if error_type is None:
        error_type = InternalServerError if status >= 500 else APIStatusError
    return error_type(response, problem_of(response))


def connection_error_for(exc: httpx.TransportError) -> APIConnectionError:
    """The client error for a transport failure (timeouts become ``APITimeoutError``).

    Its message names the method and the URL without its query (a presigned download URL
    carries a signature there) and never quotes a header (see ``transport_error_text``).
    """
    request = request_of(exc)
    where = (
        f"{request.method} {request.url.copy_with(query=None)}"
        if request is not None
        else "request"
    )
    if isinstance(exc, httpx.TimeoutException):
        return APITimeoutError(f"{where} timed out: {transport_error_text(exc)}", request=request)
    return APIConnectionError(f"{where} failed: {transport_error_text(exc)}", request=request)


def transport_error_text(exc: httpx.TransportError) -> str:
    """``exc`` described for a message or a log line, never quoting a header value.

    h11 words a refused header as ``Illegal header value b'Bearer <the key>'``, so a local
    protocol error (a request we could not send) is described by its type alone.
    """
    if isinstance(exc, httpx.LocalProtocolError):
        return (
            "LocalProtocolError (the request could not be sent: a header or the URL has a "
            "character HTTP cannot carry)"
        )
    return repr(exc)


def request_of(exc: httpx.TransportError) -> httpx.Request | None:
    """The request a transport error happened to, when httpx attached one."""
    # httpx raises RuntimeError from .request when the error was built without one.
    try:
        return exc.request
    except RuntimeError:
        return None
