"""Live handler logs: a job's output lines, masked, batched and sent to the API.

A handler's lines (``JobContext.report_log``) become ``log`` events the buyer reads while
the job runs (``agnt logs --follow``). Lines are masked with the agent's secrets *before*
they leave this process, cut to ``MAX_LOG_LINE_CHARS``, and sent in batches: every
``flush_seconds`` or as soon as ``flush_lines`` wait. Past ``max_bytes`` per job later
lines are dropped and one line says so. Logs are a courtesy: a batch the API does not
take is dropped with a warning, and never fails or delays the job beyond ``close``'s bound.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Literal

from agnt_client import AgntError, AsyncClient
from agnt_executor.logs import log_warning
from agnt_executor.masking import SecretMasker
from agnt_models import MAX_LOG_LINE_CHARS, MAX_LOG_LINES_PER_BATCH, LogLine

LogStream = Literal["stderr", "stdout"]

FLUSH_SECONDS = 0.5
FLUSH_LINES = 100
MAX_LOG_BYTES_PER_JOB = 1_000_000
CLOSE_SECONDS = 5.0
"""How long the last flush may take when the handler has ended (then its lines are dropped)."""
SEND_RETRY_SECONDS = 10.0


class LogForwarder:
    """Batches one job's log lines to ``POST /v1/executor/jobs/{id}/logs``.

    ``add`` is called in the event loop's thread (``JobContext`` hops threads for it);
    ``start`` begins sending; ``close`` sends what is left, bounded by ``CLOSE_SECONDS``.
    """

    def __init__(
        self,
        client: AsyncClient,
        job_id: str,
        masker: SecretMasker,
        *,
        flush_seconds: float = FLUSH_SECONDS,
        flush_lines: int = FLUSH_LINES,
        max_bytes: int = MAX_LOG_BYTES_PER_JOB,
        attempt: int | None = None,
    ) -> None:
        # Its own retry budget: a log batch must not hold on for the executor's minutes.
        self._client = client.with_options(max_retries=2, retry_deadline=SEND_RETRY_SECONDS)
        self._job_id = job_id
        self._masker = masker
        self._flush_seconds = flush_seconds
        self._flush_lines = min(flush_lines, MAX_LOG_LINES_PER_BATCH)
        self._bytes_left = max_bytes
        self._max_bytes = max_bytes
        self._attempt = attempt
        self._pending: list[LogLine] = []
        self._ready = asyncio.Event()
        self._over_budget = False
        self._closing = False
        self._task: asyncio.Task[None] | None = None
        self.sent_lines = 0
        self.dropped_lines = 0

    def add(self, text: str, stream: LogStream = "stderr") -> None:
        """Queue one line (without its newline): masked, cut, counted against the budget."""
        if self._over_budget:
            self.dropped_lines += 1
            return
        line = self._masker.mask_text(text.rstrip("\r\n"))[:MAX_LOG_LINE_CHARS]
        size = len(line.encode("utf-8"))
        if size > self._bytes_left:
            self._over_budget = True
            self.dropped_lines += 1
            note = f"[agnt] log limit of {self._max_bytes} bytes reached; later lines dropped"
            self._pending.append(LogLine(stream="stderr", text=note))
            self._ready.set()
            return
        self._bytes_left -= size
        self._pending.append(LogLine(stream=stream, text=line))
        if len(self._pending) >= self._flush_lines:
            self._ready.set()

    def start(self) -> None:
        """Start sending: every ``flush_seconds``, or sooner when lines pile up."""
        self._task = asyncio.create_task(self._send_until_closed())

    async def close(self) -> None:
        """Send what is left and stop, within ``CLOSE_SECONDS`` (then the rest is dropped).

        A batch already on its way is let finish, so the job's last lines precede its end.
        """
        self._closing = True
        self._ready.set()
        if self._task is None:
            return
        done, _ = await asyncio.wait({self._task}, timeout=CLOSE_SECONDS)
        if not done:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._drop(len(self._pending), "the last log lines could not be sent in time")

    async def _send_until_closed(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._ready.wait(), self._flush_seconds)
            self._ready.clear()
            await self._flush()
            if self._closing:
                return

    async def _flush(self) -> None:
        while self._pending:
            batch = self._pending[:MAX_LOG_LINES_PER_BATCH]
            del self._pending[: len(batch)]
            try:
                await self._client.post_logs(self._job_id, batch, attempt=self._attempt)
            except AgntError as exc:
                self._drop(len(batch), str(exc))
            else:
                self.sent_lines += len(batch)

    def _drop(self, count: int, error: str) -> None:
        self.dropped_lines += count
        self._pending.clear()
        log_warning("logs_not_sent", job_id=self._job_id, lines=count, error=error)
