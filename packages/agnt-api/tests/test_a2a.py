"""The A2A JSON-RPC binding over ASGI: state mapping, cards, and every documented error."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from agnt_models import Role
from agnt_models.a2a import AgentCard, JsonRpcErrorCode, Task, TaskState

from .conftest import Api


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
            [{"text": "x"}, {"raw": "aGk=", "filename": "a.txt"}],
            "message.parts[1].raw",
            "not supported yet",
        ),
        ([{"url": "https://example.com/a"}], "message.parts[0].url", "not supported yet"),
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
