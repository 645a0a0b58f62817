"""Following a job until it ends (``--wait``), with an optional deadline (``--timeout``)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from agnt_cli.errors import CliError
from agnt_cli.exit_codes import ExitCode
from agnt_cli.progress import job_progress

if TYPE_CHECKING:
    from agnt_client import Client
    from agnt_models import Job


def follow_job(client: Client, job_id: str, *, timeout: float | None) -> Job:
    """Long-poll ``job_id`` until it reaches a terminal status and return that state.

    Each update redraws the progress bar (on a terminal). When ``timeout`` seconds pass
    first, raises a timeout error (exit 7) carrying the last state seen. This loop rather
    than ``Client.wait_for_job``: the bar needs every intermediate state.
    """
    from agnt_models import MAX_WAIT_SECONDS, TERMINAL

    deadline = None if timeout is None else time.monotonic() + timeout
    job = client.get_job(job_id)
    with job_progress(job) as show:
        while job.status not in TERMINAL:
            wait = MAX_WAIT_SECONDS
            if deadline is not None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise CliError(
                        "wait_timeout",
                        f"job {job.id} is still {job.status.value} ({job.progress}%) "
                        f"after {timeout:g} s",
                        ExitCode.TIMEOUT,
                        document=job.to_json_dict(),
                    )
                wait = min(wait, max(remaining, 0.1))
            job = client.get_job(job_id, wait=wait)
            show(job)
    return job


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
