"""What goes wrong in an ``agnt`` call, as one JSON error object and one exit code.

Every failure becomes a ``CliError``: the command's own checks raise it directly, and
``error_from_exception`` translates what the client library, typer or the OS raised.
"""

from __future__ import annotations

import sys
from typing import Any

from agnt_cli.exit_codes import ExitCode

_EXIT_BY_STATUS: dict[int, ExitCode] = {
    400: ExitCode.USAGE,
    401: ExitCode.AUTH,
    403: ExitCode.AUTH,
    404: ExitCode.NOT_FOUND,
    409: ExitCode.CONFLICT,
    413: ExitCode.USAGE,
    422: ExitCode.USAGE,
}


class CliError(Exception):
    """A failed call: a stable ``code``, a human ``message`` and the process exit code.

    ``status`` is the API's HTTP status when the API refused the request, else ``None``.
    ``document`` is printed on stdout before the error (e.g. the job's last state when a
    ``--wait`` ends badly), so stdout still carries the outcome.
    """

    def __init__(
        self,
        code: str,
        message: str,
        exit_code: ExitCode,
        *,
        status: int | None = None,
        request_id: str | None = None,
        field_errors: list[dict[str, str]] | None = None,
        document: Any = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.exit_code = exit_code
        self.status = status
        self.request_id = request_id
        self.field_errors = field_errors
        self.document = document

    def to_document(self) -> dict[str, Any]:
        """The ``{"error": {...}}`` object written on stderr."""
        error: dict[str, Any] = {"code": self.code, "message": self.message, "status": self.status}
        if self.request_id is not None:
            error["request_id"] = self.request_id
        if self.field_errors:
            error["errors"] = self.field_errors
        return {"error": error}


def usage_error(message: str, code: str = "usage_error") -> CliError:
    """A usage error (exit 2): the command line itself is wrong."""
    return CliError(code, message, ExitCode.USAGE)


def interrupted() -> CliError:
    """The error for Ctrl-C (exit 130)."""
    return CliError("interrupted", "interrupted", ExitCode.INTERRUPTED)


def error_from_exception(exc: BaseException) -> CliError:
    """Translate any exception that ended a command into the ``CliError`` to report."""
    if isinstance(exc, CliError):
        return exc
    if isinstance(exc, KeyboardInterrupt):
        return interrupted()
    # Only look at the client's errors when the client was imported at all: keeps a
    # usage error as fast as --help.
    if "agnt_client" in sys.modules:
        translated = _client_error(exc)
        if translated is not None:
            return translated
    if isinstance(exc, OSError):
        return CliError("os_error", str(exc), ExitCode.GENERAL)
    return CliError("internal_error", f"{type(exc).__name__}: {exc}", ExitCode.GENERAL)


def _client_error(exc: BaseException) -> CliError | None:
    from agnt_client import errors

    if isinstance(exc, errors.APIStatusError):
        status = exc.status_code
        exit_code = _EXIT_BY_STATUS.get(status, ExitCode.GENERAL)
        problem = exc.problem
        message = exc.detail or (problem.title if problem is not None else None) or str(exc)
        return CliError(
            exc.code or f"http_{status}",
            message,
            exit_code,
            status=status,
            request_id=exc.request_id,
            field_errors=[{"loc": f.loc, "message": f.message} for f in exc.errors] or None,
        )
    if isinstance(exc, errors.APITimeoutError):
        return CliError("request_timeout", str(exc), ExitCode.TIMEOUT)
    if isinstance(exc, errors.APIConnectionError):
        return CliError("connection_error", str(exc), ExitCode.NETWORK)
    if isinstance(exc, errors.FileConflictError):
        return CliError(
            "file_conflict",
            f"{exc.path} already exists with other content; pass --overwrite to replace it",
            ExitCode.CONFLICT,
        )
    if isinstance(exc, errors.ChecksumMismatchError):
        return CliError("checksum_mismatch", str(exc), ExitCode.GENERAL)
    if isinstance(exc, errors.UnsafeFileNameError):
        return CliError("unsafe_file_name", str(exc), ExitCode.GENERAL)
    if isinstance(exc, errors.APIResponseValidationError):
        return CliError("unexpected_response", str(exc), ExitCode.GENERAL)
    if isinstance(exc, errors.AgntError):
        return CliError("client_error", str(exc), ExitCode.GENERAL)
    return None
