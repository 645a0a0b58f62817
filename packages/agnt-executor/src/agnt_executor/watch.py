"""Pushing a buyer's cancel to the running handler: one long-poll over the held jobs.

``POST /v1/executor/jobs/watch`` answers as soon as one of the named jobs is no longer
held by this executor (canceled by the buyer, lease lost, ended); the watch then calls
that job's run off, which stops its handler (SIGTERM to a command's process group) within
a second or two of the cancel, instead of at the next progress report.
"""

from __future__ import annotations

import asyncio
from uuid import UUID

from agnt_client import AgntError, AsyncClient
from agnt_executor.job_run import JobRun
from agnt_executor.logs import log_warning
from agnt_models import MAX_WAIT_SECONDS

WATCH_FAILURE_PAUSE = 1.0
"""Pause before watching again after a watch failed (the client already retried it)."""


class HeldJobsWatch:
    """Watches the runs it is given until each is discarded; ``run()`` is the loop."""

    def __init__(self, client: AsyncClient) -> None:
        self.client = client
        self._runs: dict[UUID, JobRun] = {}
        self._called_off: set[UUID] = set()
        self._grew = asyncio.Event()

    def add(self, run: JobRun) -> None:
        """Watch ``run``'s job from now on (the long-poll in flight is restarted)."""
        self._runs[run.job.id] = run
        self._grew.set()

    def discard(self, job_id: UUID) -> None:
        """Stop watching a job whose run has ended."""
        self._runs.pop(job_id, None)
        self._called_off.discard(job_id)

    async def run(self) -> None:
        """Long-poll the watched jobs and call off the ones no longer ours, until canceled.

        A job that ends is answered at once by the API (no longer held), which restarts
        the long-poll without it; a new job restarts it so that it is watched at once.
        """
        while True:
            watched = [job_id for job_id in self._runs if job_id not in self._called_off]
            self._grew.clear()
            if not watched:
                await self._grew.wait()
                continue
            watch = asyncio.create_task(self.client.watch_jobs(watched, wait=MAX_WAIT_SECONDS))
            grew = asyncio.create_task(self._grew.wait())
            await asyncio.wait({watch, grew}, return_when=asyncio.FIRST_COMPLETED)
            grew.cancel()
            if not watch.done():
                watch.cancel()
                await asyncio.gather(watch, grew, return_exceptions=True)
                continue
            try:
                answer = watch.result()
            except AgntError as exc:
                log_warning("watch_failed", error=str(exc))
                await asyncio.sleep(WATCH_FAILURE_PAUSE)
                continue
            gone = {job.id: f"job is {job.status.value}" for job in answer.items}
            gone.update((job_id, "job not found") for job_id in answer.missing)
            for job_id, reason in gone.items():
                run = self._runs.get(job_id)
                if run is not None:
                    self._called_off.add(job_id)
                    run.call_off(reason)
