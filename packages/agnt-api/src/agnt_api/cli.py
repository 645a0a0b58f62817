"""``agnt-server``: migrate, serve, manage keys, run the demo.

Settings come from ``AGNT_*`` environment variables (see ``agnt_api.settings``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from agnt_api.db import Database
from agnt_api.services import keys
from agnt_api.settings import KEEP_ALIVE_SECONDS, Settings, SettingsError, load_settings
from agnt_models import Role

if TYPE_CHECKING:
    from fastapi import FastAPI


def _database(settings: Settings) -> Database:
    return Database(settings.database_url)


def cmd_migrate(settings: Settings) -> int:
    """Upgrade the database to the newest schema."""
    from agnt_api.db.migrate import current_revision, upgrade

    database = _database(settings)
    try:
        upgrade(database.engine)
        print(f"database is at revision {current_revision(database.engine)}", file=sys.stderr)
    finally:
        database.dispose()
    return 0


def prepare_schema(settings: Settings) -> None:
    """Refuse an outdated schema; an empty embedded SQLite database is created on the spot.

    Postgres is never migrated implicitly: replicas starting together must not race to
    migrate, and an operator decides when a production schema changes.
    """
    from agnt_api.db.migrate import current_revision, ensure_current, upgrade

    database = _database(settings)
    try:
        if settings.is_sqlite and current_revision(database.engine) is None:
            upgrade(database.engine)
        ensure_current(database.engine)
    finally:
        database.dispose()


SHUTDOWN_GRACE_SECONDS = 30
"""How long a stopping server lets in-flight requests finish (long-polls answer at once);
what is still running then answers 503 with ``Retry-After``."""


def default_workers(settings: Settings) -> int:
    """Worker processes when ``--workers`` is not given: one per CPU on Postgres, 1 on SQLite."""
    if settings.is_sqlite:
        return 1
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def cmd_serve(
    settings: Settings,
    host: str,
    port: int,
    workers: int | None = None,
    *,
    access_log: bool = False,
) -> int:
    """Run the API with uvicorn (``workers`` processes sharing the port) until stopped.

    Without ``access_log`` uvicorn logs no line per request: formatting and writing one
    costs as much CPU as a status report's database work (a proxy in front usually logs
    requests anyway).

    uvicorn picks uvloop and httptools (installed with ``uvicorn[standard]``). On SIGTERM a
    worker stops accepting, every long-poll answers at once with the current state, and the
    other requests get ``SHUTDOWN_GRACE_SECONDS`` to finish.
    """
    import uvicorn

    from agnt_api.app import create_app
    from agnt_api.db.migrate import SchemaOutdated
    from agnt_api.serving import HeadDeadlineProtocol

    count = workers or default_workers(settings)
    if count > 1 and settings.is_sqlite:
        # The embedded database wakes long-polls in-process: one process must see every write.
        print(
            "agnt-server: --workers above 1 needs Postgres (AGNT_DATABASE_URL); "
            "SQLite serves from one process",
            file=sys.stderr,
        )
        return 2
    try:
        prepare_schema(settings)
    except SchemaOutdated as exc:
        print(f"agnt-server: {exc}", file=sys.stderr)
        return 1
    options: dict[str, Any] = {
        "host": host,
        "port": port,
        "log_level": "info",
        "access_log": access_log,
        "proxy_headers": True,
        # Connections that send no complete request head in time are closed
        # (agnt_api.serving).
        "http": HeadDeadlineProtocol,
        "timeout_graceful_shutdown": SHUTDOWN_GRACE_SECONDS,
        "timeout_keep_alive": KEEP_ALIVE_SECONDS,
    }
    if count == 1:
        uvicorn.run(create_app(settings), **options)
    else:
        # Each worker builds its app (and its LISTEN connection) from the same environment.
        # A worker answers the supervisor's health pings from a thread that starts only
        # after the interpreter and uvicorn are imported: on a busy machine that takes more
        # than uvicorn's 5 s, and the supervisor would kill and respawn it forever.
        uvicorn.run(
            "agnt_api.cli:worker_app",
            factory=True,
            workers=count,
            timeout_worker_healthcheck=60,
            **options,
        )
    return 0


def worker_app() -> FastAPI:
    """The app of one of ``serve --workers N``'s processes (settings from the environment).

    A worker must not outlive its supervisor: killed with SIGKILL, the supervisor cannot
    stop its workers, and they would keep serving the port. On Linux the kernel sends the
    worker SIGTERM (a graceful stop) when its parent dies.
    """
    from agnt_api.app import create_app

    _stop_with_parent()
    return create_app()


def _stop_with_parent() -> None:
    if not sys.platform.startswith("linux"):
        return
    import ctypes
    import signal

    parent = os.getppid()
    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)
    if os.getppid() != parent:
        # The parent died before the request took effect.
        os.kill(os.getpid(), signal.SIGTERM)


def cmd_keys_create(settings: Settings, role: Role, name: str, principal: str | None) -> int:
    """Create a key and print it once, as JSON."""
    database = _database(settings)
    try:
        principal_id = uuid.UUID(principal) if principal else None
        created = database.transact_write(keys.create_key, role, name, principal_id)
    except LookupError as exc:
        print(f"agnt-server: {exc}", file=sys.stderr)
        return 1
    finally:
        database.dispose()
    print(json.dumps(created.to_json_dict()))
    return 0


def cmd_keys_list(settings: Settings) -> int:
    """Print every key (without the secret) as a JSON array."""
    database = _database(settings)
    try:
        listed = database.transact(keys.list_keys)
    finally:
        database.dispose()
    print(json.dumps([info.to_json_dict() for info in listed]))
    return 0


def cmd_keys_revoke(settings: Settings, prefix: str) -> int:
    """Revoke the key with ``prefix``."""
    database = _database(settings)
    try:
        revoked = database.transact_write(keys.revoke_key, prefix)
    finally:
        database.dispose()
    if not revoked:
        print(f"agnt-server: no active key with prefix {prefix!r}", file=sys.stderr)
        return 1
    print(json.dumps({"prefix": prefix, "revoked": True}))
    return 0


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be 1 or more")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="agnt-server", description="The agnt API service (settings from AGNT_* variables)."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("migrate", help="upgrade the database schema to the newest revision")
    serve = commands.add_parser("serve", help="run the API (uvicorn)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument(
        "--workers",
        type=_positive_int,
        default=None,
        help="worker processes sharing the port (default: CPU count on Postgres, 1 on SQLite)",
    )
    serve.add_argument(
        "--access-log",
        action="store_true",
        help="log a line per request (off by default: it costs CPU on every request)",
    )
    key_commands = commands.add_parser("keys", help="manage API keys").add_subparsers(
        dest="keys_command", required=True
    )
    create = key_commands.add_parser("create", help="create a key (printed once)")
    create.add_argument("--role", required=True, choices=[role.value for role in Role])
    create.add_argument("--name", required=True)
    create.add_argument("--principal-id", help="add the key to this existing principal")
    key_commands.add_parser("list", help="list keys (never the secrets)")
    revoke = key_commands.add_parser("revoke", help="revoke a key by its prefix")
    revoke.add_argument("prefix")
    demo = commands.add_parser("demo", help="run the API and a demo executor locally")
    demo.add_argument("--data-dir", default=".agnt-demo")
    demo.add_argument("--port", type=int, default=8000)
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of ``agnt-server``."""
    args = _parser().parse_args(argv)
    try:
        if args.command == "demo":
            from agnt_api.demo import run_demo

            sys.exit(run_demo(args.data_dir, args.port))
        settings = load_settings()
    except SettingsError as exc:
        print(f"agnt-server: {exc}", file=sys.stderr)
        sys.exit(2)
    if args.command == "migrate":
        code = cmd_migrate(settings)
    elif args.command == "serve":
        code = cmd_serve(settings, args.host, args.port, args.workers, access_log=args.access_log)
    elif args.keys_command == "create":
        code = cmd_keys_create(settings, Role(args.role), args.name, args.principal_id)
    elif args.keys_command == "list":
        code = cmd_keys_list(settings)
    else:
        code = cmd_keys_revoke(settings, args.prefix)
    sys.exit(code)


if __name__ == "__main__":
    main()
