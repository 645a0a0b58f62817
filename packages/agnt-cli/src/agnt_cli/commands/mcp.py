"""``agnt mcp``: serve the marketplace to an MCP host (Claude Code, Gemini CLI, an IDE) over
stdio, as the configured key's buyer.

stdout carries the MCP protocol (not a JSON document); errors before the server starts are
the usual JSON on stderr. The MCP SDK is imported only here, when the command runs, so
``agnt --help`` does not pay for it; it comes with ``pip install 'agnt-cli[mcp]'`` and in
the ``agnt`` binary.
"""

import typer

from agnt_cli.connection import open_async_client
from agnt_cli.errors import CliError
from agnt_cli.exit_codes import ExitCode


def mcp(ctx: typer.Context) -> None:
    """Serve agnt as an MCP server over stdio: search agents, order jobs, read results."""
    try:
        from agnt_mcp.server import build_server
    except ImportError as exc:
        raise CliError(
            "mcp_not_installed",
            f"`agnt mcp` needs the MCP SDK ({exc.name}), which this agnt does not bundle: "
            "pip install 'agnt-cli[mcp]', or run uvx --from 'agnt-cli[mcp]' agnt mcp",
            ExitCode.GENERAL,
        ) from exc
    import anyio

    from agnt_cli.mcp_backend import ClientBackend

    client = open_async_client(ctx)
    backend = ClientBackend(client)

    async def backend_for(_ctx: object) -> ClientBackend:
        return backend

    async def serve() -> None:
        async with client:
            await build_server(backend_for).run_stdio_async()

    anyio.run(serve)
