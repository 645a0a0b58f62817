"""The executor loop: publish the manifest's agents, long-poll for jobs, run up to N at once.

On the first SIGTERM/SIGINT it stops claiming and lets running jobs finish within the
shutdown grace; jobs still running then fail with ``executor_shutdown``. A second signal
skips the rest of the grace.
"""

from __future__ import annotations

import asyncio
import signal
from collections import Counter
from collections.abc import Coroutine
from functools import partial
from typing import Any
from uuid import UUID

from agnt_client import (
    AgntError,
    AsyncClient,
    AuthenticationError,
    PermissionDeniedError,
)
from agnt_executor.job_run import JobOutcome, JobRun
from agnt_executor.logs import log_error, log_event, log_warning
from agnt_executor.manifest import LoadedManifest
from agnt_executor.retry import backoff_delay, call_with_retries
from agnt_models import Agent, Job

IDLE_POLL_PAUSE = 0.5
"""Pause after a page that held only jobs this executor does not serve or already has."""


class ExecutorFatalError(Exception):
    """The executor cannot work at all: the API refuses its key."""


async def publish_agents(
    client: AsyncClient, loaded: LoadedManifest, *, retry_for: float | None
) -> list[Agent]:
    """PUT every agent of the manifest (idempotent), retrying while the API is unreachable."""
    published: list[Agent] = []
    for served in loaded.agents.values():
        agent = await call_with_retries(
            partial(client.publish_agent, served.id, served.spec.publish_body()),
            what="publish_agent",
            retry_for=retry_for,
            agent_id=served.id,
        )
        log_event("agent_published", agent_id=agent.id)
        published.append(agent)
    return published


class Executor:
    """Serves the agents of one manifest until told to stop."""

    def __init__(self, client: AsyncClient, loaded: LoadedManifest, *, concurrency: int) -> None:
        """``concurrency`` is how many jobs may run at once."""
        self.client = client
        self.loaded = loaded
        self.settings = loaded.settings
        self.concurrency = concurrency
        self.outcomes: Counter[JobOutcome] = Counter()
        self._runs: dict[UUID, tuple[JobRun, asyncio.Task[JobOutcome]]] = {}
        self._slot_freed = asyncio.Event()
        self._stopping = asyncio.Event()
        self._abort = asyncio.Event()

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
        try:
            if publish:
                await self._until_stopped(publish_agents(self.client, self.loaded, retry_for=None))
            log_event("executor_ready", agents=agents)
            await self._claim_until_stopped()
        except (AuthenticationError, PermissionDeniedError) as exc:
            raise ExecutorFatalError(f"the API refused this executor's key: {exc}") from exc
        finally:
            await self._drain()
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
        failures = 0
        only_agent = next(iter(self.loaded.agents)) if len(self.loaded.agents) == 1 else None
        while not self._stopping.is_set():
            await self._wait_for_free_slot()
            if self._stopping.is_set():
                return
            free = self.concurrency - len(self._runs)
            claim = asyncio.create_task(
                self.client.claim_jobs(only_agent, wait=self.settings.poll_wait_seconds, limit=free)
            )
            stop = asyncio.create_task(self._stopping.wait())
            await asyncio.wait({claim, stop}, return_when=asyncio.FIRST_COMPLETED)
            stop.cancel()
            if not claim.done():
                claim.cancel()
                await asyncio.gather(claim, return_exceptions=True)
                return
            try:
                jobs = claim.result()
            except (AuthenticationError, PermissionDeniedError):
                raise
            except AgntError as exc:
                delay = backoff_delay(failures)
                failures += 1
                log_warning("claim_failed", error=str(exc), retry_in_seconds=round(delay, 3))
                await self._pause(delay)
                continue
            failures = 0
            if jobs and not await self._take(jobs):
                await self._pause(IDLE_POLL_PAUSE)

    async def _take(self, jobs: list[Job]) -> bool:
        """Decide each new job of ours; start the accepted ones. False when none was new."""
        took_any = False
        for job in jobs:
            served = self.loaded.agents.get(job.agent_id)
            if served is None or job.id in self._runs:
                continue
            if len(self._runs) >= self.concurrency or self._stopping.is_set():
                break
            took_any = True
            run = JobRun(self.client, served, job, self.settings)
            outcome = await run.decide()
            if outcome is not None:
                self.outcomes[outcome] += 1
                continue
            task = asyncio.create_task(self._execute(run))
            self._runs[job.id] = (run, task)
        return took_any

    async def _execute(self, run: JobRun) -> JobOutcome:
        try:
            outcome = await run.execute()
        except Exception as exc:
            # A bug in the runtime must cost one job, never the executor.
            log_error("job_run_crashed", job_id=run.job_id, error=f"{type(exc).__name__}: {exc}")
            outcome = JobOutcome.FAILED
        finally:
            self._runs.pop(run.job.id, None)
            self._slot_freed.set()
        self.outcomes[outcome] += 1
        return outcome

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
        """Let running jobs finish within the grace; then stop them (``executor_shutdown``)."""
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
