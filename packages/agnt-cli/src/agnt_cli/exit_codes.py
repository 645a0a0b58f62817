"""The exit codes of ``agnt``: one per class of outcome, so a script can branch on them.

Under ``--wait`` the job's last known state is on stdout whatever the code (7, 8, and also
1, 6 or 130 once the job exists), and ``agnt order --wait`` writes ``{"created": id}`` on
stderr first: a script never has to order again to learn what it ordered.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """How an ``agnt`` call ended; the process exit status."""

    OK = 0
    GENERAL = 1
    USAGE = 2
    NOT_FOUND = 3
    AUTH = 4
    CONFLICT = 5
    NETWORK = 6
    TIMEOUT = 7
    JOB_UNSUCCESSFUL = 8
    INTERRUPTED = 130


EXIT_CODE_MEANINGS: dict[ExitCode, str] = {
    ExitCode.OK: "success",
    ExitCode.GENERAL: "general error (server error 5xx, rate limited, bad config file, I/O)",
    ExitCode.USAGE: "usage: bad flag or argument, malformed --param, input refused (400/413/422)",
    ExitCode.NOT_FOUND: "not found: no such agent or job for this key (404); also `events`/"
    "`logs` against an API without the events endpoint",
    ExitCode.AUTH: "authentication: missing or invalid API key, or role not allowed (401/403)",
    ExitCode.CONFLICT: "conflict or not ready: 409 (result before completion, cancel of an "
    "ended job), or a different local file in the way of a download",
    ExitCode.NETWORK: "network: the API could not be reached",
    ExitCode.TIMEOUT: "timeout: --timeout ran out under --wait, or a request timed out",
    ExitCode.JOB_UNSUCCESSFUL: "under --wait, the job ended failed, rejected or canceled",
    ExitCode.INTERRUPTED: "interrupted (Ctrl-C)",
}


def exit_code_table() -> str:
    """The exit codes as aligned plain-text lines, for ``agnt --help``."""
    return "\n".join(f"  {code.value:>3}  {text}" for code, text in EXIT_CODE_MEANINGS.items())
