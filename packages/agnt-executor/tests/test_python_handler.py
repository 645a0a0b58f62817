"""The python handler: sync and async callables, errors, settings."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from agnt_executor.handlers import (
    HandlerError,
    PythonHandler,
    PythonHandlerImportError,
    PythonSettings,
)
from agnt_executor.handlers.base import JobContext
from agnt_executor.handlers.python import load_callable

MakeContext = Callable[..., JobContext]


AGENT_MODULE = """
import asyncio, threading
from agnt_executor.handlers import HandlerError


def sync_writer(job, ctx):
    ctx.report_progress(50)
    name = ctx.settings.get("file_name", "out.txt")
    (ctx.output_dir / str(name)).write_text(f"{job.prompt} in {threading.current_thread().name}")


async def async_writer(job, ctx):
    await asyncio.sleep(0)
    (ctx.output_dir / "out.txt").write_text(job.prompt[::-1])


def failing(job, ctx):
    raise HandlerError("the input is not a recipe")


def waits_for_cancel(job, ctx):
    while not ctx.canceled:
        threading.Event().wait(0.01)
    ctx.raise_if_canceled()
"""


@pytest.fixture
def handler_for(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., PythonHandler]:
    """A team's own module on sys.path, as a python handler would find it."""
    module = f"team_agents_{uuid.uuid4().hex}"
    (tmp_path / f"{module}.py").write_text(AGENT_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))

    def make(name: str, **settings: object) -> PythonHandler:
        return PythonHandler(
            PythonSettings(callable=f"{module}:{name}", settings=settings),  # type: ignore[arg-type]
            tmp_path,
        )

    return make


async def test_sync_function_runs_in_its_own_thread(
    make_context: MakeContext, handler_for: Callable[..., PythonHandler]
) -> None:
    ctx = make_context(prompt="soup")
    await handler_for("sync_writer", file_name="soup.txt").run(ctx)
    assert (ctx.output_dir / "soup.txt").read_text() == f"soup in agnt-job-{ctx.job.id}"
    assert ctx.progress == 50


async def test_async_function_is_awaited(
    make_context: MakeContext, handler_for: Callable[..., PythonHandler]
) -> None:
    ctx = make_context(prompt="abc")
    await handler_for("async_writer").run(ctx)
    assert (ctx.output_dir / "out.txt").read_text() == "cba"


async def test_errors_propagate_to_the_runtime(
    make_context: MakeContext, handler_for: Callable[..., PythonHandler]
) -> None:
    with pytest.raises(HandlerError, match="not a recipe"):
        await handler_for("failing").run(make_context())


async def test_cancel_reaches_a_sync_function(
    make_context: MakeContext, handler_for: Callable[..., PythonHandler]
) -> None:
    ctx = make_context()
    task = asyncio.create_task(handler_for("waits_for_cancel").run(ctx))
    await asyncio.sleep(0.1)
    assert not task.done()
    ctx.request_cancel()
    with pytest.raises(Exception, match="was canceled"):
        await asyncio.wait_for(task, 5)


@pytest.mark.parametrize(
    ("reference", "message"),
    [
        ("agnt_no_such_module:run", "cannot import 'agnt_no_such_module:run'"),
        ("agnt_executor.demo.agents:nope", "cannot import 'agnt_executor.demo.agents:nope'"),
        ("agnt_executor.demo.agents:DEFAULT_SLOW_STEPS_X", "cannot import"),
        ("agnt_executor.demo.agents:DEFAULT_SLOW_SECONDS", "is not callable"),
    ],
)
def test_bad_reference_is_an_import_error(reference: str, message: str) -> None:
    with pytest.raises(PythonHandlerImportError, match=message):
        load_callable(reference)
