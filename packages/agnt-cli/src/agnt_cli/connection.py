"""The global options (``--api-url``, ``--api-key``) and the API client built from them."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

import typer

from agnt_cli.config import config_path, read_config
from agnt_cli.errors import CliError
from agnt_cli.exit_codes import ExitCode
from agnt_cli.settings import Settings, resolve_settings

if TYPE_CHECKING:
    from agnt_client import AsyncClient, Client


@dataclass(frozen=True)
class GlobalOptions:
    """What the root command's flags said; ``None`` when a flag was not given."""

    api_url: str | None = None
    api_key: str | None = None
    request_timeout: float | None = None


def global_options(ctx: typer.Context) -> GlobalOptions:
    """The root command's options (all unset when the root callback did not run)."""
    return ctx.obj if isinstance(ctx.obj, GlobalOptions) else GlobalOptions()


def current_settings(ctx: typer.Context) -> Settings:
    """The effective settings for this call: flags > environment > config file > default."""
    options = global_options(ctx)
    return resolve_settings(
        {"api_url": options.api_url, "api_key": options.api_key},
        os.environ,
        lambda: read_config(config_path()),
    )


def open_client(ctx: typer.Context) -> Client:
    """A client for the configured API; an error (exit 4) when no API key is configured."""
    settings = current_settings(ctx)
    api_key = _required_key(settings)
    from agnt_client import Client
    from agnt_client.options import DEFAULT_TIMEOUT

    return Client(
        base_url=settings.api_url.value,
        api_key=api_key,
        timeout=global_options(ctx).request_timeout or DEFAULT_TIMEOUT,
    )


def open_async_client(ctx: typer.Context) -> AsyncClient:
    """``open_client``'s asyncio twin (for ``agnt mcp``)."""
    settings = current_settings(ctx)
    api_key = _required_key(settings)
    from agnt_client import AsyncClient
    from agnt_client.options import DEFAULT_TIMEOUT

    return AsyncClient(
        base_url=settings.api_url.value,
        api_key=api_key,
        timeout=global_options(ctx).request_timeout or DEFAULT_TIMEOUT,
    )


def _required_key(settings: Settings) -> str:
    if settings.api_key.value is None:
        raise CliError(
            "not_authenticated",
            "no API key: pass --api-key, set AGNT_API_KEY, or run `agnt config set api_key -`",
            ExitCode.AUTH,
        )
    return settings.api_key.value
