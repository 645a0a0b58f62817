"""``agnt-handoff JOB_ID --manifest M``: run one job end to end, for cron or a batch system.

It claims that one job (``POST /v1/executor/claims`` naming it), rejects it by the agent's
policy or runs its handler, uploads the result and exits with a code telling the outcome;
stdout gets one JSON line
``{"job_id": ..., "outcome": ..., "exit_code": ...}``, logs go to stderr as JSON lines.

Exit codes:

== =====================================================================
0  completed
1  the API could not be reached or refused the key
2  bad usage or an invalid manifest
3  rejected by the agent's accept policy (the reason is on the job)
4  failed (the handler failed)
5  no such job visible to this executor key
6  not claimable: not pending, taken by another executor, or its agent is
   not in the manifest
7  called off while running: the buyer canceled it, its deadline passed, or
   its lease was lost
8  given back: SIGTERM stopped it (``executor_shutdown``); it is pending
   again for another executor, or failed if that was its last attempt
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
from pathlib import Path
from uuid import UUID

from agnt_client import AgntError, APIStatusError, AsyncClient
from agnt_executor.cli import add_api_options, make_client
from agnt_executor.executor import resilient
from agnt_executor.job_run import JobOutcome, JobRun
from agnt_executor.logs import configure_logging, log_error, log_event
from agnt_executor.manifest import LoadedManifest, ManifestError, load_manifest
from agnt_executor.orphans import accepted_jobs
from agnt_executor.watch import HeldJobsWatch
from agnt_models import MAX_CLAIM, Job


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
    RELEASED = 8


_OUTCOME_EXIT = {
    JobOutcome.COMPLETED: HandoffExit.COMPLETED,
    JobOutcome.REJECTED: HandoffExit.REJECTED,
    JobOutcome.FAILED: HandoffExit.FAILED,
    JobOutcome.RELEASED: HandoffExit.RELEASED,
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
        patient = resilient(client, loaded.settings.retry_seconds)
        try:
            job = await _claim(patient, loaded, job_id)
        except _NotClaimable as exc:
            log_error("job_not_claimable", job_id=str(job_id), reason=str(exc))
            return _finish(job_id, "not_claimable", HandoffExit.NOT_CLAIMABLE)
        except AgntError as exc:
            log_error("api_error", job_id=str(job_id), error=str(exc))
            return _finish(job_id, "api_error", HandoffExit.API_ERROR)
        if job is None:
            log_error("job_not_found", job_id=str(job_id))
            return _finish(job_id, "not_found", HandoffExit.NOT_FOUND)
        run = JobRun(patient, loaded.agents[job.agent_id], job, loaded.settings)
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, run.stop_for_shutdown)
        watch = HeldJobsWatch(patient)
        watch.add(run)
        watcher = asyncio.create_task(watch.run())
        try:
            outcome = await run.decide()
            if outcome is None:
                outcome = await run.execute()
        except AgntError as exc:
            log_error("api_error", job_id=str(job_id), error=str(exc))
            return _finish(job_id, "api_error", HandoffExit.API_ERROR)
        finally:
            watcher.cancel()
            await asyncio.gather(watcher, return_exceptions=True)
    return _finish(job_id, outcome.value, _OUTCOME_EXIT[outcome])


class _NotClaimable(Exception):
    """The job exists but this executor cannot take it (the message says why)."""


async def _claim(client: AsyncClient, loaded: LoadedManifest, job_id: UUID) -> Job | None:
    """The job, claimed (accepted) by this executor; None when it is not visible at all.

    The claim names the job and the manifest's agents. An empty answer is explained by
    watching the job: ``missing`` means no such job for this key; else it is not pending
    (or of an agent the manifest lacks). A claim whose answer was lost may still have
    taken it: then it is among this key's accepted jobs.
    """
    agents = sorted(loaded.agents)[:MAX_CLAIM]
    try:
        claimed = await client.claim_jobs(max=1, agent_ids=agents, job_ids=[job_id])
    except APIStatusError as exc:
        if exc.status_code < 500:
            raise
        claimed = await _claimed_despite_lost_answer(client, loaded, job_id)
    except AgntError:
        claimed = await _claimed_despite_lost_answer(client, loaded, job_id)
    if claimed:
        return claimed[0]
    watched = await client.watch_jobs([job_id])
    if job_id in watched.missing:
        return None
    job = next((j for j in watched.items if j.id == job_id), None)
    if job is not None and job.agent_id not in loaded.agents:
        raise _NotClaimable(f"agent '{job.agent_id}' is not in the manifest")
    status = job.status.value if job is not None else "held by another executor"
    raise _NotClaimable(f"job is {status}, not pending")


async def _claimed_despite_lost_answer(
    client: AsyncClient, loaded: LoadedManifest, job_id: UUID
) -> list[Job]:
    accepted = await accepted_jobs(client, loaded.agents)
    return [accepted[job_id]] if job_id in accepted else []


def _finish(job_id: UUID, outcome: str, code: HandoffExit) -> int:
    log_event("handoff_finished", job_id=str(job_id), outcome=outcome, exit_code=int(code))
    sys.stdout.write(
        json.dumps({"job_id": str(job_id), "outcome": outcome, "exit_code": int(code)}) + "\n"
    )
    sys.stdout.flush()
    return int(code)
