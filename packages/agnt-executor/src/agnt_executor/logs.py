"""Structured logs: one JSON object per line on stderr, one line per event.

Operators feed these to a log shipper; every line has ``ts``, ``level`` and ``event``,
plus the ids of what the event is about (``job_id``, ``agent_id``). The executor's key is
masked (``***``) in every line, tracebacks included, whatever an exception's text carried.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

from agnt_executor.masking import SecretMasker

LOGGER_NAME = "agnt_executor"

_logger = logging.getLogger(LOGGER_NAME)
_secrets: list[str] = []
_masker = SecretMasker([])


def mask_in_logs(value: str | None) -> None:
    """Mask ``value`` (the executor's key) in every log line from now on."""
    global _masker
    if not value:
        return
    # A line is JSON: the value may appear escaped (a quote or a backslash in it).
    _secrets.extend([value, json.dumps(value, ensure_ascii=False)[1:-1]])
    _masker = SecretMasker(_secrets)


class JsonLineFormatter(logging.Formatter):
    """Formats a record as one JSON line: ``ts``, ``level``, ``event`` and the event's fields."""

    def format(self, record: logging.LogRecord) -> str:
        """Render ``record`` (its message is the event name; fields ride in ``extra``)."""
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "event": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            line.update(fields)
        if record.exc_info:
            line["traceback"] = self.formatException(record.exc_info)
        return _masker.mask_text(json.dumps(line, default=str, ensure_ascii=False))


class _StderrJsonHandler(logging.StreamHandler[TextIO]):
    """The one handler this package installs."""


class _ClientRetries(logging.Handler):
    """The client's retry lines (it owns the retry policy) as this log's ``api_retry`` events."""

    def emit(self, record: logging.LogRecord) -> None:
        log_event("api_retry", level=logging.WARNING, detail=record.getMessage())


def configure_logging(level: int = logging.INFO) -> None:
    """Send this package's events to stderr as JSON lines (idempotent)."""
    _logger.setLevel(level)
    _logger.propagate = False
    if not any(isinstance(h, _StderrJsonHandler) for h in _logger.handlers):
        handler = _StderrJsonHandler(sys.stderr)
        handler.setFormatter(JsonLineFormatter())
        _logger.addHandler(handler)
    client_logger = logging.getLogger("agnt_client")
    if not any(isinstance(h, _ClientRetries) for h in client_logger.handlers):
        client_logger.setLevel(logging.INFO)
        client_logger.propagate = False
        client_logger.addHandler(_ClientRetries())


def log_event(event: str, *, level: int = logging.INFO, **fields: Any) -> None:
    """Log one event with its fields, e.g. ``log_event("job_accepted", job_id=...)``."""
    _logger.log(level, event, extra={"fields": fields})


def log_warning(event: str, **fields: Any) -> None:
    """Log one event at warning level."""
    log_event(event, level=logging.WARNING, **fields)


def log_error(event: str, **fields: Any) -> None:
    """Log one event at error level."""
    log_event(event, level=logging.ERROR, **fields)
