"""A2A errors as JSON-RPC error objects (spec 3.3.2, 5.4 and 9.5), and agnt's errors as A2A ones.

Each error carries a ``google.rpc.ErrorInfo`` detail (reason, domain, metadata: agnt's own
problem ``code``, the task id, the first bad field) and, for invalid params, a
``google.rpc.BadRequest`` detail listing every field violation.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pydantic import JsonValue, ValidationError

from agnt_api.errors import ApiError
from agnt_models import ErrorCode
from agnt_models.a2a import JsonRpcError, JsonRpcErrorCode

ERROR_INFO_TYPE = "type.googleapis.com/google.rpc.ErrorInfo"
BAD_REQUEST_TYPE = "type.googleapis.com/google.rpc.BadRequest"
A2A_DOMAIN = "a2a-protocol.org"

_REASONS: dict[JsonRpcErrorCode, tuple[str, str]] = {
    JsonRpcErrorCode.PARSE_ERROR: ("PARSE_ERROR", "Invalid JSON payload"),
    JsonRpcErrorCode.INVALID_REQUEST: ("INVALID_REQUEST", "Request payload validation error"),
    JsonRpcErrorCode.METHOD_NOT_FOUND: ("METHOD_NOT_FOUND", "Method not found"),
    JsonRpcErrorCode.INVALID_PARAMS: ("INVALID_PARAMS", "Invalid parameters"),
    JsonRpcErrorCode.INTERNAL_ERROR: ("INTERNAL_ERROR", "Internal error"),
    JsonRpcErrorCode.TASK_NOT_FOUND: ("TASK_NOT_FOUND", "Task not found"),
    JsonRpcErrorCode.TASK_NOT_CANCELABLE: ("TASK_NOT_CANCELABLE", "Task cannot be canceled"),
    JsonRpcErrorCode.PUSH_NOTIFICATION_NOT_SUPPORTED: (
        "PUSH_NOTIFICATION_NOT_SUPPORTED",
        "Push notifications are not supported",
    ),
    JsonRpcErrorCode.UNSUPPORTED_OPERATION: (
        "UNSUPPORTED_OPERATION",
        "This operation is not supported",
    ),
    JsonRpcErrorCode.CONTENT_TYPE_NOT_SUPPORTED: (
        "CONTENT_TYPE_NOT_SUPPORTED",
        "Incompatible content types",
    ),
    JsonRpcErrorCode.INVALID_AGENT_RESPONSE: ("INVALID_AGENT_RESPONSE", "Invalid agent response"),
    JsonRpcErrorCode.EXTENDED_AGENT_CARD_NOT_CONFIGURED: (
        "EXTENDED_AGENT_CARD_NOT_CONFIGURED",
        "Extended agent card is not configured",
    ),
    JsonRpcErrorCode.EXTENSION_SUPPORT_REQUIRED: (
        "EXTENSION_SUPPORT_REQUIRED",
        "Extension support required",
    ),
    JsonRpcErrorCode.VERSION_NOT_SUPPORTED: ("VERSION_NOT_SUPPORTED", "Version not supported"),
}


@dataclass(frozen=True)
class FieldViolation:
    """One bad field of a request, by its path in the request's params."""

    field: str
    description: str


@dataclass(eq=False)
class A2AError(Exception):
    """An A2A error answer: a JSON-RPC code, a message and its details."""

    code: JsonRpcErrorCode
    detail: str | None = None
    violations: list[FieldViolation] = field(default_factory=list)
    metadata: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        super().__init__(self.message)

    @property
    def message(self) -> str:
        """The human message: the standard one, then what went wrong."""
        standard = _REASONS[self.code][1]
        return f"{standard}: {self.detail}" if self.detail else standard

    @classmethod
    def invalid_params(cls, violations: list[FieldViolation]) -> A2AError:
        """Invalid params (-32602) naming each bad field."""
        detail = "; ".join(f"{v.field}: {v.description}" for v in violations)
        return cls(JsonRpcErrorCode.INVALID_PARAMS, detail, violations)

    @classmethod
    def task_not_found(cls, task_id: str) -> A2AError:
        """TaskNotFoundError (-32001): no such task, or not the caller's."""
        return cls(
            JsonRpcErrorCode.TASK_NOT_FOUND, f"no task {task_id}", metadata={"taskId": task_id}
        )

    def to_jsonrpc(self) -> JsonRpcError:
        """The JSON-RPC error object."""
        metadata = dict(self.metadata)
        if self.violations:
            metadata.setdefault("field", self.violations[0].field)
        info: dict[str, JsonValue] = {
            "@type": ERROR_INFO_TYPE,
            "reason": _REASONS[self.code][0],
            "domain": A2A_DOMAIN,
        }
        if metadata:
            info["metadata"] = dict(metadata)
        data: list[dict[str, JsonValue]] = [info]
        if self.violations:
            data.append(
                {
                    "@type": BAD_REQUEST_TYPE,
                    "fieldViolations": [
                        {"field": v.field, "description": v.description} for v in self.violations
                    ],
                }
            )
        return JsonRpcError(code=int(self.code), message=self.message, data=data)


def field_path(loc: tuple[int | str, ...]) -> str:
    """A pydantic location as a field path: ``("message", "parts", 0)`` is ``message.parts[0]``."""
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else f".{part}" if path else str(part)
    return path


def invalid_params_from(exc: ValidationError, prefix: str = "") -> A2AError:
    """A pydantic validation error of the params as invalid params naming each field."""
    violations = [
        FieldViolation(prefix + field_path(error["loc"]), error["msg"])
        for error in exc.errors(include_url=False)
    ]
    return A2AError.invalid_params(violations or [FieldViolation(prefix or "params", str(exc))])


_API_CODES: dict[ErrorCode, JsonRpcErrorCode] = {
    ErrorCode.JOB_NOT_FOUND: JsonRpcErrorCode.TASK_NOT_FOUND,
    ErrorCode.INVALID_TRANSITION: JsonRpcErrorCode.TASK_NOT_CANCELABLE,
    ErrorCode.VALIDATION_ERROR: JsonRpcErrorCode.INVALID_PARAMS,
    ErrorCode.BAD_REQUEST: JsonRpcErrorCode.INVALID_PARAMS,
    ErrorCode.INVALID_CURSOR: JsonRpcErrorCode.INVALID_PARAMS,
    ErrorCode.IDEMPOTENCY_CONFLICT: JsonRpcErrorCode.INVALID_PARAMS,
    ErrorCode.PAYLOAD_TOO_LARGE: JsonRpcErrorCode.INVALID_PARAMS,
    ErrorCode.AGENT_NOT_FOUND: JsonRpcErrorCode.INVALID_PARAMS,
    ErrorCode.INPUT_FILE_NOT_FOUND: JsonRpcErrorCode.INVALID_PARAMS,
    ErrorCode.INPUT_TOO_LARGE: JsonRpcErrorCode.INVALID_PARAMS,
    ErrorCode.TOO_MANY_INPUT_FILES: JsonRpcErrorCode.INVALID_PARAMS,
    ErrorCode.INPUT_FILES_NOT_ACCEPTED: JsonRpcErrorCode.INVALID_PARAMS,
    # The agent's own accept rules, or its owner, refuse the order: the request's fault.
    ErrorCode.ORDER_REFUSED: JsonRpcErrorCode.INVALID_PARAMS,
    ErrorCode.AGENT_UNPUBLISHED: JsonRpcErrorCode.INVALID_PARAMS,
}


def from_api_error(exc: ApiError, *, params_prefix: str = "") -> A2AError:
    """agnt's domain error as the A2A error that means the same.

    Field errors keep agnt's dotted path (``params.uppercase``) under ``params_prefix``
    (where the params sit in the A2A request); agnt's ``code`` goes into the metadata.
    """
    code = _API_CODES.get(exc.code, JsonRpcErrorCode.INTERNAL_ERROR)
    metadata = {"agntCode": exc.code.value}
    if code is JsonRpcErrorCode.INVALID_PARAMS:
        violations = [
            FieldViolation(params_prefix + error.loc, error.message) for error in exc.errors or []
        ]
        error = A2AError.invalid_params(violations) if violations else None
        if error is None:
            error = A2AError(code, exc.detail or exc.code.problem_title)
        error.metadata.update(metadata)
        return error
    return A2AError(code, exc.detail or exc.code.problem_title, metadata=metadata)
