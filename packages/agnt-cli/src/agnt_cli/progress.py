"""Progress for a person watching: rich, on stderr, and only when stderr is a terminal.

When stderr is not a terminal nothing is drawn (and rich is not even imported), so logs
and pipes never see ANSI codes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from agnt_cli.output import stderr_is_terminal

if TYPE_CHECKING:
    from agnt_models import Job, JobEvent


@contextmanager
def job_progress(job: Job) -> Iterator[Callable[[JobEvent], None]]:
    """A progress bar for ``job`` and its latest log line; yields the function to call
    with each event of the job's stream."""
    if not stderr_is_terminal():
        yield lambda _event: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    bar = Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TimeElapsedColumn(),
        TextColumn("{task.fields[log]}", style="dim"),
        console=Console(stderr=True),
        transient=True,
    )
    status = job.status.value
    log_line = ""

    with bar:
        task = bar.add_task(f"job {job.id} {status}", total=100, completed=job.progress, log="")

        def show(event: JobEvent) -> None:
            nonlocal status, log_line
            update = event_display(event)
            status = update.status or status
            log_line = update.log_line if update.log_line is not None else log_line
            bar.update(
                task,
                description=f"job {job.id} {status}",
                completed=update.progress,
                log=log_line,
            )

        yield show


@dataclass(frozen=True)
class EventDisplay:
    """What one event changes on the progress line (``None``: unchanged)."""

    status: str | None = None
    progress: int | None = None
    log_line: str | None = None


LOG_LINE_DISPLAY_CHARS = 60


def event_display(event: JobEvent) -> EventDisplay:
    """The status, progress and latest log line an event shows (a log line cut to fit)."""
    from agnt_models import JobEventKind

    data = event.data
    if event.kind is JobEventKind.PROGRESS:
        value = data.get("progress")
        return EventDisplay(progress=value if isinstance(value, int) else None)
    if event.kind is JobEventKind.LOG:
        texts = log_texts(event)
        if not texts:
            return EventDisplay()
        line = " ".join(texts[-1].split())
        if len(line) > LOG_LINE_DISPLAY_CHARS:
            line = line[: LOG_LINE_DISPLAY_CHARS - 1] + "…"
        return EventDisplay(log_line=line)
    status = data.get("status")
    done = 100 if event.kind is JobEventKind.COMPLETED else None
    return EventDisplay(status=status if isinstance(status, str) else None, progress=done)


def log_texts(event: JobEvent) -> list[str]:
    """The text of each line in a ``log`` event (empty for any other event)."""
    lines = event.data.get("lines")
    if not isinstance(lines, list):
        return []
    return [str(line["text"]) for line in lines if isinstance(line, dict) and "text" in line]


@contextmanager
def activity(message: str) -> Iterator[None]:
    """A spinner with ``message`` on stderr while the block runs (terminal only)."""
    if not stderr_is_terminal():
        yield
        return
    from rich.console import Console

    with Console(stderr=True).status(message):
        yield
