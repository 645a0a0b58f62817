"""``agnt-executor``: serve a manifest's agents (``run``), publish them, check a manifest,
or unpublish agents.

Exit codes: 0 done (``run``: stopped by SIGTERM/SIGINT after draining), 1 the API refused
or could not be reached (bad key, an agent id owned by someone else), 2 bad usage or an
invalid manifest, 3 an agent's handler cannot run on this machine (the Gemini CLI is
missing, say): ``check``, ``publish`` and ``run`` refuse such a manifest, and with
``--allow-unavailable`` skip those agents instead (they are not published, so buyers never
order what nobody can run). Logs are JSON lines on stderr; ``publish``, ``check`` and
``unpublish`` print JSON on stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from agnt_client import AgntError, AsyncClient
from agnt_client.options import API_KEY_ENV, clean_api_key
from agnt_executor import __version__
from agnt_executor.executor import Executor, ExecutorFatalError, publish_agents
from agnt_executor.handlers.environment import missing_variables
from agnt_executor.logs import (
    configure_logging,
    log_error,
    log_event,
    log_warning,
    mask_in_logs,
)
from agnt_executor.manifest import LoadedManifest, ManifestError, load_manifest

EXIT_OK = 0
EXIT_API_ERROR = 1
EXIT_USAGE = 2
EXIT_UNAVAILABLE = 3
PUBLISH_RETRY_SECONDS = 10.0
"""How long `publish` keeps trying an unreachable API."""


def add_api_options(parser: argparse.ArgumentParser) -> None:
    """``--api-url`` and ``--api-key`` (defaults: ``AGNT_API_URL``, ``AGNT_API_KEY``)."""
    parser.add_argument("--api-url", help="API base URL (default: $AGNT_API_URL)")
    parser.add_argument("--api-key", help="executor API key (default: $AGNT_API_KEY)")


def take_api_key(args: argparse.Namespace) -> str | None:
    """The executor's key (flag, else ``AGNT_API_KEY``), stripped of surrounding whitespace.

    ``AGNT_API_KEY`` is removed from this process's environment once read, so no child
    process (a python handler's subprocess, say) inherits it by accident; command and gemini
    handlers get an allow-listed environment anyway. A malformed key raises
    ``APIKeyFormatError`` naming where it came from, never the key.
    """
    from_env = os.environ.pop(API_KEY_ENV, None)
    if args.api_key is not None:
        return clean_api_key(args.api_key, source="--api-key")
    return clean_api_key(from_env, source=API_KEY_ENV)


def make_client(args: argparse.Namespace) -> AsyncClient:
    """An async client from the flags, falling back to the environment.

    The process is made non-dumpable first (see ``keep_memory_private``).
    """
    keep_memory_private()
    if args.api_key is not None:
        log_warning(
            "api_key_on_command_line",
            message="--api-key is visible to other local users (ps); set AGNT_API_KEY instead",
        )
    key = take_api_key(args)
    mask_in_logs(key)
    return AsyncClient(base_url=args.api_url, api_key=key)


PR_SET_DUMPABLE = 4


def keep_memory_private() -> bool:
    """Make this process non-dumpable (Linux), as ssh-agent does; True when it worked.

    A handler runs as the executor's user, and any process of that user may otherwise read
    the executor's ``/proc/<pid>/environ`` (the key it was started with, whatever we remove
    from ``os.environ``) and its memory. A non-dumpable process's ``/proc`` entries belong
    to root. Children are unaffected (``execve`` resets the flag). Root, or anyone with
    CAP_SYS_PTRACE, still reads them: run the executor as an unprivileged user.
    """
    if not sys.platform.startswith("linux"):
        return False
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return int(libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)) == 0
    except (OSError, AttributeError):
        return False


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="agnt-executor", description="Serve agnt agents: pull jobs, run handlers."
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="publish the agents and serve their jobs")
    run.add_argument("manifest", type=Path)
    add_allow_unavailable(run)
    run.add_argument("--concurrency", type=int, help="jobs at once (default: manifest, 1)")
    run.add_argument("--shutdown-grace", type=float, help="seconds running jobs get after SIGTERM")
    run.add_argument("--no-publish", action="store_true", help="do not publish at start")
    add_api_options(run)

    publish = commands.add_parser("publish", help="create or update the manifest's agents")
    publish.add_argument("manifest", type=Path)
    add_allow_unavailable(publish)
    add_api_options(publish)

    check = commands.add_parser("check", help="validate a manifest without the API")
    check.add_argument("manifest", type=Path)
    add_allow_unavailable(check)

    unpublish = commands.add_parser(
        "unpublish", help="hide agents you own and cancel their pending jobs"
    )
    unpublish.add_argument("agent_ids", nargs="+", metavar="AGENT_ID")
    add_api_options(unpublish)
    return parser


def add_allow_unavailable(parser: argparse.ArgumentParser) -> None:
    """``--allow-unavailable``: skip agents whose handler cannot run here instead of failing."""
    parser.add_argument(
        "--allow-unavailable",
        action="store_true",
        help="skip (do not publish or serve) agents whose handler cannot run here; "
        "without it such an agent is an error (exit 3)",
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``agnt-executor``; returns the exit code."""
    args = _parser().parse_args(argv)
    configure_logging()
    if args.command == "unpublish":
        return _unpublish_command(args)
    try:
        loaded = load_manifest(args.manifest)
    except ManifestError as exc:
        log_error("manifest_invalid", error=str(exc))
        return EXIT_USAGE
    unavailable = loaded.unavailable()
    if args.command == "check":
        _print_json(_describe(loaded))
        return EXIT_UNAVAILABLE if unavailable and not args.allow_unavailable else EXIT_OK
    if unavailable:
        if not args.allow_unavailable or len(unavailable) == len(loaded.agents):
            for agent_id, reason in unavailable.items():
                log_error("agent_unavailable", agent_id=agent_id, error=reason)
            return EXIT_UNAVAILABLE
        for agent_id, reason in unavailable.items():
            log_warning("agent_skipped", agent_id=agent_id, error=reason)
        loaded = loaded.without(set(unavailable))
    if args.command == "run":
        concurrency = args.concurrency or loaded.settings.concurrency
        if concurrency < 1:
            log_error("usage_error", error="--concurrency must be at least 1")
            return EXIT_USAGE
        if args.shutdown_grace is not None:
            loaded.settings.shutdown_grace_seconds = max(0.0, args.shutdown_grace)
    try:
        client = make_client(args)
    except AgntError as exc:
        log_error("usage_error", error=str(exc))
        return EXIT_USAGE
    if args.command == "publish":
        return asyncio.run(_publish(client, loaded))
    return asyncio.run(_run(client, loaded, concurrency, publish=not args.no_publish))


def _unpublish_command(args: argparse.Namespace) -> int:
    try:
        client = make_client(args)
    except AgntError as exc:
        log_error("usage_error", error=str(exc))
        return EXIT_USAGE
    return asyncio.run(_unpublish(client, args.agent_ids))


async def _unpublish(client: AsyncClient, agent_ids: list[str]) -> int:
    async with client:
        done = []
        for agent_id in agent_ids:
            try:
                agent = await client.unpublish_agent(agent_id)
            except AgntError as exc:
                log_error("unpublish_failed", agent_id=agent_id, error=str(exc))
                return EXIT_API_ERROR
            log_event("agent_unpublished", agent_id=agent.id)
            done.append(agent.to_json_dict())
    _print_json(done)
    return EXIT_OK


async def _publish(client: AsyncClient, loaded: LoadedManifest) -> int:
    async with client:
        try:
            agents = await publish_agents(client, loaded, retry_for=PUBLISH_RETRY_SECONDS)
        except AgntError as exc:
            log_error("publish_failed", error=str(exc))
            return EXIT_API_ERROR
    _print_json([agent.to_json_dict() for agent in agents])
    return EXIT_OK


async def _run(
    client: AsyncClient, loaded: LoadedManifest, concurrency: int, *, publish: bool
) -> int:
    async with client:
        executor = Executor(client, loaded, concurrency=concurrency)
        executor.install_signal_handlers()
        try:
            await executor.run(publish=publish)
        except (ExecutorFatalError, AgntError) as exc:
            log_error("executor_fatal", error=str(exc))
            return EXIT_API_ERROR
    return EXIT_OK


def _describe(loaded: LoadedManifest) -> dict[str, object]:
    return {
        "manifest": str(loaded.path),
        "executor": loaded.settings.model_dump(mode="json"),
        "agents": [
            {
                "id": served.id,
                "handler": served.spec.handler.type,
                "unavailable_reason": served.handler.unavailable_reason(),
                "unset_variables": missing_variables(served.spec.handler),
            }
            for served in loaded.agents.values()
        ],
    }


def _print_json(document: object) -> None:
    sys.stdout.write(json.dumps(document, indent=2) + "\n")
    sys.stdout.flush()
