"""Following a job until it ends (``--wait``), with an optional deadline (``--timeout``).

The following itself is the client's ``wait_for_job`` (the job's event stream, resumed
after a network error; long-polls on an older API); this module only draws each event and
turns the wait's ends into ``CliError``s.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from agnt_cli.errors import CliError, error_from_exception
from agnt_cli.exit_codes import ExitCode
from agnt_cli.progress import job_progress

if TYPE_CHECKING:
    from agnt_client import Client
    from agnt_models import Job


def follow_job(
    client: Client, job_id: str, *, timeout: float | None, created: Job | None = None
) -> Job:
    """Follow ``job_id`` until it reaches a terminal status and return that state.

    Each event redraws the progress bar and the latest log line (on a terminal). When ``timeout`` seconds pass
    first, raises a timeout error (exit 7) carrying the last state seen. For a job this
    call ``created``, any other failure (the API gone for good, Ctrl-C) keeps its own error
    and exit code but carries the last state seen too, so stdout still names the job.
    """
    from agnt_client import WaitTimeoutError
    from agnt_models import TERMINAL

    last = created
    try:
        if last is None:
            last = client.get_job(job_id)
        if last.status not in TERMINAL:
            with job_progress(last) as show:
                last = client.wait_for_job(job_id, timeout=timeout, on_event=show)
    except WaitTimeoutError as exc:
        raise CliError(
            "wait_timeout", str(exc), ExitCode.TIMEOUT, document=exc.job.to_json_dict()
        ) from exc
    except (Exception, KeyboardInterrupt) as exc:
        if created is None or last is None or isinstance(exc, CliError):
            raise
        error = error_from_exception(exc)
        error.document = last.to_json_dict()
        raise error from exc
    return last


def require_completed(job: Job) -> Job:
    """``job`` when it completed; else an error (exit 8) that still prints the job."""
    from agnt_models import JobStatus

    if job.status is JobStatus.COMPLETED:
        return job
    reason = f": {job.decision_reason}" if job.decision_reason else ""
    raise CliError(
        f"job_{job.status.value}",
        f"job {job.id} ended {job.status.value}{reason}",
        ExitCode.JOB_UNSUCCESSFUL,
        document=job.to_json_dict(),
    )
