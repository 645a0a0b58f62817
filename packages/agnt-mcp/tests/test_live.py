"""The MCP server as a host meets it: the official ``mcp`` SDK client against a real
``agnt-server serve`` and the demo executor, over both transports (``agnt mcp`` on stdio,
the API's ``/mcp`` on streamable HTTP), on SQLite and on Postgres.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import httpx2
import pytest
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from mcp_types import (
    BlobResourceContents,
    CallToolResult,
    EmbeddedResource,
    ResourceLink,
    TextResourceContents,
)

from agnt_executor.demo import manifest_path
from agnt_models import Job, JobStatus
from agnt_models.mcp import McpJob, McpJobLogs

pytestmark = [pytest.mark.slow, pytest.mark.timeout(400)]

TOOLS = {
    "search_agents",
    "get_agent",
    "order_job",
    "get_job",
    "get_job_logs",
    "cancel_job",
    "get_result",
}

Progress = list[tuple[float, float | None, str | None]]


@dataclass
class Deployment:
    """A live API with the demo executor serving its agents."""

    url: str
    buyer_key: str
    executor_key: str


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def deployment(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    sqlite_live_api_template: Any,
) -> Iterator[Deployment]:
    """``agnt-server serve`` plus ``agnt-executor run`` on the demo manifest, per module."""
    # The root conftest's LiveApi (one server per module: its fixtures are per test).
    live_api_type = type(sqlite_live_api_template)
    data_dir = tmp_path_factory.mktemp(f"mcp-{request.param}")
    if request.param == "sqlite":
        api = live_api_type(data_dir)
        api.seed_from(sqlite_live_api_template)
    else:
        make_database: Callable[[], str] = request.getfixturevalue("make_postgres_database")
        api = live_api_type(data_dir, database_url=make_database())
        api.migrate()
        api.create_keys()
    api.start()
    log = (data_dir / "executor.log").open("wb")
    executor = subprocess.Popen(
        [sys.executable, "-m", "agnt_executor", "run", str(manifest_path())],
        env={**os.environ, **api.env(), "AGNT_API_KEY": api.executor_key},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    log.close()
    try:
        _wait_for_demo_agents(api.url, api.buyer_key, executor)
        yield Deployment(api.url, api.buyer_key, api.executor_key)
    finally:
        executor.terminate()
        try:
            executor.wait(timeout=15)
        except subprocess.TimeoutExpired:
            executor.kill()
            executor.wait(timeout=10)
        api.stop(grace=3.0)


def _wait_for_demo_agents(url: str, key: str, executor: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 120  # two busy cores start Python slowly
    headers = {"Authorization": f"Bearer {key}"}
    while httpx.get(f"{url}/v1/agents/demo-slow", headers=headers).status_code != 200:
        if executor.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("the demo executor did not publish its agents")
        time.sleep(0.1)


Connect = Callable[[], AbstractAsyncContextManager[Client]]


@pytest.fixture(params=["stdio", "http"])
def connect(request: pytest.FixtureRequest, deployment: Deployment) -> Connect:
    """Opens an MCP client session: ``agnt mcp`` as a subprocess, or ``/mcp`` with the key."""

    @asynccontextmanager
    async def stdio() -> AsyncIterator[Client]:
        env = {**os.environ, "AGNT_API_URL": deployment.url, "AGNT_API_KEY": deployment.buyer_key}
        server = StdioServerParameters(
            command=sys.executable, args=["-m", "agnt_cli", "mcp"], env=env
        )
        async with Client(server) as client:
            yield client

    @asynccontextmanager
    async def http() -> AsyncIterator[Client]:
        async with httpx2.AsyncClient(
            headers={"Authorization": f"Bearer {deployment.buyer_key}"},
            timeout=httpx2.Timeout(30.0, read=120.0),
        ) as http_client:
            transport = streamable_http_client(f"{deployment.url}/mcp", http_client=http_client)
            async with Client(transport) as client:
                yield client

    return stdio if request.param == "stdio" else http


def _job_of(result: CallToolResult) -> McpJob:
    assert not result.is_error, result.content
    return McpJob.model_validate(result.structured_content)


async def test_lists_the_seven_tools_with_input_and_output_schemas(connect: Connect) -> None:
    async with connect() as client:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
        templates = (await client.list_resource_templates()).resource_templates
    assert set(tools) == TOOLS
    for tool in tools.values():
        assert tool.description
        assert tool.input_schema["type"] == "object"
        assert tool.output_schema is not None and tool.output_schema["type"] == "object"
    assert set(tools["order_job"].input_schema["required"]) == {"agent_id", "prompt"}
    assert [t.uri_template for t in templates] == ["agnt://jobs/{job_id}/files/{name}"]


async def test_search_and_get_agent_show_the_input_schema(connect: Connect) -> None:
    async with connect() as client:
        found = await client.call_tool("search_agents", {"query": "word count"})
        agent = await client.call_tool("get_agent", {"agent_id": "demo-wordcount"})
    assert not found.is_error
    assert found.structured_content is not None
    assert "demo-wordcount" in [item["id"] for item in found.structured_content["items"]]
    assert agent.structured_content is not None
    assert agent.structured_content["id"] == "demo-wordcount"
    # The model reads the schema it must fill from the text, not only the structured copy.
    text = agent.content[0].text  # type: ignore[union-attr]  # a TextContent, checked below
    assert "order_job" in text and '"top"' in text
    assert agent.structured_content["input_schema"]["properties"]["top"]["type"] == "integer"


async def test_order_wordcount_reports_progress_and_reads_report_json(connect: Connect) -> None:
    progress: Progress = []

    async def on_progress(value: float, total: float | None, message: str | None) -> None:
        progress.append((value, total, message))

    async with connect() as client:
        result = await client.call_tool(
            "order_job",
            {"agent_id": "demo-wordcount", "prompt": "to be or not to be", "params": {"top": 2}},
            progress_callback=on_progress,
        )
        answer = _job_of(result)
        files = {file.name: file for file in answer.files}
        report = await client.read_resource(files["report.json"].uri)

    assert answer.job.status is JobStatus.COMPLETED
    assert answer.next_step is None
    assert set(files) == {"report.json", "report.md"}
    # Small text files come inline, as text and as embedded resources.
    inline = json.loads(files["report.json"].text or "")
    assert inline["top_words"][0] == {"word": "to", "count": 2}
    embedded = [b for b in result.content if isinstance(b, EmbeddedResource)]
    assert {b.resource.uri for b in embedded} == {f.uri for f in files.values()}
    (contents,) = report.contents
    assert isinstance(contents, TextResourceContents)
    assert contents.mime_type == "application/json"
    assert json.loads(contents.text) == inline
    # Progress came from the job's event stream, increasing, ending at 100 %.
    values = [value for value, _, _ in progress]
    assert values == sorted(values) and len(set(values)) == len(values)
    assert progress[-1] == (100.0, 100.0, "job completed")
    assert any(message == "job running" for _, _, message in progress)


async def test_large_or_binary_results_are_resource_links_read_as_blobs(connect: Connect) -> None:
    async with connect() as client:
        result = await client.call_tool(
            "order_job",
            {"agent_id": "demo-slow", "prompt": "x", "params": {"seconds": 0, "size_kb": 20}},
        )
        answer = _job_of(result)
        files = {file.name: file for file in answer.files}
        payload = await client.read_resource(files["payload.bin"].uri)
    assert files["payload.bin"].text is None
    assert files["summary.txt"].text
    links = [b for b in result.content if isinstance(b, ResourceLink)]
    assert [(link.name, link.size) for link in links] == [("payload.bin", 20 * 1024)]
    (blob,) = payload.contents
    assert isinstance(blob, BlobResourceContents)
    import base64
    import hashlib

    assert hashlib.sha256(base64.b64decode(blob.blob)).hexdigest() == files["payload.bin"].sha256


async def test_wait_runs_out_with_a_get_job_hint_then_logs_and_cancel(connect: Connect) -> None:
    async with connect() as client:
        ordered = await client.call_tool(
            "order_job",
            {
                "agent_id": "demo-slow",
                "prompt": "x",
                "params": {"seconds": 60, "size_kb": 1},
                "wait_seconds": 1,
            },
        )
        answer = _job_of(ordered)
        job_id = str(answer.job.id)
        followed = _job_of(await client.call_tool("get_job", {"job_id": job_id, "wait_seconds": 1}))
        logs = await client.call_tool("get_job_logs", {"job_id": job_id})
        not_yet = await client.call_tool("get_result", {"job_id": job_id})
        canceled = await client.call_tool("cancel_job", {"job_id": job_id})
        again = await client.call_tool("cancel_job", {"job_id": job_id})
    assert answer.job.status not in {JobStatus.COMPLETED, JobStatus.FAILED}
    assert answer.next_step is not None and "get_job" in answer.next_step
    assert followed.job.id == answer.job.id
    assert McpJobLogs.model_validate(logs.structured_content).job_id == answer.job.id
    assert not_yet.is_error and not_yet.structured_content is not None
    assert not_yet.structured_content["code"] == "job_not_completed"
    assert Job.model_validate(canceled.structured_content).status is JobStatus.CANCELED
    assert again.is_error and again.structured_content is not None
    assert again.structured_content["code"] == "invalid_transition"


async def test_refusals_are_tool_errors_with_the_agnt_code(connect: Connect) -> None:
    async with connect() as client:
        unknown = await client.call_tool("get_agent", {"agent_id": "no-such-agent"})
        bad_params = await client.call_tool(
            "order_job", {"agent_id": "demo-wordcount", "prompt": "x", "params": {"top": "many"}}
        )
        bad_id = await client.call_tool("order_job", {"agent_id": "Not An Id", "prompt": "x"})
        no_job = await client.call_tool("get_job", {"job_id": str(uuid.uuid4())})
    assert unknown.is_error and unknown.structured_content is not None
    assert unknown.structured_content["code"] == "agent_not_found"
    assert json.loads(unknown.content[0].text)["code"] == "agent_not_found"  # type: ignore[union-attr]
    assert bad_params.is_error and bad_params.structured_content is not None
    assert bad_params.structured_content["code"] == "validation_error"
    assert [e["loc"] for e in bad_params.structured_content["errors"]] == ["params.top"]
    assert bad_id.is_error and bad_id.structured_content is not None
    assert bad_id.structured_content["code"] in {"validation_error", "agent_not_found"}
    assert no_job.is_error and no_job.structured_content is not None
    assert no_job.structured_content["code"] == "job_not_found"


async def test_reading_a_file_of_an_unknown_job_is_a_resource_not_found(connect: Connect) -> None:
    async with connect() as client:
        with pytest.raises(MCPError) as raised:
            await client.read_resource(f"agnt://jobs/{uuid.uuid4()}/files/report.json")
    assert raised.value.code == -32002
    assert raised.value.data["code"] == "job_not_found"


@pytest.mark.parametrize(
    ("key", "status", "code"),
    [
        (None, 401, "not_authenticated"),
        ("agnt_not-a-real-key-at-all-000000000000000000000", 401, "invalid_api_key"),
        ("executor", 403, "forbidden"),
    ],
)
def test_mcp_endpoint_refuses_a_missing_invalid_or_non_buyer_key(
    deployment: Deployment, key: str | None, status: int, code: str
) -> None:
    headers = {"Accept": "application/json, text/event-stream"}
    if key is not None:
        headers["Authorization"] = f"Bearer {deployment.executor_key if key == 'executor' else key}"
    initialize = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-11-25",
            "capabilities": {},
            "clientInfo": {"name": "test", "version": "0"},
        },
    }
    answer = httpx.post(f"{deployment.url}/mcp", json=initialize, headers=headers)
    assert answer.status_code == status
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["code"] == code


async def test_sdk_client_without_a_key_cannot_connect(deployment: Deployment) -> None:
    async with httpx2.AsyncClient() as http_client:
        transport = streamable_http_client(f"{deployment.url}/mcp", http_client=http_client)
        with pytest.raises(BaseExceptionGroup) as raised:
            async with Client(transport) as client:
                await client.list_tools()
    # The SDK (without OAuth configured) reports the 401 as an error response.
    assert raised.group_contains(MCPError, depth=None)


def test_building_the_server_leaves_the_process_logging_alone() -> None:
    # In a fresh interpreter: pytest's own handlers on the root logger would hide a change.
    code = (
        "import logging; from agnt_mcp.server import build_server; build_server(None);"
        "root = logging.getLogger(); print(root.level, len(root.handlers))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [str(logging.WARNING), "0"]
