"""One claimed job end to end: decide, run the handler, keep the lease, upload, complete.

Both ``agnt-executor run`` (many jobs) and ``agnt-handoff`` (one job) drive a ``JobRun``.
Every API call here is retried by the client (its policy, with the executor's deadline):
status reports are answered alike when repeated and the completion carries an
``Idempotency-Key``, so an answer lost on the way back costs a retry, never the job.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from agnt_client import (
    AgntError,
    APIStatusError,
    AsyncClient,
    ConflictError,
    NotFoundError,
)
from agnt_executor.handlers import HandlerError, JobCanceled, JobContext
from agnt_executor.inputs import INPUT_DIR_NAME, InputsGone, InputsUnavailable, fetch_inputs
from agnt_executor.leftovers import WORK_DIR_PREFIX, mark_work_dir
from agnt_executor.log_forwarder import LogForwarder
from agnt_executor.logs import log_error, log_event, log_warning
from agnt_executor.manifest import ExecutorSettings, ServedAgent
from agnt_models import Job, JobStatus, check_result_names
from agnt_models.common import MAX_REASON_CHARS

SHUTDOWN_REASON = "executor_shutdown"
"""Why a job is given back when the executor stops (``POST .../release``)."""
DEFAULT_LEASE_SECONDS = 30.0
MIN_HEARTBEAT_SECONDS = 0.2


class JobOutcome(StrEnum):
    """How a job ended for this executor."""

    COMPLETED = "completed"
    REJECTED = "rejected"
    FAILED = "failed"
    RELEASED = "released"
    """Given back (``executor_shutdown``): the executor stopped before the handler finished;
    the job is pending again for another executor (or failed after its last attempt)."""
    GONE = "gone"
    """Canceled by the buyer, or its lease ran out: no longer ours."""


class JobGone(Exception):
    """The API answered 404/409 for the job: it is no longer this executor's to report."""


def fit_reason(text: str) -> str:
    """A reason within the API's limit, keeping the start and the (usually telling) end."""
    text = text.strip() or "unknown error"
    if len(text) <= MAX_REASON_CHARS:
        return text
    head = MAX_REASON_CHARS // 4
    tail = MAX_REASON_CHARS - head - 5
    return f"{text[:head]} ... {text[-tail:]}"


def result_files(output_dir: Path) -> list[tuple[str, Path]]:
    """Every regular file under ``output_dir`` as (result name, path), sorted by name.

    Result names are plain file names, so a file in a subdirectory is named with ``__``
    between the parts (``charts/a.png`` becomes ``charts__a.png``). ``ValueError`` names
    the first file whose name is not portable (``agnt_models.check_result_names``).
    """
    files = [p for p in output_dir.rglob("*") if p.is_file() and not p.is_symlink()]
    named = sorted(("__".join(p.relative_to(output_dir).parts), p) for p in files)
    check_result_names(name for name, _ in named)
    return named


class JobRun:
    """Drives one job this executor claimed (it arrives ``accepted``, with a lease).

    ``decide()`` rejects it by the agent's policy or keeps it; ``execute()`` runs a kept job
    to a terminal status. ``call_off()`` stops the handler of a job that is no longer ours
    (the executor's watch saw the buyer cancel it, its deadline passed, or it was
    requeued); ``stop_for_shutdown()`` stops it and gives the job back (``release``) for
    another executor. Every report names the job's ``attempt``, so a run that lost the job
    is refused (409) instead of touching the job's next attempt.
    """

    def __init__(
        self, client: AsyncClient, agent: ServedAgent, job: Job, settings: ExecutorSettings
    ) -> None:
        """Prepare to run ``job`` (claimed: accepted) with ``agent``'s handler."""
        self.client = client
        self.agent = agent
        self.job = job
        self.settings = settings
        self._lease_seconds = settings.lease_seconds or DEFAULT_LEASE_SECONDS
        self._ctx: JobContext | None = None
        self._shutdown = False
        self._gone_reason: str | None = None
        self._handler_done = False
        self._attempt = job.attempt

    @property
    def attempt(self) -> int:
        """Which attempt of the job this run is (fixed at the claim)."""
        return self._attempt

    @property
    def job_id(self) -> str:
        """The job's id as a string."""
        return str(self.job.id)

    def _log(self, event: str, **fields: Any) -> None:
        log_event(event, job_id=self.job_id, agent_id=self.job.agent_id, **fields)

    async def _report(
        self, status: JobStatus, *, progress: int | None = None, reason: str | None = None
    ) -> Job:
        """Report ``status`` (the client retries it); 404/409 raise ``JobGone``."""
        try:
            job = await self.client.report_status(
                self.job.id, status, progress=progress, reason=reason, attempt=self.attempt
            )
        except (ConflictError, NotFoundError) as exc:
            raise JobGone(f"{exc.code or exc.status_code}: {exc.detail or exc}") from exc
        self._learn_lease(job)
        return job

    def _learn_lease(self, job: Job) -> None:
        if self.settings.lease_seconds is not None or job.lease_expires_at is None:
            return
        # Both stamps come from the API's clock (a report sets updated_at and renews the
        # lease from the same "now"), so a skewed local clock cannot shorten the heartbeat.
        length = (job.lease_expires_at - job.updated_at).total_seconds()
        if length <= 0:
            length = (job.lease_expires_at - datetime.now(UTC)).total_seconds()
        if length > 0:
            self._lease_seconds = length

    @property
    def heartbeat_seconds(self) -> float:
        """How often the lease is renewed: a third of the lease."""
        return max(MIN_HEARTBEAT_SECONDS, self._lease_seconds / 3)

    async def decide(self) -> JobOutcome | None:
        """Reject the job by the agent's policy (with the reason), or keep it: None, run it.

        The claim already accepted it; a rejection still tells the buyer why, as ``rejected``.
        """
        self._learn_lease(self.job)
        reason = self.agent.rejection_reason(self.job)
        if reason is None:
            self._log("job_accepted", lease_seconds=round(self._lease_seconds, 3))
            return None
        try:
            await self._report(JobStatus.REJECTED, reason=fit_reason(reason))
        except JobGone as exc:
            self._log("job_gone", reason=str(exc))
            return JobOutcome.GONE
        except AgntError as exc:
            log_warning("rejection_not_reported", job_id=self.job_id, error=str(exc))
            return JobOutcome.REJECTED
        self._log("job_rejected", reason=reason)
        return JobOutcome.REJECTED

    async def execute(self) -> JobOutcome:
        """Run an accepted job to its end and report it; returns how it ended."""
        try:
            self.job = await self._report(JobStatus.RUNNING, progress=0)
        except JobGone as exc:
            self._log("job_gone", reason=str(exc))
            return JobOutcome.GONE
        self._log("job_running")
        work_dir = Path(tempfile.mkdtemp(prefix=f"{WORK_DIR_PREFIX}{self.job_id}-"))
        try:
            mark_work_dir(work_dir, keep=self.settings.keep_work_dirs)
            return await self._execute_in(work_dir)
        finally:
            if self.settings.keep_work_dirs:
                self._log("work_dir_kept", work_dir=str(work_dir))
            else:
                shutil.rmtree(work_dir, ignore_errors=True)

    def stop_for_shutdown(self) -> None:
        """Call the handler off because the executor is stopping; the job is given back."""
        self._shutdown = True
        if self._ctx is not None:
            self._ctx.request_cancel()

    def call_off(self, reason: str) -> None:
        """The job is no longer ours (canceled, lease lost): stop its handler now.

        A no-op once the handler has finished (the job ended by our own report).
        """
        if self._handler_done or self._gone_reason is not None:
            return
        self._gone_reason = reason
        if self._ctx is not None:
            self._ctx.request_cancel()

    async def _execute_in(self, work_dir: Path) -> JobOutcome:
        output_dir = work_dir / "output"
        output_dir.mkdir()
        ctx = JobContext(
            job=self.job,
            work_dir=work_dir,
            output_dir=output_dir,
            input_dir=work_dir / INPUT_DIR_NAME,
        )
        self._ctx = ctx
        if self._shutdown:
            ctx.request_cancel()
        if self._gone_reason is not None:
            ctx.request_cancel()
        logs = LogForwarder(
            self.client,
            self.job_id,
            self.agent.masker(self.client.options.api_key),
            max_bytes=self.settings.max_log_bytes_per_job,
            attempt=self.attempt,
        )
        ctx.forward_logs_to(logs.add)
        logs.start()
        handler_task = asyncio.create_task(self._fetch_inputs_and_run(ctx))
        keeper = asyncio.create_task(self._keep_lease(ctx))
        called_off = asyncio.create_task(ctx.wait_canceled())
        try:
            await asyncio.wait(
                {handler_task, keeper, called_off}, return_when=asyncio.FIRST_COMPLETED
            )
            if not handler_task.done():
                await self._stop_handler(handler_task)
            self._handler_done = True
            # The last lines go out before the job's end, so its stream shows them first.
            await logs.close()
            error = (
                asyncio.CancelledError() if handler_task.cancelled() else handler_task.exception()
            )
            if self._gone_reason is not None:
                self._log("job_gone", reason=self._gone_reason)
                return JobOutcome.GONE
            if error is None:
                return await self._upload(output_dir)
            return await self._fail(error)
        finally:
            keeper.cancel()
            called_off.cancel()
            if not handler_task.done():
                handler_task.cancel()
            await asyncio.gather(keeper, called_off, handler_task, return_exceptions=True)
            await logs.close()

    async def _fetch_inputs_and_run(self, ctx: JobContext) -> None:
        """Fetch the job's input files (the lease is kept meanwhile), then run the handler."""
        assert ctx.input_dir is not None
        try:
            ctx.input_files = await fetch_inputs(
                self.client, self.job_id, ctx.input_dir, attempt=self.attempt
            )
        except InputsUnavailable as exc:
            raise HandlerError(str(exc)) from exc
        except InputsGone as exc:
            self.call_off(str(exc))
            raise JobCanceled(str(exc)) from exc
        if ctx.input_files:
            self._log("inputs_fetched", files=[path.name for path in ctx.input_files])
        await self.agent.handler.run(ctx)

    async def _stop_handler(self, handler_task: asyncio.Task[None]) -> None:
        """The job was called off: give the handler the cancel grace, then cancel its task."""
        done, _ = await asyncio.wait({handler_task}, timeout=self.settings.cancel_grace_seconds)
        if not done:
            handler_task.cancel()
            await asyncio.gather(handler_task, return_exceptions=True)

    async def _keep_lease(self, ctx: JobContext) -> None:
        """Report progress (throttled) and renew the lease every third of it until canceled.

        When the API says the job is no longer ours (buyer cancel, lease lost), or stays
        unreachable past ``retry_seconds``, the handler is called off.
        """
        loop = asyncio.get_running_loop()
        last_sent = loop.time()
        while True:
            try:
                until_heartbeat = last_sent + self.heartbeat_seconds - loop.time()
                await asyncio.wait_for(ctx.wait_progress_change(), max(0.0, until_heartbeat))
                throttle = last_sent + self.settings.progress_interval_seconds - loop.time()
                await asyncio.sleep(max(0.0, throttle))
            except TimeoutError:
                pass
            try:
                await self._report(JobStatus.RUNNING, progress=ctx.progress)
            except JobGone as exc:
                self.call_off(str(exc))
                return
            except AgntError as exc:
                self.call_off(f"cannot reach the API to renew the lease: {exc}")
                return
            last_sent = loop.time()

    async def _fail(self, error: BaseException) -> JobOutcome:
        if self._shutdown:
            return await self.release(SHUTDOWN_REASON)
        if isinstance(error, HandlerError | JobCanceled):
            reason, outcome = str(error), JobOutcome.FAILED
        else:
            reason, outcome = f"{type(error).__name__}: {error}", JobOutcome.FAILED
            log_error(
                "handler_crashed", job_id=self.job_id, agent_id=self.job.agent_id, error=reason
            )
        return await self._report_failed(reason, outcome)

    async def _report_failed(self, reason: str, outcome: JobOutcome) -> JobOutcome:
        reason = self.agent.masker(self.client.options.api_key).mask_text(reason)
        try:
            await self._report(JobStatus.FAILED, reason=fit_reason(reason))
        except JobGone as exc:
            self._log("job_gone", reason=str(exc))
            return JobOutcome.GONE
        except AgntError as exc:
            log_warning("failure_not_reported", job_id=self.job_id, error=str(exc))
            return outcome
        self._log("job_failed", reason=reason)
        return outcome

    async def release(self, reason: str) -> JobOutcome:
        """Give the job back: pending again for another executor (or failed after its last
        attempt). If the API cannot be reached, the lease will do the same."""
        try:
            job = await self.client.release_job(self.job.id, reason=reason, attempt=self.attempt)
        except (ConflictError, NotFoundError) as exc:
            self._log("job_gone", reason=f"{exc.code or exc.status_code}: {exc.detail or exc}")
            return JobOutcome.GONE
        except AgntError as exc:
            log_warning("release_not_reported", job_id=self.job_id, error=str(exc))
            return JobOutcome.RELEASED
        self._log("job_released", reason=reason, status=job.status.value, attempt=job.attempt)
        return JobOutcome.RELEASED

    async def _upload(self, output_dir: Path) -> JobOutcome:
        try:
            files = result_files(output_dir)
        except ValueError as exc:
            return await self._report_failed(
                f"the handler's output was not sent: {exc}", JobOutcome.FAILED
            )
        if not files:
            return await self._report_failed(
                "the handler finished but wrote no result files", JobOutcome.FAILED
            )
        masker = self.agent.masker(self.client.options.api_key)
        files = await asyncio.to_thread(masker.mask_results, files)
        total = sum(path.stat().st_size for _, path in files)
        try:
            # One key for this completion: every retry of it is answered with the stored job.
            await self.client.complete_job(self.job.id, files, attempt=self.attempt)
        except (ConflictError, NotFoundError) as exc:
            self._log("job_gone", reason=f"{exc.code}: {exc.detail}")
            return JobOutcome.GONE
        except APIStatusError as exc:
            return await self._report_failed(
                f"the API refused the result files: {exc}", JobOutcome.FAILED
            )
        except AgntError as exc:
            # The client's retries ran out: the lease will end the job on the API's side.
            log_warning("completion_not_reported", job_id=self.job_id, error=str(exc))
            return JobOutcome.FAILED
        self._log("job_completed", files=[name for name, _ in files], total_bytes=total)
        return JobOutcome.COMPLETED
