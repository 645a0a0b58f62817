"""Progress for a person watching: rich, on stderr, and only when stderr is a terminal.

When stderr is not a terminal nothing is drawn (and rich is not even imported), so logs
and pipes never see ANSI codes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from agnt_cli.output import stderr_is_terminal

if TYPE_CHECKING:
    from agnt_models import Job


@contextmanager
def job_progress(job: Job) -> Iterator[Callable[[Job], None]]:
    """A progress bar for ``job``; yields the function to call with each newer state."""
    if not stderr_is_terminal():
        yield lambda _job: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    bar = Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
    )

    def describe(state: Job) -> str:
        return f"job {state.id} {state.status.value}"

    with bar:
        task = bar.add_task(describe(job), total=100, completed=job.progress)

        def show(state: Job) -> None:
            bar.update(task, description=describe(state), completed=state.progress)

        yield show


@contextmanager
def activity(message: str) -> Iterator[None]:
    """A spinner with ``message`` on stderr while the block runs (terminal only)."""
    if not stderr_is_terminal():
        yield
        return
    from rich.console import Console

    with Console(stderr=True).status(message):
        yield
