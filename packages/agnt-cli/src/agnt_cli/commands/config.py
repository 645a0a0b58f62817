"""``agnt config set|get|unset|list|path``: the user config file, never showing the API key."""

import sys
from typing import Annotated, Any

import typer

from agnt_cli.config import (
    CONFIG_KEYS,
    check_key,
    check_value,
    config_path,
    read_config,
    write_config,
)
from agnt_cli.connection import current_settings
from agnt_cli.errors import usage_error
from agnt_cli.output import print_document
from agnt_cli.settings import Setting, key_prefix

config_app = typer.Typer(
    help="Read and change the user config file (keys: api_url, api_key).",
    rich_markup_mode=None,
    add_completion=False,
)


def complete_config_key(incomplete: str) -> list[str]:
    """Shell completion for a config key."""
    return [key for key in CONFIG_KEYS if key.startswith(incomplete)]


KeyArgument = Annotated[
    str,
    typer.Argument(metavar="KEY", help="api_url or api_key.", autocompletion=complete_config_key),
]


def describe_setting(setting: Setting) -> dict[str, Any]:
    """A setting as JSON: the API key only as its prefix, never whole."""
    if setting.key == "api_key":
        prefix = key_prefix(setting.value) if setting.value else None
        return {"key": setting.key, "prefix": prefix, "source": setting.source}
    return {"key": setting.key, "value": setting.value, "source": setting.source}


@config_app.callback(invoke_without_command=True)
def config_root(ctx: typer.Context) -> None:
    """Read and change the user config file (keys: api_url, api_key)."""
    if ctx.invoked_subcommand is None and not ctx.resilient_parsing:
        raise usage_error("missing subcommand: set, get, unset, list or path")


@config_app.command("set")
def set_value(
    key: KeyArgument,
    value: Annotated[
        str,
        typer.Argument(
            metavar="VALUE",
            help="The value, or - to read it from stdin (keeps keys out of history).",
        ),
    ],
) -> None:
    """Store a setting in the config file (surrounding whitespace is dropped)."""
    check_key(key)
    value = sys.stdin.readline() if value == "-" else value
    value = check_value(key, value.strip())
    path = config_path()
    values = read_config(path)
    values[key] = value
    write_config(path, values)
    print_document({**describe_setting(Setting(key, value, "config")), "path": str(path)})


@config_app.command("get")
def get_value(ctx: typer.Context, key: KeyArgument) -> None:
    """Show a setting's effective value and its source (flag, env, config or default)."""
    check_key(key)
    print_document(describe_setting(current_settings(ctx).get(key)))


@config_app.command("unset")
def unset_value(key: KeyArgument) -> None:
    """Remove a setting from the config file."""
    check_key(key)
    path = config_path()
    values = read_config(path)
    removed = values.pop(key, None) is not None
    if removed:
        write_config(path, values)
    print_document({"key": key, "removed": removed, "path": str(path)})


@config_app.command("list")
def list_settings(ctx: typer.Context) -> None:
    """Show every setting's effective value and source."""
    settings = current_settings(ctx)
    print_document(
        {
            "path": str(config_path()),
            "settings": [describe_setting(settings.get(key)) for key in CONFIG_KEYS],
        }
    )


@config_app.command("path")
def show_path() -> None:
    """Show where the config file is and whether it exists."""
    path = config_path()
    print_document({"path": str(path), "exists": path.exists()})
