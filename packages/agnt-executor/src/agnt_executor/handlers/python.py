"""The python handler: an importable ``module:function(job, ctx)``, sync or async.

A synchronous function runs in its own daemon thread so it never blocks the executor; it
should check ``ctx.canceled`` (or call ``ctx.raise_if_canceled()``) between steps.

Trust: the function runs inside the executor process, so it is the executor owner's own
code (a module it installed), as trusted as the executor itself: it could read the key from
the process whatever we did. What a python handler must not do is hand buyer text to a
program with the executor's environment; the executor removes ``AGNT_API_KEY`` from its own
environment once read (``agnt_executor.cli``), so a child the function starts does not
inherit it. ``secrets`` names variables (read by the function itself) whose values are
masked in the results and failure reasons, as for the other handlers.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import inspect
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, JsonValue, StringConstraints

from agnt_executor.handlers.base import JobContext
from agnt_executor.handlers.environment import SecretSettings
from agnt_models import Job

JobFunction = Callable[[Job, JobContext], Any]


class PythonSettings(SecretSettings):
    """Manifest settings of a ``python`` handler."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["python"] = "python"
    callable: Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")] = (
        Field(description="'package.module:function'; the function takes (job, ctx).")
    )
    settings: dict[str, JsonValue] = Field(
        default_factory=dict, description="Handed to the function as ctx.settings."
    )


class PythonHandlerImportError(Exception):
    """The callable named in the manifest cannot be imported."""


def load_callable(reference: str) -> JobFunction:
    """Import ``module:attr.path`` and return it; it must be callable."""
    module_name, _, attr_path = reference.partition(":")
    try:
        target: Any = importlib.import_module(module_name)
        for attr in attr_path.split("."):
            target = getattr(target, attr)
    except (ImportError, AttributeError) as exc:
        raise PythonHandlerImportError(f"cannot import {reference!r}: {exc}") from exc
    if not callable(target):
        raise PythonHandlerImportError(f"{reference!r} is not callable")
    function: JobFunction = target
    return function


class PythonHandler:
    """Calls a Python function per job."""

    def __init__(self, settings: PythonSettings, base_dir: Path) -> None:
        """Import the function now, so a bad manifest fails at start, not at the first job."""
        del base_dir  # imports resolve through sys.path, not the manifest's directory
        self.settings = settings
        self.function = load_callable(settings.callable)

    def unavailable_reason(self) -> str | None:
        """Always available once imported."""
        return None

    async def run(self, ctx: JobContext) -> None:
        """Await the function, or run it in a daemon thread when it is synchronous."""
        ctx.settings = dict(self.settings.settings)
        if inspect.iscoroutinefunction(self.function):
            await self.function(ctx.job, ctx)
            return
        await _run_in_daemon_thread(self.function, ctx)


async def _run_in_daemon_thread(function: JobFunction, ctx: JobContext) -> None:
    # A daemon thread, not the default executor: a handler that ignores cancel must not keep
    # the executor process alive at shutdown.
    loop = asyncio.get_running_loop()
    outcome: asyncio.Future[None] = loop.create_future()

    def settle(error: BaseException | None) -> None:
        if outcome.done():
            return
        if error is None:
            outcome.set_result(None)
        else:
            outcome.set_exception(error)

    def target() -> None:
        error: BaseException | None = None
        try:
            function(ctx.job, ctx)
        except BaseException as exc:  # handed to the event loop, re-raised there
            error = exc
        # The loop may be gone when an abandoned handler finally returns.
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(settle, error)

    threading.Thread(target=target, name=f"agnt-job-{ctx.job.id}", daemon=True).start()
    await outcome
