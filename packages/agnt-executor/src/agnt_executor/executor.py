"""The executor loop: publish the manifest's agents, claim jobs, run up to N at once.

Jobs are claimed (``POST /v1/executor/claims``: atomic, long-polled, only of the agents this
executor serves) and arrive accepted. A watch long-polls the held jobs (``watch``), so a
buyer's cancel stops the handler within a second or two instead of at the next report. Retrying
is the client's (``max_retries=None`` with the manifest's ``retry_seconds`` deadline); a
claim whose answer was lost is made good by adopting its orphans (``orphans``).

On the first SIGTERM/SIGINT it stops claiming and lets running jobs finish within the
shutdown grace; jobs still running then are stopped and given back (released with reason
``executor_shutdown``: pending again, ``attempt + 1``, for another executor). A second
signal skips the rest of the grace. At start it cleans up after a predecessor that was
killed (``leftovers``: its handlers' process groups and work directories).
"""

from __future__ import annotations

import asyncio
import math
import signal
from collections import Counter
from collections.abc import Coroutine
from typing import Any
from uuid import UUID

from agnt_client import (
    AgntError,
    APIStatusError,
    AsyncClient,
    AuthenticationError,
    PermissionDeniedError,
)
from agnt_executor.job_run import JobOutcome, JobRun, fit_reason
from agnt_executor.leftovers import sweep_work_dirs
from agnt_executor.logs import log_error, log_event, log_warning
from agnt_executor.manifest import LoadedManifest
from agnt_executor.orphans import find_orphans
from agnt_executor.watch import HeldJobsWatch
from agnt_models import MAX_CLAIM, Agent, Job, JobStatus

CLAIM_FAILURE_PAUSE = 1.0
"""Pause before claiming again after a claim failed (the client already retried it)."""


class ExecutorFatalError(Exception):
    """The executor cannot work at all: the API refuses its key."""


def resilient(client: AsyncClient, retry_for: float | None) -> AsyncClient:
    """``client`` retrying transient failures for ``retry_for`` seconds per call (None: until
    stopped), however many attempts that takes: the executor rides out an API restart."""
    deadline = math.inf if retry_for is None else retry_for
    return client.with_options(max_retries=None, retry_deadline=deadline)


async def publish_agents(
    client: AsyncClient, loaded: LoadedManifest, *, retry_for: float | None
) -> list[Agent]:
    """PUT every agent of the manifest (idempotent), retrying while the API is unreachable."""
    patient = resilient(client, retry_for)
    published: list[Agent] = []
    for served in loaded.agents.values():
        agent = await patient.publish_agent(served.id, served.spec.publish_body())
        log_event("agent_published", agent_id=agent.id)
        published.append(agent)
    return published


class Executor:
    """Serves the agents of one manifest until told to stop."""

    def __init__(self, client: AsyncClient, loaded: LoadedManifest, *, concurrency: int) -> None:
        """``concurrency`` is how many jobs may run at once."""
        self.loaded = loaded
        self.settings = loaded.settings
        self.client = resilient(client, self.settings.retry_seconds)
        self.concurrency = concurrency
        self.outcomes: Counter[JobOutcome] = Counter()
        self._runs: dict[UUID, tuple[JobRun, asyncio.Task[JobOutcome]]] = {}
        self._watch = HeldJobsWatch(self.client)
        self._slot_freed = asyncio.Event()
        self._stopping = asyncio.Event()
        self._abort = asyncio.Event()
        self._orphan_search: asyncio.Task[None] | None = None
        self._search_again = False
        served = sorted(loaded.agents)
        # More agents than one claim may name: claim for all of the key's agents instead.
        self._claim_agents = served if len(served) <= MAX_CLAIM else None

    def request_stop(self) -> None:
        """First call: stop claiming and drain. Second call: stop running jobs now."""
        if self._stopping.is_set():
            log_warning("shutdown_hurried", running=len(self._runs))
            self._abort.set()
            return
        log_event("shutdown_requested", running=len(self._runs))
        self._stopping.set()

    def install_signal_handlers(self) -> None:
        """SIGTERM and SIGINT call ``request_stop``."""
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, self.request_stop)

    async def run(self, *, publish: bool = True) -> None:
        """Publish (unless told not to), serve jobs until a stop request, then drain."""
        agents = sorted(self.loaded.agents)
        log_event("executor_started", agents=agents, concurrency=self.concurrency)
        swept = await asyncio.to_thread(sweep_work_dirs)
        if swept:
            log_event("work_dirs_swept", work_dirs=[str(path) for path in swept])
        watcher = asyncio.create_task(self._watch.run())
        try:
            if publish:
                await self._until_stopped(publish_agents(self.client, self.loaded, retry_for=None))
            log_event("executor_ready", agents=agents)
            # A predecessor may have died between a claim and its first report.
            self._search_orphans()
            await self._claim_until_stopped()
        except (AuthenticationError, PermissionDeniedError) as exc:
            raise ExecutorFatalError(f"the API refused this executor's key: {exc}") from exc
        finally:
            if self._orphan_search is not None:
                self._orphan_search.cancel()
                await asyncio.gather(self._orphan_search, return_exceptions=True)
            await self._drain()
            watcher.cancel()
            await asyncio.gather(watcher, return_exceptions=True)
        log_event("executor_stopped", outcomes={k.value: n for k, n in self.outcomes.items()})

    async def _until_stopped(self, work: Coroutine[Any, Any, object]) -> None:
        """Await ``work``, abandoning it on a stop request; its error propagates."""
        task = asyncio.create_task(work)
        stop = asyncio.create_task(self._stopping.wait())
        await asyncio.wait({task, stop}, return_when=asyncio.FIRST_COMPLETED)
        stop.cancel()
        if not task.done():
            task.cancel()
        await asyncio.gather(task, stop, return_exceptions=True)
        if not task.cancelled():
            task.result()

    async def _claim_until_stopped(self) -> None:
        while not self._stopping.is_set():
            await self._wait_for_free_slot()
            if self._stopping.is_set():
                return
            free = min(self.concurrency - len(self._runs), MAX_CLAIM)
            claim = asyncio.create_task(
                self.client.claim_jobs(
                    max=free, agent_ids=self._claim_agents, wait=self.settings.poll_wait_seconds
                )
            )
            stop = asyncio.create_task(self._stopping.wait())
            await asyncio.wait({claim, stop}, return_when=asyncio.FIRST_COMPLETED)
            stop.cancel()
            if not claim.done():
                # Stopping: a job this claim took in its last moment goes back by its lease.
                claim.cancel()
                await asyncio.gather(claim, return_exceptions=True)
                return
            try:
                jobs = claim.result()
            except (AuthenticationError, PermissionDeniedError):
                raise
            except AgntError as exc:
                log_warning("claim_failed", error=str(exc))
                if not (isinstance(exc, APIStatusError) and exc.status_code < 500):
                    # The claim may have taken jobs whose answer never came back.
                    self._search_orphans()
                await self._pause(CLAIM_FAILURE_PAUSE)
                continue
            for job in jobs:
                await self._start(job)

    async def _start(self, job: Job) -> None:
        """Run a claimed (or adopted) job: decide by the agent's policy, then execute it."""
        if job.id in self._runs:
            return
        served = self.loaded.agents.get(job.agent_id)
        if served is None:
            # Only possible when the claim named no agents (a manifest past MAX_CLAIM).
            await self._refuse_unserved(job)
            return
        run = JobRun(self.client, served, job, self.settings)
        outcome = await run.decide()
        if outcome is not None:
            self.outcomes[outcome] += 1
            return
        task = asyncio.create_task(self._execute(run))
        self._runs[job.id] = (run, task)
        self._watch.add(run)

    async def _refuse_unserved(self, job: Job) -> None:
        reason = f"this executor does not serve agent '{job.agent_id}'"
        try:
            await self.client.report_status(job.id, JobStatus.FAILED, reason=fit_reason(reason))
        except AgntError as exc:
            log_warning("failure_not_reported", job_id=str(job.id), error=str(exc))
        log_warning("job_not_served", job_id=str(job.id), agent_id=job.agent_id)

    async def _execute(self, run: JobRun) -> JobOutcome:
        try:
            outcome = await run.execute()
        except Exception as exc:
            # A bug in the runtime must cost one job, never the executor.
            log_error("job_run_crashed", job_id=run.job_id, error=f"{type(exc).__name__}: {exc}")
            outcome = JobOutcome.FAILED
        finally:
            self._runs.pop(run.job.id, None)
            self._watch.discard(run.job.id)
            self._slot_freed.set()
        self.outcomes[outcome] += 1
        return outcome

    def _search_orphans(self) -> None:
        """Look for jobs a lost claim answer left accepted, in the background.

        One search at a time; a claim lost while one runs makes it look once more, since
        its first look may have come before that claim.
        """
        if self._orphan_search is not None and not self._orphan_search.done():
            self._search_again = True
            return
        self._orphan_search = asyncio.create_task(self._adopt_orphans())

    async def _adopt_orphans(self) -> None:
        self._search_again = True
        while self._search_again and not self._stopping.is_set():
            self._search_again = False
            try:
                orphans = await find_orphans(
                    self.client, self.loaded.agents, lambda job_id: job_id in self._runs
                )
            except AgntError as exc:
                log_warning("orphan_search_failed", error=str(exc))
                continue
            for job in orphans:
                if self._stopping.is_set():
                    return
                # Adopted even past the concurrency: it is ours already, its lease running.
                log_event("job_adopted", job_id=str(job.id), agent_id=job.agent_id)
                await self._start(job)

    async def _wait_for_free_slot(self) -> None:
        while len(self._runs) >= self.concurrency and not self._stopping.is_set():
            self._slot_freed.clear()
            await self._pause_until(self._slot_freed, None)

    async def _pause(self, seconds: float) -> None:
        """Sleep, but wake at once on a stop request."""
        await self._pause_until(self._stopping, seconds)

    async def _pause_until(self, event: asyncio.Event, seconds: float | None) -> None:
        waiters = {asyncio.create_task(event.wait()), asyncio.create_task(self._stopping.wait())}
        done, pending = await asyncio.wait(
            waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED
        )
        for task in pending:
            task.cancel()
        await asyncio.gather(*waiters, return_exceptions=True)

    async def _drain(self) -> None:
        """Let running jobs finish within the grace; then stop them and give them back."""
        if not self._runs:
            return
        tasks = {task for _, task in self._runs.values()}
        log_event(
            "draining", running=len(tasks), grace_seconds=self.settings.shutdown_grace_seconds
        )
        # Waiting through a task: when the grace runs out, canceling the wait must not
        # cancel the jobs themselves; they are stopped cleanly below.
        finished = asyncio.create_task(asyncio.wait(tasks))
        hurry = asyncio.create_task(self._abort.wait())
        await asyncio.wait(
            {finished, hurry},
            timeout=self.settings.shutdown_grace_seconds,
            return_when=asyncio.FIRST_COMPLETED,
        )
        finished.cancel()
        hurry.cancel()
        for run, _ in list(self._runs.values()):
            run.stop_for_shutdown()
        await asyncio.gather(*tasks, finished, hurry, return_exceptions=True)
