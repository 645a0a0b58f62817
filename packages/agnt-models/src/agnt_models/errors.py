"""The error shape (RFC 9457 problem+json) and the stable error codes."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

PROBLEM_CONTENT_TYPE = "application/problem+json"


class ErrorCode(StrEnum):
    """Stable, machine-readable error codes; each has one HTTP status."""

    BAD_REQUEST = "bad_request"
    INVALID_CURSOR = "invalid_cursor"
    NOT_AUTHENTICATED = "not_authenticated"
    INVALID_API_KEY = "invalid_api_key"
    FORBIDDEN = "forbidden"
    CSRF_FAILED = "csrf_failed"
    NOT_FOUND = "not_found"
    AGENT_NOT_FOUND = "agent_not_found"
    JOB_NOT_FOUND = "job_not_found"
    FILE_NOT_FOUND = "file_not_found"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    INVALID_TRANSITION = "invalid_transition"
    JOB_NOT_COMPLETED = "job_not_completed"
    IDEMPOTENCY_CONFLICT = "idempotency_conflict"
    AGENT_OWNED_BY_OTHER = "agent_owned_by_other"
    PAYLOAD_TOO_LARGE = "payload_too_large"
    UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type"
    RANGE_NOT_SATISFIABLE = "range_not_satisfiable"
    VALIDATION_ERROR = "validation_error"
    RATE_LIMITED = "rate_limited"
    INTERNAL_ERROR = "internal_error"
    SERVICE_UNAVAILABLE = "service_unavailable"
    ORDER_REFUSED = "order_refused"
    AGENT_UNPUBLISHED = "agent_unpublished"
    STALE_ATTEMPT = "stale_attempt"
    INPUT_FILE_NOT_FOUND = "input_file_not_found"
    INPUT_FILE_IN_USE = "input_file_in_use"
    INPUT_TOO_LARGE = "input_too_large"
    TOO_MANY_INPUT_FILES = "too_many_input_files"
    INPUT_FILES_NOT_ACCEPTED = "input_files_not_accepted"

    @property
    def http_status(self) -> int:
        """The HTTP status that always goes with this code."""
        return _HTTP_STATUS[self]

    @property
    def problem_title(self) -> str:
        """A short human title for the problem document."""
        return _TITLES[self]


_HTTP_STATUS: dict[ErrorCode, int] = {
    ErrorCode.BAD_REQUEST: 400,
    ErrorCode.INVALID_CURSOR: 400,
    ErrorCode.NOT_AUTHENTICATED: 401,
    ErrorCode.INVALID_API_KEY: 401,
    ErrorCode.FORBIDDEN: 403,
    ErrorCode.CSRF_FAILED: 403,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.AGENT_NOT_FOUND: 404,
    ErrorCode.JOB_NOT_FOUND: 404,
    ErrorCode.FILE_NOT_FOUND: 404,
    ErrorCode.METHOD_NOT_ALLOWED: 405,
    ErrorCode.INVALID_TRANSITION: 409,
    ErrorCode.JOB_NOT_COMPLETED: 409,
    ErrorCode.IDEMPOTENCY_CONFLICT: 409,
    ErrorCode.AGENT_OWNED_BY_OTHER: 409,
    ErrorCode.PAYLOAD_TOO_LARGE: 413,
    ErrorCode.UNSUPPORTED_MEDIA_TYPE: 415,
    ErrorCode.RANGE_NOT_SATISFIABLE: 416,
    ErrorCode.VALIDATION_ERROR: 422,
    ErrorCode.RATE_LIMITED: 429,
    ErrorCode.INTERNAL_ERROR: 500,
    ErrorCode.SERVICE_UNAVAILABLE: 503,
    ErrorCode.ORDER_REFUSED: 422,
    ErrorCode.AGENT_UNPUBLISHED: 409,
    ErrorCode.STALE_ATTEMPT: 409,
    ErrorCode.INPUT_FILE_NOT_FOUND: 404,
    ErrorCode.INPUT_FILE_IN_USE: 409,
    ErrorCode.INPUT_TOO_LARGE: 413,
    ErrorCode.TOO_MANY_INPUT_FILES: 413,
    ErrorCode.INPUT_FILES_NOT_ACCEPTED: 422,
}

_TITLES: dict[ErrorCode, str] = {
    ErrorCode.BAD_REQUEST: "Bad request",
    ErrorCode.INVALID_CURSOR: "Invalid pagination cursor",
    ErrorCode.NOT_AUTHENTICATED: "Authentication required",
    ErrorCode.INVALID_API_KEY: "Invalid API key",
    ErrorCode.FORBIDDEN: "Forbidden",
    ErrorCode.CSRF_FAILED: "CSRF check failed",
    ErrorCode.NOT_FOUND: "Not found",
    ErrorCode.AGENT_NOT_FOUND: "Agent not found",
    ErrorCode.JOB_NOT_FOUND: "Job not found",
    ErrorCode.FILE_NOT_FOUND: "File not found",
    ErrorCode.METHOD_NOT_ALLOWED: "Method not allowed",
    ErrorCode.INVALID_TRANSITION: "Invalid status transition",
    ErrorCode.JOB_NOT_COMPLETED: "Job not completed",
    ErrorCode.IDEMPOTENCY_CONFLICT: "Idempotency key reused with a different request",
    ErrorCode.AGENT_OWNED_BY_OTHER: "Agent id taken by another owner",
    ErrorCode.PAYLOAD_TOO_LARGE: "Payload too large",
    ErrorCode.UNSUPPORTED_MEDIA_TYPE: "Unsupported media type",
    ErrorCode.RANGE_NOT_SATISFIABLE: "Range not satisfiable",
    ErrorCode.VALIDATION_ERROR: "Validation error",
    ErrorCode.RATE_LIMITED: "Too many requests",
    ErrorCode.INTERNAL_ERROR: "Internal error",
    ErrorCode.SERVICE_UNAVAILABLE: "Service unavailable",
    ErrorCode.ORDER_REFUSED: "The agent's accept rules refuse this order",
    ErrorCode.AGENT_UNPUBLISHED: "Agent unpublished",
    ErrorCode.STALE_ATTEMPT: "Report for an earlier attempt of the job",
    ErrorCode.INPUT_FILE_NOT_FOUND: "Input file not found",
    ErrorCode.INPUT_FILE_IN_USE: "Input file in use by a job",
    ErrorCode.INPUT_TOO_LARGE: "Input file too large",
    ErrorCode.TOO_MANY_INPUT_FILES: "Too many input files",
    ErrorCode.INPUT_FILES_NOT_ACCEPTED: "Input files not accepted by the agent",
}


class FieldError(BaseModel):
    """One invalid field: where it is (dotted path) and what is wrong with it."""

    model_config = ConfigDict(extra="forbid")

    loc: str = Field(description="Dotted path of the field, e.g. 'params.count'.")
    message: str


class Problem(BaseModel):
    """An RFC 9457 problem document, with agnt's stable ``code``."""

    model_config = ConfigDict(extra="allow")

    type: str = "about:blank"
    title: str
    status: int = Field(ge=100, le=599)
    detail: str | None = None
    code: ErrorCode | str
    instance: str | None = None
    request_id: str | None = None
    errors: list[FieldError] | None = None

    @classmethod
    def of(
        cls,
        code: ErrorCode,
        detail: str | None = None,
        *,
        errors: list[FieldError] | None = None,
        request_id: str | None = None,
    ) -> Problem:
        """Build the problem document for ``code``."""
        return cls(
            type=f"https://agnt.dev/problems/{code.value.replace('_', '-')}",
            title=code.problem_title,
            status=code.http_status,
            detail=detail,
            code=code,
            errors=errors,
            request_id=request_id,
        )
