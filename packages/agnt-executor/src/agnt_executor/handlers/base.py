"""What every handler gets and promises: a job context in, files in the output dir out."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol

from pydantic import JsonValue

from agnt_models import Job


class HandlerError(Exception):
    """A handler failed in a way the buyer should read: the message becomes the failure reason."""


class JobCanceled(Exception):
    """Raised inside a handler (by ``JobContext.raise_if_canceled``) once the job is called off."""


@dataclass
class JobContext:
    """A running job's surroundings, handed to the handler.

    ``work_dir`` is a fresh directory (the handler's cwd); every file the handler leaves in
    ``output_dir`` becomes a result file; the buyer's input files are in ``input_dir``. ``report_progress`` and ``canceled`` are safe to use
    from any thread, so synchronous Python handlers running in a worker thread can use them.
    """

    job: Job
    work_dir: Path
    output_dir: Path
    settings: dict[str, JsonValue] = field(default_factory=dict)
    input_dir: Path | None = None
    """Where the job's input files are (``$AGNT_INPUT_DIR``); fetched before the handler runs."""
    input_files: list[Path] = field(default_factory=list)
    """The job's input files in the order's order (all inside ``input_dir``)."""
    _loop: asyncio.AbstractEventLoop = field(
        default_factory=asyncio.get_running_loop, init=False, repr=False
    )
    _progress: int = field(default=0, init=False)
    _progress_changed: asyncio.Event = field(default_factory=asyncio.Event, init=False, repr=False)
    _cancel_flag: threading.Event = field(default_factory=threading.Event, init=False, repr=False)
    _cancel_event: asyncio.Event = field(default_factory=asyncio.Event, init=False, repr=False)
    _log_sink: Callable[[str, Literal["stderr", "stdout"]], None] | None = field(
        default=None, init=False, repr=False
    )

    @property
    def progress(self) -> int:
        """The last progress the handler reported, 0 to 100."""
        return self._progress

    def report_progress(self, percent: float) -> None:
        """Record progress (clamped to 0..100); the runtime sends it to the API, throttled."""
        value = max(0, min(100, int(percent)))
        if value == self._progress:
            return
        self._progress = value
        if _in_loop_thread(self._loop):
            self._progress_changed.set()
        else:
            self._loop.call_soon_threadsafe(self._progress_changed.set)

    def report_log(self, text: str, stream: Literal["stderr", "stdout"] = "stderr") -> None:
        """Send one output line to the buyer's live log (masked and batched by the runtime)."""
        sink = self._log_sink
        if sink is None:
            return
        if _in_loop_thread(self._loop):
            sink(text, stream)
        else:
            self._loop.call_soon_threadsafe(sink, text, stream)

    def forward_logs_to(self, sink: Callable[[str, Literal["stderr", "stdout"]], None]) -> None:
        """Runtime side: where ``report_log`` lines go (called in the event loop's thread)."""
        self._log_sink = sink

    async def wait_progress_change(self) -> None:
        """Block until progress changes after the previous call."""
        await self._progress_changed.wait()
        self._progress_changed.clear()

    @property
    def canceled(self) -> bool:
        """Whether the job was called off (buyer cancel, lost lease, executor shutdown)."""
        return self._cancel_flag.is_set()

    def raise_if_canceled(self) -> None:
        """Raise ``JobCanceled`` when the job was called off; call it between steps."""
        if self.canceled:
            raise JobCanceled(f"job {self.job.id} was canceled")

    async def wait_canceled(self) -> None:
        """Block until the job is called off."""
        await self._cancel_event.wait()

    def request_cancel(self) -> None:
        """Call the job off (runtime side; call it from the event loop's thread)."""
        self._cancel_flag.set()
        self._cancel_event.set()


def _in_loop_thread(loop: asyncio.AbstractEventLoop) -> bool:
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False


class Handler(Protocol):
    """Runs one job: reads ``ctx.job``, writes result files into ``ctx.output_dir``.

    Raise ``HandlerError`` with a readable message to fail the job. On ``ctx.canceled`` the
    handler should stop soon; the runtime also terminates child processes it started.
    """

    def unavailable_reason(self) -> str | None:
        """Why this handler cannot run any job here (e.g. a missing binary), or None."""
        ...

    async def run(self, ctx: JobContext) -> None:
        """Run the job to the end, or raise."""
        ...
