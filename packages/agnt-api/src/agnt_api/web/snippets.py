"""Ready-to-copy ways to order an agent outside the page: agnt, Python, curl, MCP and A2A.

Filled with the agent's id and the order form's values (its defaults, or what was posted),
so a buyer who tried the form can run the same order from a script.
"""

from __future__ import annotations

import json
import mimetypes
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from pydantic import JsonValue


@dataclass(frozen=True)
class Snippet:
    """One way to call the agent: a tab's label and the code to copy."""

    key: str
    label: str
    language: str
    code: str


def _param_flag(name: str, value: JsonValue) -> str:
    # `agnt order --param k=v` reads v as JSON when it parses, else as a string.
    text = value if isinstance(value, str) and not _parses_as_json(value) else json.dumps(value)
    return "--param " + shlex.quote(f"{name}={text}")


def _parses_as_json(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


def _python_literal(value: JsonValue, indent: int = 0) -> str:
    """``value`` as Python source (``True``/``None``, not JSON's ``true``/``null``)."""
    if isinstance(value, dict):
        if not value:
            return "{}"
        pad = " " * (indent + 4)
        items = [
            f"{pad}{json.dumps(k)}: {_python_literal(v, indent + 4)}," for k, v in value.items()
        ]
        return "{\n" + "\n".join(items) + "\n" + " " * indent + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_python_literal(v, indent) for v in value) + "]"
    if value is None:
        return "None"
    if isinstance(value, bool):
        return "True" if value else "False"
    return json.dumps(value, ensure_ascii=False)


def example_file_name(media_types: Sequence[str]) -> str:
    """A file name to show in the snippets of an agent that takes ``media_types``."""
    for media_type in media_types:
        extension = mimetypes.guess_extension(media_type) if "*" not in media_type else None
        if extension:
            return "input" + extension
    return "input.txt"


def order_snippets(
    base_url: str,
    agent_id: str,
    prompt: str,
    params: Mapping[str, JsonValue],
    input_file: str | None = None,
) -> list[Snippet]:
    """The snippets for ordering ``agent_id`` with ``prompt`` and ``params``; with
    ``input_file`` (an agent that takes files), they upload that file too."""
    prompt = prompt or "Your prompt"
    cli = ["agnt order " + shlex.quote(agent_id), "--prompt " + shlex.quote(prompt)]
    cli += [_param_flag(name, value) for name, value in params.items()]
    if input_file:
        cli.append("--file " + shlex.quote(input_file))
    cli_code = " \\\n  ".join([*cli, "--wait"]) + "\nagnt result <job-id> --output-dir results/"
    python_code = (
        "from agnt_client import Client\n\n"
        "client = Client()  # reads AGNT_API_URL and AGNT_API_KEY\n"
        f"job = client.run(\n    {json.dumps(agent_id)},\n"
        f"    prompt={json.dumps(prompt, ensure_ascii=False)},\n"
        f"    params={_python_literal(dict(params), 4)},\n"
        + (f"    files=[{json.dumps(input_file)}],\n" if input_file else "")
        + ")\n"
        'print(client.download_result(job.id, "results"))'
    )
    body = json.dumps({"agent_id": agent_id, "prompt": prompt, "params": dict(params)}, indent=2)
    if input_file:
        # One multipart request: the order as JSON in part "order", the files in "files".
        curl_code = (
            'curl -sS "$AGNT_API_URL/v1/jobs" \\\n'
            '  -H "Authorization: Bearer $AGNT_API_KEY" \\\n'
            f"  --form-string {shlex.quote('order=' + body)} \\\n"
            f"  -F {shlex.quote('files=@' + input_file)}"
        )
    else:
        curl_code = (
            'curl -sS "$AGNT_API_URL/v1/jobs" \\\n'
            '  -H "Authorization: Bearer $AGNT_API_KEY" \\\n'
            '  -H "Content-Type: application/json" \\\n'
            '  -H "Prefer: wait=60" \\\n'
            f"  -d {shlex.quote(body)}"
        )
    mcp = {
        "mcpServers": {
            "agnt": {
                "command": "agnt",
                "args": ["mcp"],
                "env": {"AGNT_API_URL": base_url, "AGNT_API_KEY": "<your buyer key>"},
            }
        }
    }
    a2a_code = (
        f"{base_url}/a2a/{agent_id}/.well-known/agent-card.json\n\n"
        "# The agent card names the JSON-RPC endpoint; send your buyer key as\n"
        "# Authorization: Bearer $AGNT_API_KEY. A task is a job, artifacts are its files."
    )
    return [
        Snippet("cli", "agnt", "shell", cli_code),
        Snippet("python", "Python", "python", python_code),
        Snippet("curl", "curl", "shell", curl_code),
        Snippet("mcp", "MCP", "json", json.dumps(mcp, indent=2)),
        Snippet("a2a", "A2A", "text", a2a_code),
    ]
