"""``agnt-server``: migrate, serve, manage keys, run the demo.

Settings come from ``AGNT_*`` environment variables (see ``agnt_api.settings``).
"""

from __future__ import annotations

import argparse
import json
import sys
import uuid
from collections.abc import Sequence

from agnt_api.db import Database
from agnt_api.services import keys
from agnt_api.settings import KEEP_ALIVE_SECONDS, Settings, SettingsError, load_settings
from agnt_models import Role


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


def cmd_serve(settings: Settings, host: str, port: int) -> int:
    """Run the API with uvicorn until interrupted."""
    import uvicorn

    from agnt_api.app import create_app
    from agnt_api.db.migrate import SchemaOutdated

    try:
        prepare_schema(settings)
    except SchemaOutdated as exc:
        print(f"agnt-server: {exc}", file=sys.stderr)
        return 1
    app = create_app(settings)
    # Long-polls may hold a request for a minute; a stopping replica cuts them after 5 s
    # and clients simply poll again (on another replica).
    uvicorn.run(
        app,
        host=host,
        port=port,
        log_level="info",
        proxy_headers=True,
        timeout_graceful_shutdown=5,
        timeout_keep_alive=KEEP_ALIVE_SECONDS,
    )
    return 0


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


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="agnt-server", description="The agnt API service (settings from AGNT_* variables)."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("migrate", help="upgrade the database schema to the newest revision")
    serve = commands.add_parser("serve", help="run the API (uvicorn)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
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
        code = cmd_serve(settings, args.host, args.port)
    elif args.keys_command == "create":
        code = cmd_keys_create(settings, Role(args.role), args.name, args.principal_id)
    elif args.keys_command == "list":
        code = cmd_keys_list(settings)
    else:
        code = cmd_keys_revoke(settings, args.prefix)
    sys.exit(code)


if __name__ == "__main__":
    main()
