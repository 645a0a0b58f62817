"""Reading and checking what a command is given: job ids, statuses, prompt and params files."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

from agnt_cli.errors import usage_error

if TYPE_CHECKING:
    from agnt_client import InputSource
    from agnt_models import JobStatus

STDIN = "-"


def check_job_id(value: str) -> str:
    """``value`` as a canonical job id (a UUID), else a usage error."""
    import uuid

    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise usage_error(f"{value!r} is not a job id (a UUID)", "invalid_job_id") from None


def check_wait_timeout(wait: bool, timeout: float | None) -> None:
    """A usage error when ``--timeout`` is given without ``--wait``."""
    if timeout is not None and not wait:
        raise usage_error("--timeout applies only with --wait", "conflicting_options")


def parse_job_status(value: str | None) -> JobStatus | None:
    """``value`` as a ``JobStatus`` (``None`` stays ``None``), else a usage error listing them."""
    from agnt_models import JobStatus

    if value is None:
        return None
    try:
        return JobStatus(value)
    except ValueError:
        known = ", ".join(s.value for s in JobStatus)
        raise usage_error(
            f"--status {value!r}: expected one of {known}", "invalid_status"
        ) from None


def complete_job_status(incomplete: str) -> list[str]:
    """Shell completion for ``--status``."""
    from agnt_models import JobStatus

    return [s.value for s in JobStatus if s.value.startswith(incomplete)]


def read_text_input(source: str, option: str) -> str:
    """The text of file ``source`` (``-`` is stdin), for ``option``; a usage error if unreadable."""
    if source == STDIN:
        return sys.stdin.read()
    try:
        return Path(source).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        code = f"invalid_{option.removeprefix('--').replace('-', '_')}"
        raise usage_error(f"{option} {source}: {exc}", code) from exc


STDIN_FILE_NAME = "stdin"
"""The input file name of ``--file -``."""


def input_files(paths: list[str], *, stdin_taken: bool) -> list[InputSource]:
    """``--file`` values as upload sources: each path checked now (a usage error, exit 2,
    ``invalid_file``, before anything is sent), ``-`` as stdin's bytes."""
    sources: list[InputSource] = []
    for value in paths:
        if value == STDIN:
            if stdin_taken or any(isinstance(s, tuple) for s in sources):
                raise usage_error("only one option can read stdin", "conflicting_options")
            sources.append((STDIN_FILE_NAME, sys.stdin.buffer))
            continue
        path = Path(value)
        if not path.is_file():
            raise usage_error(f"--file {value}: no such file", "invalid_file")
        sources.append(path)
    return sources
