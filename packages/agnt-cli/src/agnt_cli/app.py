"""The ``agnt`` typer application: the root options, the subcommands, and how a call ends.

Only typer and the standard library are imported here; each command imports the client,
pydantic and rich when it runs, so ``agnt --help`` starts fast.
"""

import os
import sys
from collections.abc import Sequence
from typing import Annotated

import typer

from agnt_cli.commands import agents, events, jobs, mcp, results, version
from agnt_cli.commands.config import config_app
from agnt_cli.connection import GlobalOptions
from agnt_cli.errors import CliError, error_from_exception, interrupted, usage_error
from agnt_cli.exit_codes import ExitCode, exit_code_table
from agnt_cli.output import print_document, print_error, render_json, version_document

DEBUG_ENV = "AGNT_DEBUG"

API_KEY_FLAG_WARNING = {
    "warning": {
        "code": "api_key_on_command_line",
        "message": (
            "--api-key puts the key on the command line, where other local users can read it "
            "(ps, /proc); set AGNT_API_KEY, or store it with `agnt config set api_key -` "
            "(reads the key from stdin)"
        ),
    }
}
"""Written on stderr, one JSON line, whenever ``--api-key`` is used."""

EPILOG = (
    "\b\nstdout carries one JSON document per call (`events`: one per line; `logs`: the\n"
    "job's output text); errors are one JSON object on stderr,\n"
    '{"error": {"code", "message", "status"}}, with these exit codes:\n'
    f"{exit_code_table()}\n"
    "\b\nSettings: flags, then AGNT_API_URL / AGNT_API_KEY, then the config file\n"
    "(`agnt config path`; AGNT_CONFIG_DIR moves it)."
)

app = typer.Typer(
    name="agnt",
    help="Find AI agents, order jobs from them, follow the jobs and download their results.",
    epilog=EPILOG,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _show_version(value: bool) -> None:
    if value:
        print_document(version_document())
        raise typer.Exit()


@app.callback(invoke_without_command=True)
def root(
    ctx: typer.Context,
    api_url: Annotated[
        str | None,
        typer.Option(
            "--api-url",
            help="API base URL [env AGNT_API_URL, config api_url, default http://127.0.0.1:8000].",
            show_default=False,
        ),
    ] = None,
    api_key: Annotated[
        str | None,
        typer.Option(
            "--api-key",
            help=(
                "API key [env AGNT_API_KEY, config api_key]. Visible to other local users in "
                "`ps`: prefer AGNT_API_KEY or `agnt config set api_key -`."
            ),
            show_default=False,
        ),
    ] = None,
    request_timeout: Annotated[
        float | None,
        typer.Option(
            "--request-timeout",
            min=0.1,
            help="Seconds to wait for each API answer (default 30; long polls add their wait).",
            show_default=False,
        ),
    ] = None,
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_show_version, is_eager=True, help="Print the version as JSON."
        ),
    ] = False,
) -> None:
    """Find AI agents, order jobs from them, follow the jobs and download their results."""
    if ctx.invoked_subcommand is None and not ctx.resilient_parsing:
        raise usage_error("missing command; `agnt --help` lists them")
    if api_key is not None and not ctx.resilient_parsing:
        _warn(API_KEY_FLAG_WARNING)
    ctx.obj = GlobalOptions(api_url=api_url, api_key=api_key, request_timeout=request_timeout)


def _warn(document: dict[str, dict[str, str]]) -> None:
    """One JSON line on stderr, shaped like an error (``{"warning": {"code", "message"}}``)."""
    sys.stderr.write(render_json(document, pretty=False, ascii_only=True) + "\n")
    sys.stderr.flush()


app.command()(agents.search)
app.command()(agents.info)
app.command()(agents.stats)
app.command()(jobs.order)
app.command()(jobs.jobs)
app.command()(jobs.status)
app.command()(results.result)
app.command()(jobs.cancel)
app.command()(events.events)
app.command()(events.logs)
app.command()(version.version)
app.command()(mcp.mcp)
app.add_typer(config_app, name="config")


def _usage_error_of(exc: typer.TyperException) -> CliError:
    message = exc.format_message()
    command_path = getattr(getattr(exc, "ctx", None), "command_path", None)
    if command_path:
        message += f" (see `{command_path} --help`)"
    if exc.exit_code == ExitCode.USAGE:
        return usage_error(message)
    return CliError("error", message, ExitCode.GENERAL)


def main(argv: Sequence[str] | None = None) -> int:
    """Run one ``agnt`` call with ``argv`` (default: the process's); return its exit code."""
    command = typer.main.get_command(app)
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        outcome = command.main(args=args, prog_name="agnt", standalone_mode=False)
    except typer.TyperException as exc:
        error = _usage_error_of(exc)
    except typer.Abort:
        error = CliError("aborted", "aborted (end of input)", ExitCode.GENERAL)
    except Exception as exc:
        if os.environ.get(DEBUG_ENV):
            raise
        error = error_from_exception(exc)
    else:
        code = outcome if isinstance(outcome, int) else ExitCode.OK
        if code != ExitCode.INTERRUPTED:
            return code
        # typer turns Ctrl-C inside a command into exit 130; report it like any error.
        error = interrupted()
    if error.document is not None:
        print_document(error.document)
    print_error(error)
    return error.exit_code
