"""``agnt events`` and ``agnt logs``: a job's event log, as JSON lines or as its output text.

Both read ``GET /v1/jobs/{id}/events``. ``agnt events`` follows the stream until the job's
terminal event, one compact JSON ``JobEvent`` per line on stdout (a JSON-lines stream, not
one document: pipe it to ``jq -c``). ``agnt logs`` prints the handler's output lines as
they were written; without ``--follow`` it prints what exists now and exits.
"""

import sys
from typing import Annotated

import typer

from agnt_cli.commands.inputs import check_job_id
from agnt_cli.connection import open_client
from agnt_cli.output import render_json
from agnt_cli.progress import log_texts

JobIdArgument = Annotated[str, typer.Argument(metavar="JOB_ID", help="The job's id (a UUID).")]


def events(
    ctx: typer.Context,
    job_id: JobIdArgument,
    after: Annotated[
        int | None,
        typer.Option(min=0, metavar="SEQ", help="Start after this event (its seq)."),
    ] = None,
) -> None:
    """Print a job's events as JSON lines, following them until the job ends."""
    job_id = check_job_id(job_id)
    with open_client(ctx) as client:
        for event in client.stream_events(job_id, after=after):
            _write_line(render_json(event.to_json_dict(), pretty=False))


def logs(
    ctx: typer.Context,
    job_id: JobIdArgument,
    follow: Annotated[
        bool,
        typer.Option("--follow", "-f", help="Keep printing new lines until the job ends."),
    ] = False,
) -> None:
    """Print the output lines a job's handler wrote (secrets masked by the executor)."""
    from agnt_models import JobEvent, JobEventKind

    job_id = check_job_id(job_id)

    def show(event: JobEvent) -> None:
        if event.kind is not JobEventKind.LOG:
            return
        for text in log_texts(event):
            _write_line(text)
        if event.data.get("truncated"):
            sys.stderr.write("agnt: the job's log reached its size limit; later lines dropped\n")

    with open_client(ctx) as client:
        if follow:
            for event in client.stream_events(job_id):
                show(event)
            return
        after = 0
        while True:
            page = client.events(job_id, after=after)
            for event in page.items:
                show(event)
            if not page.items or page.done:
                return
            after = page.last_seq


def _write_line(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()
