"""A2A v1.0 against a real ``agnt-server`` and the demo executor, driven by ``a2a-sdk``'s client.

The official SDK is the conformance check: it resolves the cards, parses every answer
with its protobuf types and raises its typed errors from the JSON-RPC error codes.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from a2a.client import A2ACardResolver, Client, ClientCallContext, ClientConfig, ClientFactory
from a2a.helpers.proto_helpers import new_data_part, new_text_part
from a2a.types import (
    AgentCard,
    CancelTaskRequest,
    GetTaskRequest,
    ListTasksRequest,
    Message,
    Part,
    Role,
    SendMessageRequest,
    StreamResponse,
    SubscribeToTaskRequest,
    Task,
    TaskState,
)
from a2a.utils.errors import (
    InvalidParamsError,
    TaskNotCancelableError,
    TaskNotFoundError,
    UnsupportedOperationError,
)
from google.protobuf import json_format

from agnt_executor.demo import manifest_path

pytestmark = pytest.mark.slow


class A2AServer:
    """A live API with the demo executor serving demo-echo, demo-wordcount, demo-slow."""

    def __init__(self, live: Any) -> None:
        self.url: str = live.url
        self.buyer_key: str = live.buyer_key
        self.executor_key: str = live.executor_key
        self.headers = {"Authorization": f"Bearer {live.buyer_key}"}

    def http(self) -> httpx.AsyncClient:
        """An async httpx client carrying the buyer key (what the SDK sends with)."""
        return httpx.AsyncClient(headers=self.headers, timeout=90)

    async def card(self, agent_id: str) -> AgentCard:
        """The agent's card, resolved by the SDK from its well-known path."""
        async with httpx.AsyncClient(timeout=30) as anonymous:
            resolver = A2ACardResolver(anonymous, f"{self.url}/a2a/{agent_id}")
            return await resolver.get_agent_card()

    async def client(
        self, agent_id: str, http: httpx.AsyncClient, *, streaming: bool = False
    ) -> Client:
        """An SDK client for the agent, from its card."""
        config = ClientConfig(httpx_client=http, streaming=streaming)
        return ClientFactory(config).create(await self.card(agent_id))


def _start_demo_executor(
    url: str, key: str, log: Path, manifest: Path | None = None
) -> subprocess.Popen[bytes]:
    env = {**os.environ, "AGNT_API_URL": url, "AGNT_API_KEY": key}
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "agnt_executor", "run", str(manifest or manifest_path())],
            env=env,
            stdout=out,
            stderr=out,
        )


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def a2a_server(
    request: pytest.FixtureRequest,
    module_live_api_factory: Callable[..., Any],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[A2AServer]:
    """A live API (SQLite or Postgres) plus the demo executor, its agents published.

    Shared by the module's tests (each orders its own jobs): starting a server and an
    executor costs more than every exchange of a test together.
    """
    if request.param == "sqlite":
        live = module_live_api_factory()
    else:
        make: Callable[[], str] = request.getfixturevalue("make_postgres_database")
        live = module_live_api_factory(database_url=make())
    tmp_path = tmp_path_factory.mktemp("a2a-executor")
    log = tmp_path / "executor.log"
    executor = _start_demo_executor(live.url, live.executor_key, log)
    try:
        deadline = time.monotonic() + 60
        buyer = {"Authorization": f"Bearer {live.buyer_key}"}
        while httpx.get(f"{live.url}/v1/agents/demo-slow", headers=buyer).status_code != 200:
            assert executor.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        yield A2AServer(live)
    finally:
        executor.terminate()
        try:
            executor.wait(timeout=15)
        except subprocess.TimeoutExpired:
            executor.kill()
            executor.wait(timeout=5)


def _message(*parts: Part, metadata: dict[str, Any] | None = None) -> Message:
    message = Message(message_id=str(uuid.uuid4()), role=Role.ROLE_USER, parts=list(parts))
    if metadata:
        message.metadata.update(metadata)
    return message


async def _events(stream: AsyncIterator[StreamResponse]) -> list[StreamResponse]:
    return [event async for event in stream]


async def _one_task(client: Client, request: SendMessageRequest) -> Task:
    events = await _events(client.send_message(request))
    assert len(events) == 1 and events[0].HasField("task")
    return events[0].task


async def test_sdk_resolves_echo_card_sends_a_message_and_downloads_the_artifact(
    a2a_server: A2AServer,
) -> None:
    card = await a2a_server.card("demo-echo")
    assert card.name == "Echo (demo)"
    assert card.capabilities.streaming
    assert [skill.id for skill in card.skills] == ["demo-echo"]
    assert "demo" in card.skills[0].tags
    assert card.skills[0].examples == ['{"uppercase": true}']
    interface = card.supported_interfaces[0]
    assert (interface.url, interface.protocol_binding, interface.protocol_version) == (
        f"{a2a_server.url}/a2a/demo-echo",
        "JSONRPC",
        "1.0",
    )
    bearer = card.security_schemes["agntBuyerKey"].http_auth_security_scheme
    assert bearer.scheme == "Bearer"
    schema = json_format.MessageToDict(card.capabilities.extensions[0].params)["inputSchema"]
    assert schema["properties"]["uppercase"]["type"] == "boolean"

    async with a2a_server.http() as http:
        client = await a2a_server.client("demo-echo", http)
        task = await _one_task(
            client, SendMessageRequest(message=_message(new_text_part("hello a2a")))
        )
        assert task.status.state == TaskState.TASK_STATE_COMPLETED
        [artifact] = task.artifacts
        [part] = artifact.parts
        assert (artifact.name, part.filename, part.media_type) == (
            "echo.txt",
            "echo.txt",
            "text/plain",
        )
        assert json_format.MessageToDict(artifact.metadata)["size"] == len(b"HELLO A2A\n")
        assert (await http.get(part.url)).content == b"HELLO A2A\n"

        quiet = _message(new_text_part("keep it low"), new_data_part({"uppercase": False}))
        task = await _one_task(client, SendMessageRequest(message=quiet))
        assert task.status.state == TaskState.TASK_STATE_COMPLETED
        assert (await http.get(task.artifacts[0].parts[0].url)).content == b"keep it low\n"

        fetched = await client.get_task(GetTaskRequest(id=task.id))
        assert fetched.status.state == TaskState.TASK_STATE_COMPLETED
        assert [p.text for p in fetched.history[0].parts if p.text] == ["keep it low"]
        listed = await client.list_tasks(
            ListTasksRequest(status=TaskState.TASK_STATE_COMPLETED, include_artifacts=True)
        )
        assert listed.total_size == 2 and {t.id for t in listed.tasks} >= {task.id}
        assert listed.tasks[0].artifacts[0].name == "echo.txt"


async def test_sdk_streams_demo_slow_working_then_completed(a2a_server: A2AServer) -> None:
    async with a2a_server.http() as http:
        client = await a2a_server.client("demo-slow", http, streaming=True)
        request = SendMessageRequest(
            message=_message(new_text_part("stream"), new_data_part({"seconds": 1, "size_kb": 1}))
        )
        events = await _events(client.send_message(request))
    assert events[0].HasField("task")
    states = [e.status_update.status.state for e in events if e.HasField("status_update")]
    assert TaskState.TASK_STATE_WORKING in states
    assert states[-1] == TaskState.TASK_STATE_COMPLETED
    assert states.index(TaskState.TASK_STATE_WORKING) < len(states) - 1
    artifacts = [e.artifact_update.artifact.name for e in events if e.HasField("artifact_update")]
    assert sorted(artifacts) == ["payload.bin", "summary.txt"]
    assert events[-1].HasField("status_update")


async def test_sdk_cancels_a_running_task_and_a_second_cancel_is_not_cancelable(
    a2a_server: A2AServer,
) -> None:
    async with a2a_server.http() as http:
        client = await a2a_server.client("demo-slow", http)
        request = SendMessageRequest(
            message=_message(new_text_part("long"), new_data_part({"seconds": 30, "size_kb": 1}))
        )
        request.configuration.return_immediately = True
        task = await _one_task(client, request)
        assert task.status.state in (
            TaskState.TASK_STATE_SUBMITTED,
            TaskState.TASK_STATE_WORKING,
        )
        deadline = time.monotonic() + 30
        while task.status.state != TaskState.TASK_STATE_WORKING:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.1)
            task = await client.get_task(GetTaskRequest(id=task.id))
        canceled = await client.cancel_task(CancelTaskRequest(id=task.id))
        assert canceled.status.state == TaskState.TASK_STATE_CANCELED
        with pytest.raises(TaskNotCancelableError):
            await client.cancel_task(CancelTaskRequest(id=task.id))
        streaming = await a2a_server.client("demo-slow", http, streaming=True)
        with pytest.raises(UnsupportedOperationError):
            await _events(streaming.subscribe(SubscribeToTaskRequest(id=task.id)))


async def test_sdk_gets_typed_errors_for_unknown_tasks_and_bad_params(
    a2a_server: A2AServer,
) -> None:
    async with a2a_server.http() as http:
        client = await a2a_server.client("demo-echo", http)
        unknown = str(uuid.uuid4())
        with pytest.raises(TaskNotFoundError) as not_found:
            await client.get_task(GetTaskRequest(id=unknown))
        assert not_found.value.data == {"taskId": unknown}
        with pytest.raises(TaskNotFoundError):
            await client.cancel_task(CancelTaskRequest(id="not-a-uuid"))

        bad = _message(new_text_part("x"), new_data_part({"uppercase": "loud"}))
        with pytest.raises(InvalidParamsError) as invalid:
            await _events(client.send_message(SendMessageRequest(message=bad)))
        assert invalid.value.data is not None
        assert invalid.value.data["field"] == "params.uppercase"
        assert "params.uppercase" in invalid.value.message

        with_file = _message(new_text_part("x"), Part(url="https://example.com/a.txt"))
        with pytest.raises(InvalidParamsError) as file_part:
            await _events(client.send_message(SendMessageRequest(message=with_file)))
        assert file_part.value.data is not None
        assert file_part.value.data["field"] == "message.parts[1].url"
        assert "does not fetch URLs" in file_part.value.message

        # A task of another agent is not found through this agent's interface.
        other = await a2a_server.client("demo-slow", http)
        task = await _one_task(client, SendMessageRequest(message=_message(new_text_part("mine"))))
        with pytest.raises(TaskNotFoundError):
            await other.get_task(GetTaskRequest(id=task.id))


async def test_subscribe_resumes_after_last_event_id_with_the_missed_updates(
    a2a_server: A2AServer,
) -> None:
    async with a2a_server.http() as http:
        client = await a2a_server.client("demo-slow", http, streaming=True)
        request = SendMessageRequest(
            message=_message(new_text_part("resume"), new_data_part({"seconds": 2, "size_kb": 1}))
        )
        request.configuration.return_immediately = True
        stream = client.send_message(request)
        first = await anext(stream)
        await stream.aclose()
        task_id = first.task.id
        # Resume from the start of the log: every update comes again, then the end.
        context = ClientCallContext(service_parameters={"Last-Event-ID": "0"})
        events = await _events(
            client.subscribe(SubscribeToTaskRequest(id=task_id), context=context)
        )
    assert events[0].HasField("task")
    states = [e.status_update.status.state for e in events if e.HasField("status_update")]
    assert states[0] == TaskState.TASK_STATE_SUBMITTED
    assert states[-1] == TaskState.TASK_STATE_COMPLETED


async def test_marketplace_card_lists_the_agents_and_routes_by_agent_id(
    a2a_server: A2AServer,
) -> None:
    async with httpx.AsyncClient(timeout=30) as anonymous:
        card = await A2ACardResolver(anonymous, a2a_server.url).get_agent_card()
    assert {"demo-echo", "demo-slow", "demo-wordcount"} <= {skill.id for skill in card.skills}
    assert card.supported_interfaces[0].url == f"{a2a_server.url}/a2a"
    async with a2a_server.http() as http:
        client = ClientFactory(ClientConfig(httpx_client=http, streaming=False)).create(card)
        message = _message(new_text_part("a b a"), metadata={"agentId": "demo-wordcount"})
        task = await _one_task(client, SendMessageRequest(message=message))
        assert task.status.state == TaskState.TASK_STATE_COMPLETED
        assert sorted(a.name for a in task.artifacts) == ["report.json", "report.md"]
        with pytest.raises(InvalidParamsError):
            await _events(
                client.send_message(SendMessageRequest(message=_message(new_text_part("who?"))))
            )


COPY_INPUTS = """
import os, shutil
from pathlib import Path
inputs = Path(os.environ["AGNT_INPUT_DIR"])
for path in sorted(inputs.iterdir()):
    shutil.copyfile(path, Path(os.environ["AGNT_OUTPUT_DIR"]) / path.name)
"""

COPIER = """
[[agents]]
id = "copier"
name = "Copier"
input_files = {{ min = 1, max = 2, media_types = ["application/octet-stream", "text/*"] }}
handler = {{ type = "command", argv = ["{python}", "{script}"], stdout_file = false, stderr_file = false }}
"""


async def test_sdk_file_part_reaches_a_command_handler_byte_identical(
    a2a_server: A2AServer, tmp_path: Path
) -> None:
    script = tmp_path / "copy_inputs.py"
    script.write_text(COPY_INPUTS)
    manifest = tmp_path / "copier.toml"
    manifest.write_text(COPIER.format(python=sys.executable, script=script))
    log = tmp_path / "copier.log"
    executor = _start_demo_executor(a2a_server.url, a2a_server.executor_key, log, manifest)
    try:
        deadline = time.monotonic() + 60
        async with a2a_server.http() as http:
            while (await http.get(f"{a2a_server.url}/v1/agents/copier")).status_code != 200:
                assert executor.poll() is None, log.read_text()
                assert time.monotonic() < deadline, log.read_text()
                await asyncio.sleep(0.1)
            card = await a2a_server.card("copier")
            assert list(card.default_input_modes) == [
                "text/plain",
                "application/json",
                "application/octet-stream",
                "text/*",
            ]
            payload = bytes(range(256)) * 40
            file_part = Part(
                raw=payload, filename="blob.bin", media_type="application/octet-stream"
            )
            client = await a2a_server.client("copier", http, streaming=True)
            events = await _events(
                client.send_message(
                    SendMessageRequest(message=_message(new_text_part("copy"), file_part))
                )
            )
            states = [e.status_update.status.state for e in events if e.HasField("status_update")]
            assert states[-1] == TaskState.TASK_STATE_COMPLETED, log.read_text()
            [artifact] = [
                e.artifact_update.artifact for e in events if e.HasField("artifact_update")
            ]
            assert artifact.name == "blob.bin"
            assert (await http.get(artifact.parts[0].url)).content == payload

            pdf = Part(raw=b"%PDF-1.7", filename="a.pdf", media_type="application/pdf")
            with pytest.raises(InvalidParamsError) as refused:
                await _events(
                    client.send_message(
                        SendMessageRequest(message=_message(new_text_part("no"), pdf))
                    )
                )
            assert refused.value.data is not None
            assert refused.value.data["field"] == "message.parts[1].mediaType"
    finally:
        executor.terminate()
        try:
            executor.wait(timeout=15)
        except subprocess.TimeoutExpired:
            executor.kill()
            executor.wait(timeout=5)
