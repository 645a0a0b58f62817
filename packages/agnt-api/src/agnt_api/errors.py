"""The API's domain errors: each carries its stable ``ErrorCode`` (and so its HTTP status).

Services raise these; ``agnt_api.api.problems`` turns every one into problem+json.
"""

from __future__ import annotations

from agnt_models import ErrorCode, FieldError


class ApiError(Exception):
    """Base of every error the API answers with a problem document."""

    code: ErrorCode = ErrorCode.BAD_REQUEST

    def __init__(
        self,
        detail: str | None = None,
        *,
        errors: list[FieldError] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail or self.code.problem_title)
        self.detail = detail
        self.errors = errors
        self.headers = headers or {}


class BadRequest(ApiError):
    """The request is malformed (e.g. a body that is not JSON)."""

    code = ErrorCode.BAD_REQUEST


class InvalidCursor(ApiError):
    """A pagination cursor that this API did not hand out (or for another query)."""

    code = ErrorCode.INVALID_CURSOR


class NotAuthenticated(ApiError):
    """No bearer key was sent."""

    code = ErrorCode.NOT_AUTHENTICATED


class InvalidApiKey(ApiError):
    """The bearer key is unknown or revoked."""

    code = ErrorCode.INVALID_API_KEY


class Forbidden(ApiError):
    """The caller's role may not do this."""

    code = ErrorCode.FORBIDDEN


class AgentNotFound(ApiError):
    """No agent with that id."""

    code = ErrorCode.AGENT_NOT_FOUND


class JobNotFound(ApiError):
    """No job with that id that the caller may see."""

    code = ErrorCode.JOB_NOT_FOUND


class FileNotFound(ApiError):
    """The completed job has no result file of that name."""

    code = ErrorCode.FILE_NOT_FOUND


class InvalidTransition(ApiError):
    """The job's status does not allow the requested move (someone else moved it first)."""

    code = ErrorCode.INVALID_TRANSITION


class JobNotCompleted(ApiError):
    """The job has no result yet."""

    code = ErrorCode.JOB_NOT_COMPLETED


class IdempotencyConflict(ApiError):
    """The Idempotency-Key was used before with a different request body."""

    code = ErrorCode.IDEMPOTENCY_CONFLICT


class AgentOwnedByOther(ApiError):
    """The agent id is taken by another executor."""

    code = ErrorCode.AGENT_OWNED_BY_OTHER


class PayloadTooLarge(ApiError):
    """The request body is larger than the service accepts."""

    code = ErrorCode.PAYLOAD_TOO_LARGE


class UnsupportedMediaType(ApiError):
    """The body's content type is not the one the endpoint takes."""

    code = ErrorCode.UNSUPPORTED_MEDIA_TYPE


class RangeNotSatisfiable(ApiError):
    """The Range header asks for bytes outside the file."""

    code = ErrorCode.RANGE_NOT_SATISFIABLE


class ValidationFailed(ApiError):
    """One or more fields are invalid; ``errors`` names each by its dotted path."""

    code = ErrorCode.VALIDATION_ERROR


class ServiceUnavailable(ApiError):
    """A dependency (database, storage) is unreachable."""

    code = ErrorCode.SERVICE_UNAVAILABLE


class OrderRefused(ApiError):
    """The agent's published accept rules refuse the order; the detail is the executor's reason."""

    code = ErrorCode.ORDER_REFUSED


class AgentUnpublished(ApiError):
    """The agent was unpublished by its owner: it takes no orders until published again."""

    code = ErrorCode.AGENT_UNPUBLISHED


class StaleAttempt(ApiError):
    """A report names an earlier attempt of the job: that run lost it (lease, release)."""

    code = ErrorCode.STALE_ATTEMPT


class InputFileNotFound(ApiError):
    """No input file with that id that the caller owns (or the job has no input of that name)."""

    code = ErrorCode.INPUT_FILE_NOT_FOUND


class InputFileInUse(ApiError):
    """The input file belongs to a job now; it lives as long as the job."""

    code = ErrorCode.INPUT_FILE_IN_USE


class InputTooLarge(ApiError):
    """An input file, or an order's inputs together, exceed ``AGNT_MAX_INPUT_BYTES``."""

    code = ErrorCode.INPUT_TOO_LARGE


class TooManyInputFiles(ApiError):
    """An order carries more than ``AGNT_MAX_INPUT_FILES`` input files."""

    code = ErrorCode.TOO_MANY_INPUT_FILES


class InputFilesNotAccepted(ApiError):
    """The order's input files break the agent's ``input_files`` rule (count, media types)."""

    code = ErrorCode.INPUT_FILES_NOT_ACCEPTED
