"""``agnt mcp`` before the MCP server starts: the usual JSON error and exit code.

The server itself is tested with the mcp SDK's client in packages/agnt-mcp/tests.
"""

from __future__ import annotations


def test_mcp_without_an_api_key_is_exit_4_before_serving(agnt, closed_port_url: str) -> None:
    run = agnt("--api-url", closed_port_url, "mcp")
    assert run.exit_code == 4
    assert run.error()["code"] == "not_authenticated"
    assert run.stdout == ""


def test_mcp_is_listed_in_help(agnt) -> None:
    run = agnt("--help")
    assert run.exit_code == 0
    assert "mcp" in run.stdout and "MCP server over stdio" in run.stdout
