"""The A2A JSON-RPC binding over ASGI: state mapping, cards, and every documented error."""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from agnt_api.db.tables import input_files
from agnt_models import Role
from agnt_models.a2a import AgentCard, JsonRpcErrorCode, Task, TaskState

from .conftest import ECHO_SCHEMA, Api


def _call(method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"jsonrpc": "2.0", "id": "req-1", "method": method}
    if params is not None:
        body["params"] = params
    return body


def _send(text: str = "hello", data: Any = None, **configuration: Any) -> dict[str, Any]:
    parts: list[dict[str, Any]] = [{"text": text}]
    if data is not None:
        parts.append({"data": data})
    params: dict[str, Any] = {
        "message": {"messageId": str(uuid.uuid4()), "role": "ROLE_USER", "parts": parts}
    }
    params["configuration"] = {"returnImmediately": True, **configuration}
    return _call("SendMessage", params)


async def _rpc(
    api: Api, body: Any, *, who: str = "buyer-a", path: str = "/a2a/echo", **headers: str
) -> dict[str, Any]:
    response = await api.client.post(path, headers={**api.auth(who), **headers}, json=body)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    assert answer["jsonrpc"] == "2.0"
    return answer


def _error(answer: dict[str, Any], code: JsonRpcErrorCode) -> dict[str, Any]:
    assert "result" not in answer, answer
    error: dict[str, Any] = answer["error"]
    assert error["code"] == int(code), error
    return error


def _info(error: dict[str, Any]) -> dict[str, Any]:
    [info] = [d for d in error["data"] if d["@type"].endswith("google.rpc.ErrorInfo")]
    return dict(info)


async def test_job_statuses_map_to_task_states_with_the_reason_as_status_message(
    api: Api, echo: dict[str, Any]
) -> None:
    sent = await _rpc(api, _send("one"))
    task = Task.model_validate(sent["result"]["task"])
    assert task.status.state is TaskState.SUBMITTED
    assert sent["id"] == "req-1"
    states = {}
    for status in ("accepted", "running"):
        assert (await api.report("executor-x", task.id, status)).status_code == 200
        got = await _rpc(api, _call("GetTask", {"id": task.id}))
        states[status] = Task.model_validate(got["result"]).status.state
    assert states == {"accepted": TaskState.WORKING, "running": TaskState.WORKING}
    assert (
        await api.report("executor-x", task.id, "failed", reason="disk full")
    ).status_code == 200
    failed = Task.model_validate((await _rpc(api, _call("GetTask", {"id": task.id})))["result"])
    assert failed.status.state is TaskState.FAILED
    assert failed.status.message is not None
    assert failed.status.message.parts[0].text == "disk full"

    rejected_id = (await _rpc(api, _send("two")))["result"]["task"]["id"]
    await api.report("executor-x", rejected_id, "rejected", reason="not today")
    rejected = (await _rpc(api, _call("GetTask", {"id": rejected_id, "historyLength": 0})))[
        "result"
    ]
    assert rejected["status"]["state"] == "TASK_STATE_REJECTED"
    assert rejected["status"]["message"]["parts"] == [{"text": "not today"}]
    assert "history" not in rejected

    canceled = await _rpc(
        api, _call("CancelTask", {"id": (await _rpc(api, _send()))["result"]["task"]["id"]})
    )
    assert canceled["result"]["status"]["state"] == "TASK_STATE_CANCELED"


async def test_completed_task_carries_each_result_file_as_a_url_artifact(
    api: Api, echo: dict[str, Any]
) -> None:
    task_id = (await _rpc(api, _send("files")))["result"]["task"]["id"]
    await api.run_to_running("executor-x", task_id)
    done = await api.complete("executor-x", task_id, [("out.txt", b"hi\n"), ("data.json", b"{}")])
    assert done.status_code == 200, done.text
    task = (await _rpc(api, _call("GetTask", {"id": task_id})))["result"]
    assert task["status"]["state"] == "TASK_STATE_COMPLETED"
    by_name = {artifact["name"]: artifact for artifact in task["artifacts"]}
    assert set(by_name) == {"out.txt", "data.json"}
    [part] = by_name["out.txt"]["parts"]
    assert part["filename"] == "out.txt" and part["mediaType"] == "text/plain"
    assert by_name["out.txt"]["metadata"]["size"] == 3
    download = await api.client.get(part["url"], headers=api.auth("buyer-a"))
    assert download.content == b"hi\n"


async def test_list_tasks_filters_by_state_pages_and_counts(api: Api, echo: dict[str, Any]) -> None:
    ids = [(await _rpc(api, _send(f"n{i}")))["result"]["task"]["id"] for i in range(3)]
    await api.report("executor-x", ids[0], "accepted")
    working = (await _rpc(api, _call("ListTasks", {"status": "TASK_STATE_WORKING"})))["result"]
    assert [t["id"] for t in working["tasks"]] == [ids[0]]
    assert working["totalSize"] == 1 and working["nextPageToken"] == ""
    assert "artifacts" not in working["tasks"][0]
    first = (await _rpc(api, _call("ListTasks", {"pageSize": 2})))["result"]
    assert [t["id"] for t in first["tasks"]] == [ids[2], ids[1]]
    assert first["totalSize"] == 3 and first["pageSize"] == 2
    rest = (await _rpc(api, _call("ListTasks", {"pageToken": first["nextPageToken"]})))["result"]
    assert [t["id"] for t in rest["tasks"]] == [ids[0]]
    # Another buyer sees none of them.
    other = (await _rpc(api, _call("ListTasks", {}), who="buyer-b"))["result"]
    assert other["tasks"] == [] and other["totalSize"] == 0
    bad_token = await _rpc(api, _call("ListTasks", {"pageToken": "garbage"}))
    _error(bad_token, JsonRpcErrorCode.INVALID_PARAMS)


async def test_a_resent_message_id_is_the_same_task(api: Api, echo: dict[str, Any]) -> None:
    body = _send("once")
    first = await _rpc(api, body)
    again = await _rpc(api, body)
    assert first["result"]["task"]["id"] == again["result"]["task"]["id"]


async def test_agent_card_declares_interface_security_and_input_schema(
    api: Api, echo: dict[str, Any]
) -> None:
    response = await api.client.get("/a2a/echo/.well-known/agent-card.json")
    assert response.status_code == 200
    card = AgentCard.model_validate(response.json())
    assert card.supported_interfaces[0].url == "http://testserver/a2a/echo"
    assert card.security_requirements is not None
    assert card.capabilities.extensions is not None
    params = card.capabilities.extensions[0].params
    assert params is not None and params["inputSchema"] == echo["input_schema"]
    assert card.skills[0].tags == ["text", "demo"]
    missing = await api.client.get("/a2a/nobody/.well-known/agent-card.json")
    assert missing.status_code == 404
    assert missing.json()["code"] == "agent_not_found"
    market = await api.client.get("/.well-known/agent-card.json")
    assert [skill["id"] for skill in market.json()["skills"]] == ["echo"]


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (_call("tasks/get", {"id": "x"}), JsonRpcErrorCode.METHOD_NOT_FOUND),
        (_call("GetTask", {}), JsonRpcErrorCode.INVALID_PARAMS),
        ({"id": 1, "method": "GetTask"}, JsonRpcErrorCode.INVALID_REQUEST),
        ([_call("GetTask", {"id": "x"})], JsonRpcErrorCode.INVALID_REQUEST),
        (
            _call("CreateTaskPushNotificationConfig", {}),
            JsonRpcErrorCode.PUSH_NOTIFICATION_NOT_SUPPORTED,
        ),
        (_call("GetExtendedAgentCard"), JsonRpcErrorCode.UNSUPPORTED_OPERATION),
        (_call("GetTask", {"id": str(uuid.uuid4())}), JsonRpcErrorCode.TASK_NOT_FOUND),
        (_call("SubscribeToTask", {"id": str(uuid.uuid4())}), JsonRpcErrorCode.TASK_NOT_FOUND),
    ],
)
async def test_bad_calls_get_their_jsonrpc_error(
    api: Api, echo: dict[str, Any], body: Any, code: JsonRpcErrorCode
) -> None:
    _error(await _rpc(api, body), code)


async def test_invalid_request_keeps_its_id(api: Api, echo: dict[str, Any]) -> None:
    answer = await _rpc(api, {"jsonrpc": "1.0", "id": 7, "method": "GetTask"})
    assert answer["id"] == 7
    error = _error(answer, JsonRpcErrorCode.INVALID_REQUEST)
    assert "jsonrpc" in error["message"]


async def test_body_that_is_not_json_is_a_parse_error(api: Api, echo: dict[str, Any]) -> None:
    response = await api.client.post(
        "/a2a/echo",
        headers={**api.auth("buyer-a"), "Content-Type": "application/json"},
        content=b"{",
    )
    answer = response.json()
    assert answer["id"] is None
    _error(answer, JsonRpcErrorCode.PARSE_ERROR)


async def test_unsupported_a2a_version_is_version_not_supported(
    api: Api, echo: dict[str, Any]
) -> None:
    answer = await _rpc(api, _call("ListTasks", {}), **{"A2A-Version": "0.3"})
    _error(answer, JsonRpcErrorCode.VERSION_NOT_SUPPORTED)
    assert (await _rpc(api, _call("ListTasks", {}), **{"A2A-Version": "1.0"}))["result"]


@pytest.mark.parametrize(
    ("parts", "field", "words"),
    [
        ([{"text": "x"}, {"data": {"count": 0}}], "params.count", "at least 1"),
        (
            [{"text": "x"}, {"data": {"count": 1}}, {"data": {}}],
            "message.parts[2].data",
            "one data part",
        ),
        ([{"text": "x"}, {"data": [1]}], "message.parts[1].data", "JSON object"),
        (
            [{"text": "x"}, {"raw": "not base64!", "filename": "a.txt"}],
            "message.parts[1].raw",
            "base64",
        ),
        ([{"url": "https://example.com/a"}], "message.parts[0].url", "does not fetch URLs"),
        ([{"text": "x", "url": "https://example.com/a"}], "message.parts[0]", "exactly one"),
        ([], "message.parts", "at least 1"),
    ],
)
async def test_bad_message_parts_are_invalid_params_naming_the_field(
    api: Api, echo: dict[str, Any], parts: list[dict[str, Any]], field: str, words: str
) -> None:
    body = _call(
        "SendMessage",
        {"message": {"messageId": str(uuid.uuid4()), "role": "ROLE_USER", "parts": parts}},
    )
    error = _error(await _rpc(api, body), JsonRpcErrorCode.INVALID_PARAMS)
    assert _info(error)["metadata"]["field"] == field
    assert words in error["message"]
    [bad] = [d for d in error["data"] if d["@type"].endswith("google.rpc.BadRequest")]
    assert bad["fieldViolations"][0]["field"] == field


async def test_message_from_the_agent_role_or_to_an_existing_task_is_refused(
    api: Api, echo: dict[str, Any]
) -> None:
    agent_role = _send()
    agent_role["params"]["message"]["role"] = "ROLE_AGENT"
    error = _error(await _rpc(api, agent_role), JsonRpcErrorCode.INVALID_PARAMS)
    assert _info(error)["metadata"]["field"] == "message.role"
    task_id = (await _rpc(api, _send()))["result"]["task"]["id"]
    follow_up = _send()
    follow_up["params"]["message"]["taskId"] = task_id
    _error(await _rpc(api, follow_up), JsonRpcErrorCode.UNSUPPORTED_OPERATION)
    follow_up["params"]["message"]["taskId"] = str(uuid.uuid4())
    _error(await _rpc(api, follow_up), JsonRpcErrorCode.TASK_NOT_FOUND)


async def test_another_buyers_task_is_not_found(api: Api, echo: dict[str, Any]) -> None:
    task_id = (await _rpc(api, _send()))["result"]["task"]["id"]
    for method in ("GetTask", "CancelTask"):
        _error(
            await _rpc(api, _call(method, {"id": task_id}), who="buyer-b"),
            JsonRpcErrorCode.TASK_NOT_FOUND,
        )


async def test_unknown_agent_is_invalid_params(api: Api) -> None:
    error = _error(await _rpc(api, _send(), path="/a2a/nobody"), JsonRpcErrorCode.INVALID_PARAMS)
    assert _info(error)["metadata"]["agntCode"] == "agent_not_found"


async def test_rpc_needs_a_buyer_key(api: Api, echo: dict[str, Any]) -> None:
    anonymous = await api.client.post("/a2a/echo", json=_call("ListTasks", {}))
    assert anonymous.status_code == 401
    assert anonymous.json()["code"] == "not_authenticated"
    executor = await api.client.post(
        "/a2a/echo", headers=api.auth("executor-x"), json=_call("ListTasks", {})
    )
    assert executor.status_code == 403


async def test_marketplace_interface_orders_the_agent_named_in_metadata(
    api: Api, echo: dict[str, Any]
) -> None:
    body = _send("via market")
    body["params"]["message"]["metadata"] = {"agentId": "echo"}
    task = (await _rpc(api, body, path="/a2a"))["result"]["task"]
    assert task["metadata"]["agentId"] == "echo"
    got = await _rpc(api, _call("GetTask", {"id": task["id"]}), path="/a2a")
    assert got["result"]["id"] == task["id"]
    error = _error(await _rpc(api, _send(), path="/a2a"), JsonRpcErrorCode.INVALID_PARAMS)
    assert _info(error)["metadata"]["field"] == "message.metadata.agentId"


async def test_streaming_error_before_the_stream_is_a_json_answer(
    api: Api, echo: dict[str, Any]
) -> None:
    response = await api.client.post(
        "/a2a/echo",
        headers={**api.auth("buyer-a"), "Accept": "text/event-stream"},
        json=_call("SubscribeToTask", {"id": str(uuid.uuid4())}),
    )
    assert response.headers["content-type"].startswith("application/json")
    _error(response.json(), JsonRpcErrorCode.TASK_NOT_FOUND)


async def test_orders_over_a2a_count_against_the_order_rate_limit(
    make_api: Callable[..., Any],
) -> None:
    api: Api = await make_api(rate_orders_per_minute=1, rate_orders_burst=1)
    try:
        api.make_key("buyer-a", Role.BUYER)
        api.make_key("executor-x", Role.EXECUTOR)
        await api.publish("executor-x", "echo")
        assert "result" in await _rpc(api, _send())
        limited = await api.client.post("/a2a/echo", headers=api.auth("buyer-a"), json=_send())
        assert limited.status_code == 429
        assert limited.json()["code"] == "rate_limited"
        assert "Retry-After" in limited.headers
    finally:
        await api.client.aclose()
        await api.runtime.close()


def _sse(text: str) -> list[tuple[str | None, dict[str, Any]]]:
    """``(id, data)`` per SSE message with data (comments skipped)."""
    messages = []
    for block in text.split("\n\n"):
        fields = dict(
            line.split(": ", 1) for line in block.splitlines() if line and not line.startswith(":")
        )
        if "data" in fields:
            messages.append((fields.get("id"), json.loads(fields["data"])))
    return messages


async def test_subscribe_with_last_event_id_streams_exactly_the_later_events(
    api: Api, echo: dict[str, Any]
) -> None:
    task_id = (await _rpc(api, _send("sse")))["result"]["task"]["id"]
    await api.run_to_running("executor-x", task_id)
    assert (await api.complete("executor-x", task_id, [("a.txt", b"a")])).status_code == 200
    # The log: 1 created, 2 accepted, 3 running, 4 completed.
    response = await api.client.post(
        "/a2a/echo",
        headers={**api.auth("buyer-a"), "Last-Event-ID": "2"},
        json=_call("SubscribeToTask", {"id": task_id}),
    )
    assert response.headers["content-type"].startswith("text/event-stream")
    messages = _sse(response.text)
    assert all(data["id"] == "req-1" for _, data in messages)
    results = [data["result"] for _, data in messages]
    assert results[0]["task"]["status"]["state"] == "TASK_STATE_COMPLETED"
    assert [next(iter(r)) for r in results[1:]] == [
        "statusUpdate",
        "artifactUpdate",
        "statusUpdate",
    ]
    assert results[1]["statusUpdate"]["status"]["state"] == "TASK_STATE_WORKING"
    assert results[2]["artifactUpdate"]["artifact"]["name"] == "a.txt"
    assert results[3]["statusUpdate"]["status"]["state"] == "TASK_STATE_COMPLETED"
    # The id closes each log event: the artifact shares seq 4 with the status after it.
    assert [event_id for event_id, _ in messages] == [None, "3", None, "4"]
    # Without Last-Event-ID a task that has ended is not subscribable.
    ended = await _rpc(api, _call("SubscribeToTask", {"id": task_id}))
    _error(ended, JsonRpcErrorCode.UNSUPPORTED_OPERATION)


# File parts: inline bytes become the job's input files, stored like POST /v1/files.

SMALL_LIMIT = 64
"""``AGNT_MAX_INPUT_BYTES`` of the ``small`` app."""


def _b64(data: bytes, *, urlsafe: bool = False) -> str:
    encoded = base64.urlsafe_b64encode(data) if urlsafe else base64.b64encode(data)
    return encoded.decode().rstrip("=") if urlsafe else encoded.decode()


def _message(*parts: dict[str, Any], blocking: bool = False) -> dict[str, Any]:
    params: dict[str, Any] = {
        "message": {"messageId": str(uuid.uuid4()), "role": "ROLE_USER", "parts": list(parts)}
    }
    params["configuration"] = {"returnImmediately": not blocking}
    return _call("SendMessage", params)


def _stored_objects(tmp_path: Path) -> list[Path]:
    root = tmp_path / "objects"
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def _input_rows(api: Api) -> int:
    return int(
        api.runtime.database.transact(
            lambda c: c.execute(sa.select(sa.func.count()).select_from(input_files)).scalar_one()
        )
    )


@pytest.fixture
async def small(make_api: Callable[..., Any]) -> AsyncIterator[Api]:
    """An app taking at most 64 input bytes and 2 files per order, with agents ``echo``
    (no file rule, a params schema) and ``reader`` (1 or 2 CSV or text files)."""
    api: Api = await make_api(max_input_bytes=SMALL_LIMIT, max_input_files=2)
    api.make_key("buyer-a", Role.BUYER)
    api.make_key("buyer-b", Role.BUYER)
    api.make_key("executor-x", Role.EXECUTOR)
    await api.publish("executor-x", "echo", input_schema=ECHO_SCHEMA)
    await api.publish(
        "executor-x",
        "reader",
        input_files={"min": 1, "max": 2, "media_types": ["text/csv", "text/*"]},
    )
    yield api
    await api.client.aclose()
    await api.runtime.close()


async def _inputs(api: Api, task_id: str) -> dict[str, bytes]:
    listed = await api.client.get(f"/v1/jobs/{task_id}/inputs", headers=api.auth("buyer-a"))
    assert listed.status_code == 200, listed.text
    got = {}
    for file in listed.json()["files"]:
        download = await api.client.get(file["download_url"], headers=api.auth("buyer-a"))
        assert download.status_code == 200
        assert hashlib.sha256(download.content).hexdigest() == file["sha256"]
        got[file["name"]] = download.content
    return got


async def test_file_parts_reach_the_jobs_inputs_byte_identical(small: Api) -> None:
    binary = bytes(range(40))
    csv = b"a,b\n1,2\n"
    body = _message(
        {"text": "read these"},
        {"raw": _b64(csv), "filename": "data.csv", "mediaType": "text/csv"},
        {"raw": _b64(binary[:20], urlsafe=True), "mediaType": "text/plain"},
    )
    task = (await _rpc(small, body, path="/a2a/reader"))["result"]["task"]
    assert task["status"]["state"] == "TASK_STATE_SUBMITTED"
    assert await _inputs(small, task["id"]) == {"data.csv": csv, "input-2.txt": binary[:20]}
    # A resent message is the same task, and stores nothing again.
    assert _input_rows(small) == 2
    again = await _rpc(small, body, path="/a2a/reader")
    assert again["result"]["task"]["id"] == task["id"]
    assert _input_rows(small) == 2
    # A URL part may name an input file the caller uploaded (POST /v1/files).
    uploaded = await small.client.post(
        "/v1/files", headers=small.auth("buyer-a"), files={"file": ("up.csv", csv, "text/csv")}
    )
    assert uploaded.status_code == 201, uploaded.text
    url = f"http://testserver/v1/files/{uploaded.json()['id']}"
    answer = await _rpc(
        small, _message({"text": "x"}, {"url": url, "filename": "renamed.csv"}), path="/a2a/reader"
    )
    assert await _inputs(small, answer["result"]["task"]["id"]) == {"renamed.csv": csv}


async def test_card_advertises_the_media_types_an_agent_takes(small: Api) -> None:
    reader = (await small.client.get("/a2a/reader/.well-known/agent-card.json")).json()
    assert reader["defaultInputModes"] == ["text/plain", "application/json", "text/csv", "text/*"]
    assert reader["skills"][0]["inputModes"] == reader["defaultInputModes"]
    echo = (await small.client.get("/a2a/echo/.well-known/agent-card.json")).json()
    assert echo["defaultInputModes"] == ["text/plain", "application/json"]


def _raw(data: bytes, name: str = "a.csv", media_type: str = "text/csv") -> dict[str, Any]:
    return {"raw": _b64(data), "filename": name, "mediaType": media_type}


@pytest.mark.parametrize(
    ("agent", "parts", "field", "words"),
    [
        pytest.param(
            "reader",
            [_raw(b"x" * 40), _raw(b"y" * 40, "b.csv")],
            "message.parts[2].raw",
            f"at most {SMALL_LIMIT} bytes",
            id="too-large",
        ),
        pytest.param(
            "echo",
            [_raw(b"1"), _raw(b"2", "b.csv"), _raw(b"3", "c.csv")],
            "message.parts[3]",
            "at most 2 input files",
            id="too-many",
        ),
        pytest.param(
            "reader", [_raw(b"1", "../up.csv")], "message.parts[1].filename", "name", id="bad-name"
        ),
        pytest.param(
            "reader",
            [_raw(b"1"), _raw(b"2", "A.CSV")],
            "message.parts[2].filename",
            "a.csv",
            id="same-name",
        ),
        pytest.param(
            "reader",
            [_raw(b"%PDF", "a.pdf", "application/pdf")],
            "message.parts[1].mediaType",
            "does not take application/pdf",
            id="media-type",
        ),
        pytest.param(
            "reader",
            [{"url": "http://169.254.169.254/latest/meta-data", "filename": "a.csv"}],
            "message.parts[1].url",
            "does not fetch URLs",
            id="foreign-url",
        ),
        pytest.param(
            "reader",
            [{"url": f"http://testserver/v1/jobs/{uuid.uuid4()}/files/a.csv"}],
            "message.parts[1].url",
            "POST /v1/files",
            id="own-url-not-an-input-file",
        ),
        pytest.param(
            "reader",
            [{"url": f"http://testserver/v1/files/{uuid.uuid4()}"}],
            "message.parts[1].url",
            "unknown file",
            id="unknown-input-file",
        ),
        pytest.param("reader", [], "message.parts", "at least 1 input file", id="too-few"),
        pytest.param(
            "echo",
            [_raw(b"1"), {"data": {"count": 0}}],
            "params.count",
            "at least 1",
            id="params-break-the-schema-after-upload",
        ),
    ],
)
async def test_refused_file_parts_name_the_part_and_leave_nothing_stored(
    small: Api,
    tmp_path: Path,
    agent: str,
    parts: list[dict[str, Any]],
    field: str,
    words: str,
) -> None:
    for method in ("SendMessage", "SendStreamingMessage"):
        body = {**_message({"text": "x"}, *parts), "method": method}
        response = await small.client.post(
            f"/a2a/{agent}", headers=small.auth("buyer-a"), json=body
        )
        assert response.headers["content-type"].startswith("application/json")
        error = _error(response.json(), JsonRpcErrorCode.INVALID_PARAMS)
        assert _info(error)["metadata"]["field"] == field, error
        assert words in error["message"], error
        assert _input_rows(small) == 0
        assert _stored_objects(tmp_path) == []


async def test_another_buyers_input_file_url_is_unknown(small: Api, tmp_path: Path) -> None:
    uploaded = await small.client.post(
        "/v1/files", headers=small.auth("buyer-b"), files={"file": ("b.csv", b"b", "text/csv")}
    )
    url = f"http://testserver/v1/files/{uploaded.json()['id']}"
    answer = await _rpc(small, _message({"text": "x"}, {"url": url}), path="/a2a/reader")
    error = _error(answer, JsonRpcErrorCode.INVALID_PARAMS)
    assert _info(error)["metadata"]["agntCode"] == "input_file_not_found"
    assert _info(error)["metadata"]["field"] == "message.parts[1].url"


async def test_inline_files_may_make_the_rpc_body_larger_than_a_plain_body(
    make_api: Callable[..., Any],
) -> None:
    api: Api = await make_api(max_body_bytes=4096, max_input_bytes=16_384)
    try:
        api.make_key("buyer-a", Role.BUYER)
        api.make_key("executor-x", Role.EXECUTOR)
        await api.publish("executor-x", "echo")
        data = bytes(range(256)) * 40  # 10 KiB, about 14 KiB as base64
        body = _message({"text": "big"}, {"raw": _b64(data), "filename": "big.bin"})
        task = (await _rpc(api, body))["result"]["task"]
        assert await _inputs(api, task["id"]) == {"big.bin": data}
        # Past what the inline files may take, the body is cut off like any other.
        huge = _message({"text": "huge"}, {"raw": _b64(data * 3), "filename": "huge.bin"})
        refused = await api.client.post("/a2a/echo", headers=api.auth("buyer-a"), json=huge)
        assert refused.status_code == 413
        assert refused.json()["code"] == "payload_too_large"
        assert _input_rows(api) == 1
    finally:
        await api.client.aclose()
        await api.runtime.close()


async def test_an_order_the_agents_rules_or_owner_refuse_is_invalid_params(api: Api) -> None:
    await api.publish("executor-x", "ruled", accept_rules={"max_prompt_bytes": 5})
    refused = _error(
        await _rpc(api, _send("far too long a prompt"), path="/a2a/ruled"),
        JsonRpcErrorCode.INVALID_PARAMS,
    )
    assert _info(refused)["metadata"]["agntCode"] == "order_refused"
    assert "at most 5" in refused["message"]
    gone = await api.client.delete("/v1/executor/agents/ruled", headers=api.auth("executor-x"))
    assert gone.status_code == 200, gone.text
    unpublished = _error(
        await _rpc(api, _send("hi"), path="/a2a/ruled"), JsonRpcErrorCode.INVALID_PARAMS
    )
    assert _info(unpublished)["metadata"]["agntCode"] == "agent_unpublished"
