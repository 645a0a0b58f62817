"""``agnt order``, ``agnt jobs``, ``agnt status``, ``agnt cancel``: ordering and following jobs.

``agnt order --wait`` never loses the order to its caller: as soon as the job exists its id
goes to stderr as one JSON line, ``{"created": "<id>"}``; and when the wait then ends
badly (timeout: exit 7, the API unreachable: exit 6, a server error: exit 1, Ctrl-C: exit
130), stdout still carries the job's last known state before the error on stderr.
"""

import sys
from typing import TYPE_CHECKING, Annotated

import typer

from agnt_cli.commands.inputs import (
    STDIN,
    check_job_id,
    check_wait_timeout,
    complete_job_status,
    input_files,
    parse_job_status,
    read_text_input,
)
from agnt_cli.connection import open_client
from agnt_cli.errors import usage_error
from agnt_cli.following import follow_job, require_completed
from agnt_cli.output import print_document, render_json
from agnt_cli.params import build_params, parse_params_document

if TYPE_CHECKING:
    from agnt_models import WebhookTarget

JobIdArgument = Annotated[str, typer.Argument(metavar="JOB_ID", help="The job's id (a UUID).")]
WaitOption = Annotated[
    bool, typer.Option("--wait", help="Follow the job until it ends; exit 8 unless it completed.")
]
TimeoutOption = Annotated[
    float | None,
    typer.Option(
        min=0, metavar="SECONDS", help="With --wait: give up after this many seconds (exit 7)."
    ),
]


def order(
    ctx: typer.Context,
    agent_id: Annotated[
        str, typer.Argument(metavar="AGENT_ID", help="The agent to run, e.g. demo-echo.")
    ],
    prompt: Annotated[
        str | None, typer.Option("--prompt", "-p", metavar="TEXT", help="The prompt text.")
    ] = None,
    prompt_file: Annotated[
        str | None,
        typer.Option(metavar="FILE", help="Read the prompt from this file, or - for stdin."),
    ] = None,
    param: Annotated[
        list[str] | None,
        typer.Option(
            "--param",
            metavar="KEY=VALUE",
            help="KEY=VALUE, repeatable. VALUE is JSON when it parses (3, true, {...}), "
            "else text; KEY may be dotted (style.tone=dry).",
        ),
    ] = None,
    params_file: Annotated[
        str | None,
        typer.Option(
            metavar="FILE", help="A JSON object of params (or - for stdin); --param goes on top."
        ),
    ] = None,
    idempotency_key: Annotated[
        str | None,
        typer.Option(help="Send the same key again to get the same job instead of a new one."),
    ] = None,
    webhook: Annotated[
        str | None,
        typer.Option(metavar="URL", help="Deliver the job's events to this http(s) URL."),
    ] = None,
    webhook_event: Annotated[
        list[str] | None,
        typer.Option(
            metavar="KIND",
            help="With --webhook: only these event kinds (repeatable; default: status changes).",
        ),
    ] = None,
    wait: WaitOption = False,
    timeout: TimeoutOption = None,
    timeout_seconds: Annotated[
        float | None,
        typer.Option(
            "--timeout-seconds",
            metavar="SECONDS",
            help="End the job this long after the order (reason deadline_exceeded); default "
            "and maximum are the agent's.",
        ),
    ] = None,
    file: Annotated[
        list[str] | None,
        typer.Option(
            "--file",
            "-f",
            metavar="PATH",
            help="An input file for the job (repeatable; - reads stdin, named 'stdin'). "
            "A missing file exits 2 (invalid_file); one over the API's limit exits 2 "
            "(input_too_large).",
        ),
    ] = None,
) -> None:
    """Order a job from an agent; prints the Job (its final state with --wait).

    With --wait, {"created": JOB_ID} goes to stderr at once, and the job's last known state
    reaches stdout however the wait ends; if no executor serves the agent now, a
    {"warning": {"code": "agent_offline", ...}} line follows it at once. Each --file is uploaded first and becomes one
    of the job's input files, under its base name.
    """
    if (prompt is None) == (prompt_file is None):
        raise usage_error("give exactly one of --prompt or --prompt-file", "missing_prompt")
    if prompt_file == STDIN and params_file == STDIN:
        raise usage_error("only one of --prompt-file and --params-file can read stdin")
    check_wait_timeout(wait, timeout)
    if timeout_seconds is not None and not timeout_seconds > 0:
        raise usage_error("--timeout-seconds must be more than 0", "invalid_timeout")
    inputs = input_files(file or [], stdin_taken=STDIN in (prompt_file, params_file))
    text = prompt if prompt is not None else read_text_input(str(prompt_file), "--prompt-file")
    base = None
    if params_file is not None:
        base = parse_params_document(read_text_input(params_file, "--params-file"), params_file)
    params = build_params(param or [], base)
    target = webhook_target(webhook, webhook_event)
    with open_client(ctx) as client:
        job = client.create_job(
            agent_id,
            text,
            params,
            idempotency_key=idempotency_key,
            webhook=target,
            timeout_seconds=timeout_seconds,
            files=inputs,
        )
        if wait:
            announce_created(str(job.id))
            if job.agent_online is False:
                announce_offline(agent_id, job.warning)
            job = require_completed(follow_job(client, str(job.id), timeout=timeout, created=job))
    print_document(job.to_json_dict())


def webhook_target(url: str | None, kinds: list[str] | None) -> "WebhookTarget | None":
    """``--webhook`` and ``--webhook-event`` as a ``WebhookTarget``; a bad one: exit 2."""
    from pydantic import ValidationError

    from agnt_models import WebhookTarget

    if url is None:
        if kinds:
            raise usage_error("--webhook-event needs --webhook", "conflicting_options")
        return None
    try:
        return WebhookTarget.model_validate({"url": url, "events": kinds or None})
    except ValidationError as exc:
        problem = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        raise usage_error(f"bad --webhook/--webhook-event: {problem}", "invalid_webhook") from None


def announce_created(job_id: str) -> None:
    """``{"created": job_id}`` as one line on stderr, before a wait that may end badly."""
    sys.stderr.write(render_json({"created": job_id}, pretty=False) + "\n")
    sys.stderr.flush()


def announce_offline(agent_id: str, warning: str | None) -> None:
    """``{"warning": {"code": "agent_offline", ...}}`` on stderr: nobody serves the agent now,
    so the wait may be long (said at once, not when it times out)."""
    message = warning or f"agent {agent_id} is offline; the job waits until an executor serves it"
    document = {"warning": {"code": "agent_offline", "message": message}}
    sys.stderr.write(render_json(document, pretty=False) + "\n")
    sys.stderr.flush()


def jobs(
    ctx: typer.Context,
    status: Annotated[
        str | None,
        typer.Option(help="Only jobs in this status.", autocompletion=complete_job_status),
    ] = None,
    agent: Annotated[str | None, typer.Option(help="Only jobs of this agent.")] = None,
    limit: Annotated[
        int | None, typer.Option(min=1, max=100, help="Jobs per page, 1-100 (default 20).")
    ] = None,
    cursor: Annotated[str | None, typer.Option(help="Continue from a page's next_cursor.")] = None,
    all_pages: Annotated[
        bool, typer.Option("--all", help="Follow next_cursor to the end; one page of everything.")
    ] = False,
) -> None:
    """List my jobs, newest first, as a JobPage."""
    from agnt_models import JobPage

    job_status = parse_job_status(status)
    if all_pages and cursor is not None:
        raise usage_error("--all starts from the first page; drop --cursor", "conflicting_options")
    with open_client(ctx) as client:
        if all_pages:
            items = list(client.iter_jobs(status=job_status, agent_id=agent, page_size=limit))
            page = JobPage(items=items, next_cursor=None)
        else:
            page = client.list_jobs(status=job_status, agent_id=agent, limit=limit, cursor=cursor)
    print_document(page.to_json_dict())


def status(
    ctx: typer.Context,
    job_id: JobIdArgument,
    wait: WaitOption = False,
    timeout: TimeoutOption = None,
) -> None:
    """Show a job: status, progress, decision reason, timestamps, duration."""
    job_id = check_job_id(job_id)
    check_wait_timeout(wait, timeout)
    with open_client(ctx) as client:
        if wait:
            job = require_completed(follow_job(client, job_id, timeout=timeout))
        else:
            job = client.get_job(job_id)
    print_document(job.to_json_dict())


def cancel(ctx: typer.Context, job_id: JobIdArgument) -> None:
    """Cancel a job that has not ended yet; prints the canceled Job."""
    job_id = check_job_id(job_id)
    with open_client(ctx) as client:
        job = client.cancel_job(job_id)
    print_document(job.to_json_dict())
