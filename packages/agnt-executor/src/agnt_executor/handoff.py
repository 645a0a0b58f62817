"""``agnt-handoff JOB_ID --manifest M``: run one job end to end, for cron or a batch system.

It accepts (or, by the agent's policy, rejects) that one job, runs its handler, uploads the
result and exits with a code telling the outcome; stdout gets one JSON line
``{"job_id": ..., "outcome": ..., "exit_code": ...}``, logs go to stderr as JSON lines.

Exit codes:

== =====================================================================
0  completed
1  the API could not be reached or refused the key
2  bad usage or an invalid manifest
3  rejected by the agent's accept policy (the reason is on the job)
4  failed (the handler failed, or SIGTERM stopped it: ``executor_shutdown``)
5  no such job visible to this executor key
6  not claimable: not pending, taken by another executor, or its agent is
   not in the manifest
7  called off while running: the buyer canceled it or its lease was lost
== =====================================================================
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
from collections.abc import Sequence
from enum import IntEnum
from functools import partial
from pathlib import Path
from uuid import UUID

from agnt_client import (
    AgntError,
    AsyncClient,
    ConflictError,
    NotFoundError,
    PermissionDeniedError,
)
from agnt_executor.cli import add_api_options, make_client
from agnt_executor.job_run import JobOutcome, JobRun
from agnt_executor.logs import configure_logging, log_error, log_event
from agnt_executor.manifest import LoadedManifest, ManifestError, load_manifest
from agnt_executor.retry import call_with_retries
from agnt_models import MAX_PAGE_LIMIT, Job, JobStatus

FIND_RETRY_SECONDS = 30.0


class HandoffExit(IntEnum):
    """``agnt-handoff`` exit codes, one per outcome."""

    COMPLETED = 0
    API_ERROR = 1
    USAGE = 2
    REJECTED = 3
    FAILED = 4
    NOT_FOUND = 5
    NOT_CLAIMABLE = 6
    CALLED_OFF = 7


_OUTCOME_EXIT = {
    JobOutcome.COMPLETED: HandoffExit.COMPLETED,
    JobOutcome.REJECTED: HandoffExit.REJECTED,
    JobOutcome.FAILED: HandoffExit.FAILED,
    JobOutcome.SHUTDOWN: HandoffExit.FAILED,
    JobOutcome.GONE: HandoffExit.CALLED_OFF,
}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="agnt-handoff", description="Claim one agnt job and run it end to end."
    )
    parser.add_argument("job_id", type=UUID, help="the pending job's id")
    parser.add_argument("--manifest", type=Path, required=True, help="the agents' manifest")
    add_api_options(parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``agnt-handoff``; returns the exit code."""
    args = _parser().parse_args(argv)
    configure_logging()
    try:
        loaded = load_manifest(args.manifest)
        client = make_client(args)
    except (ManifestError, AgntError) as exc:
        log_error("usage_error", error=str(exc))
        return _finish(args.job_id, "usage_error", HandoffExit.USAGE)
    return asyncio.run(_handoff(client, loaded, args.job_id))


async def _handoff(client: AsyncClient, loaded: LoadedManifest, job_id: UUID) -> int:
    async with client:
        try:
            job, claimed = await _locate(client, loaded, job_id)
        except _NotClaimable as exc:
            log_error("job_not_claimable", job_id=str(job_id), reason=str(exc))
            return _finish(job_id, "not_claimable", HandoffExit.NOT_CLAIMABLE)
        except AgntError as exc:
            log_error("api_error", job_id=str(job_id), error=str(exc))
            return _finish(job_id, "api_error", HandoffExit.API_ERROR)
        if job is None:
            log_error("job_not_found", job_id=str(job_id))
            return _finish(job_id, "not_found", HandoffExit.NOT_FOUND)
        served = loaded.agents.get(job.agent_id)
        if served is None or not (claimed or job.status is JobStatus.PENDING):
            why = (
                f"job is {job.status.value}, not pending"
                if served is not None
                else f"agent '{job.agent_id}' is not in the manifest"
            )
            log_error("job_not_claimable", job_id=str(job_id), reason=why)
            if claimed:
                await _report_unserved(client, job_id, why)
            return _finish(job_id, "not_claimable", HandoffExit.NOT_CLAIMABLE)
        run = JobRun(client, served, job, loaded.settings)
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, run.stop_for_shutdown)
        try:
            outcome = await (run.adopt_accepted() if claimed else run.decide())
            if outcome is None:
                outcome = await run.execute()
        except AgntError as exc:
            log_error("api_error", job_id=str(job_id), error=str(exc))
            return _finish(job_id, "api_error", HandoffExit.API_ERROR)
    if outcome is JobOutcome.GONE and not run.accepted:
        return _finish(job_id, "not_claimable", HandoffExit.NOT_CLAIMABLE)
    return _finish(job_id, outcome.value, _OUTCOME_EXIT[outcome])


class _NotClaimable(Exception):
    """The job exists but is not pending (the API answered 409 to accepting it)."""


async def _locate(
    client: AsyncClient, loaded: LoadedManifest, job_id: UUID
) -> tuple[Job | None, bool]:
    """The job as this executor sees it, or None; True when locating it already accepted it.

    Executors may not read ``GET /v1/jobs/{id}`` (buyers' route), so the job is looked for
    among the pending jobs of the manifest's agents. A job not found there is not pending,
    unless a page was full; accepting is valid only from pending, so accepting it is a
    probe that changes nothing: 404 means no such job, 409 means not claimable.
    """
    try:
        job = await call_with_retries(
            lambda: client.get_job(job_id), what="get_job", retry_for=FIND_RETRY_SECONDS
        )
        return job, False
    except NotFoundError:
        return None, False
    except PermissionDeniedError:
        pass
    for agent_id in loaded.agents:
        pending = await call_with_retries(
            partial(client.claim_jobs, agent_id, limit=MAX_PAGE_LIMIT),
            what="claim_jobs",
            retry_for=FIND_RETRY_SECONDS,
        )
        for job in pending:
            if job.id == job_id:
                return job, False
    try:
        job = await call_with_retries(
            lambda: client.report_status(job_id, JobStatus.ACCEPTED),
            what="report_accepted",
            retry_for=FIND_RETRY_SECONDS,
        )
    except NotFoundError:
        return None, False
    except ConflictError as exc:
        raise _NotClaimable(exc.detail or str(exc)) from exc
    return job, True


async def _report_unserved(client: AsyncClient, job_id: UUID, why: str) -> None:
    """A job claimed by the probe that this manifest cannot serve: fail it, saying why."""
    try:
        await client.report_status(job_id, JobStatus.FAILED, reason=why)
    except AgntError as exc:
        log_error("failure_not_reported", job_id=str(job_id), error=str(exc))


def _finish(job_id: UUID, outcome: str, code: HandoffExit) -> int:
    log_event("handoff_finished", job_id=str(job_id), outcome=outcome, exit_code=int(code))
    sys.stdout.write(
        json.dumps({"job_id": str(job_id), "outcome": outcome, "exit_code": int(code)}) + "\n"
    )
    sys.stdout.flush()
    return int(code)
