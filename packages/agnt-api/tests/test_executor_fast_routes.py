"""The fast claim, status and complete routes answer exactly as the FastAPI routes do.

A JSON body sent as ``application/json`` takes the fast route; the same body sent as
``application/json; charset=utf-8`` takes the FastAPI route (the fast one passes it on).
Every answer, success or error, must be the same on both.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from .conftest import Api

FAST = "application/json"
FASTAPI = "application/json; charset=utf-8"
_VARYING = ("id", "request_id", "created_at", "updated_at", "lease_expires_at", "started_at")


async def _both(
    api: Api, path: str, body: bytes, headers: dict[str, str]
) -> tuple[httpx.Response, httpx.Response]:
    """The same request through the fast route, then through the FastAPI route."""
    fast = await api.client.post(path, content=body, headers={**headers, "Content-Type": FAST})
    slow = await api.client.post(path, content=body, headers={**headers, "Content-Type": FASTAPI})
    return fast, slow


def _comparable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _comparable(v) for k, v in value.items() if k not in _VARYING}
    if isinstance(value, list):
        return [_comparable(item) for item in value]
    return value


def _assert_same(fast: httpx.Response, slow: httpx.Response) -> None:
    assert fast.status_code == slow.status_code, (fast.text, slow.text)
    for header in ("content-type", "www-authenticate", "x-content-type-options"):
        assert fast.headers.get(header) == slow.headers.get(header)
    assert fast.headers["x-request-id"]
    assert _comparable(fast.json()) == _comparable(slow.json())


def _no_key(api: Api) -> dict[str, str]:
    return {}


def _bad_key(api: Api) -> dict[str, str]:
    return {"Authorization": "Bearer agnt_notakey_0000000000000000"}


def _buyer(api: Api) -> dict[str, str]:
    return api.auth("buyer-a")


def _executor(api: Api) -> dict[str, str]:
    return api.auth("executor-x")


@pytest.mark.parametrize(
    ("caller", "body", "status", "code"),
    [
        (_no_key, {"status": "running"}, 401, "not_authenticated"),
        (_bad_key, {"status": "running"}, 401, "invalid_api_key"),
        (_buyer, {"status": "running"}, 403, "forbidden"),
        (_executor, {"status": "bogus"}, 422, "validation_error"),
        (_executor, {"status": "running", "progress": 101}, 422, "validation_error"),
        (_executor, "not json", None, None),
        (_executor, {"status": "running"}, 409, "invalid_transition"),
        (_executor, {"status": "accepted", "attempt": 7}, 409, "stale_attempt"),
    ],
)
async def test_status_report_errors_answer_as_the_fastapi_route(
    api: Api,
    echo: dict[str, Any],
    caller: Callable[[Api], dict[str, str]],
    body: Any,
    status: int | None,
    code: str | None,
) -> None:
    job = await api.order("buyer-a", "echo")
    raw = body.encode() if isinstance(body, str) else json.dumps(body).encode()
    fast, slow = await _both(api, f"/v1/executor/jobs/{job['id']}/status", raw, caller(api))
    _assert_same(fast, slow)
    if status is not None:
        assert fast.status_code == status
        assert fast.json()["code"] == code
    else:
        assert fast.status_code in (400, 422)


async def test_status_report_of_an_unknown_job_is_404_on_both_routes(
    api: Api, echo: dict[str, Any]
) -> None:
    path = f"/v1/executor/jobs/{uuid.uuid4()}/status"
    fast, slow = await _both(api, path, b'{"status": "running"}', _executor(api))
    _assert_same(fast, slow)
    assert fast.status_code == 404
    assert fast.json()["code"] == "job_not_found"


@pytest.mark.parametrize(
    ("caller", "body", "status"),
    [
        (_no_key, {"max": 1}, 401),
        (_buyer, {"max": 1}, 403),
        (_executor, {"max": 0}, 422),
        (_executor, {"max": 1, "agent_ids": ["nobody-has-this"]}, 404),
        (_executor, {"max": 1, "unknown": True, "wait": -1}, 422),
    ],
)
async def test_claim_errors_answer_as_the_fastapi_route(
    api: Api,
    echo: dict[str, Any],
    caller: Callable[[Api], dict[str, str]],
    body: dict[str, Any],
    status: int,
) -> None:
    fast, slow = await _both(api, "/v1/executor/claims", json.dumps(body).encode(), caller(api))
    _assert_same(fast, slow)
    assert fast.status_code == status


async def test_claim_and_reports_answer_alike_on_both_routes(
    api: Api, echo: dict[str, Any]
) -> None:
    first = await api.order("buyer-a", "echo", prompt="same")
    second = await api.order("buyer-a", "echo", prompt="same")
    claims: list[httpx.Response] = []
    for job, content_type in ((first, FAST), (second, FASTAPI)):
        claims.append(
            await api.client.post(
                "/v1/executor/claims",
                content=json.dumps({"max": 1, "job_ids": [job["id"]]}).encode(),
                headers={**_executor(api), "Content-Type": content_type},
            )
        )
    _assert_same(*claims)
    assert [item["id"] for item in claims[0].json()["items"]] == [first["id"]]
    assert claims[0].json()["items"][0]["status"] == "accepted"
    for report in ({"status": "running"}, {"status": "running", "progress": 40}):
        answers = [
            await api.client.post(
                f"/v1/executor/jobs/{job['id']}/status",
                content=json.dumps(report).encode(),
                headers={**_executor(api), "Content-Type": content_type},
            )
            for job, content_type in ((first, FAST), (second, FASTAPI))
        ]
        _assert_same(*answers)
        assert answers[0].json()["status"] == "running"
        assert answers[0].json()["id"] == first["id"]
    # The fast route wrote the job's events as the FastAPI route did.
    events = [
        (await api.client.get(f"/v1/jobs/{job['id']}/events", headers=api.auth("buyer-a")))
        for job in (first, second)
    ]
    kinds = [[event["kind"] for event in answer.json()["items"]] for answer in events]
    assert kinds[0] == kinds[1]
    assert kinds[0][-2:] == ["running", "progress"]


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({"Idempotency-Key": ""}, 422),
        ({"Agnt-Attempt": "first"}, 422),
        ({"Agnt-Attempt": "0"}, 422),
        ({"Agnt-Attempt": "2"}, 409),
    ],
)
async def test_completion_header_errors_are_the_fastapi_route_answers(
    api: Api, echo: dict[str, Any], headers: dict[str, str], status: int
) -> None:
    job = await api.order("buyer-a", "echo")
    await api.run_to_running("executor-x", job["id"])
    answer = await api.client.post(
        f"/v1/executor/jobs/{job['id']}/complete",
        headers={**api.auth("executor-x"), **headers},
        files=[("files", ("out.txt", b"hi"))],
    )
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    if status == 422:
        assert answer.json()["code"] == "validation_error"
    else:
        assert answer.json()["code"] == "stale_attempt"


async def test_completion_with_a_key_answers_the_job_and_its_repeat_the_same(
    api: Api, echo: dict[str, Any]
) -> None:
    job = await api.order("buyer-a", "echo")
    await api.run_to_running("executor-x", job["id"])
    answers = [
        await api.client.post(
            f"/v1/executor/jobs/{job['id']}/complete",
            headers={**api.auth("executor-x"), "Idempotency-Key": "k1", "Agnt-Attempt": "1"},
            files=[("files", ("out.txt", b"hi"))],
        )
        for _ in range(2)
    ]
    assert [answer.status_code for answer in answers] == [200, 200]
    assert answers[0].headers["content-type"] == "application/json"
    assert answers[0].json() == answers[1].json()
    assert answers[0].json()["status"] == "completed"


def test_serve_writes_no_access_log_by_default(live_api_factory: Callable[..., Any]) -> None:
    live = live_api_factory()
    assert httpx.get(f"{live.url}/healthz", timeout=10).status_code == 200
    log = live.log_path.read_text(errors="replace")
    assert "Uvicorn running" in log or "Application startup complete" in log
    assert '"GET /healthz' not in log
    assert '"GET /readyz' not in log


@pytest.mark.parametrize(
    ("caller", "status"),
    [(_no_key, 401), (_bad_key, 401), (_executor, 403), (_buyer, 200)],
)
async def test_job_reads_answer_as_the_fastapi_route(
    api: Api,
    echo: dict[str, Any],
    caller: Callable[[Api], dict[str, str]],
    status: int,
) -> None:
    job = await api.order("buyer-a", "echo")
    path = f"/v1/jobs/{job['id']}"
    fast = await api.client.get(path, headers=caller(api))
    slow = await api.client.get(f"{path}?wait=0", headers=caller(api))
    _assert_same(fast, slow)
    assert fast.status_code == status
    if status == 200:
        assert fast.json()["id"] == job["id"]
        assert fast.headers["content-type"] == "application/json"


async def test_reads_of_unknown_or_foreign_jobs_and_agents_are_404_on_both_routes(
    api: Api, echo: dict[str, Any]
) -> None:
    job = await api.order("buyer-a", "echo")
    for path, who in (
        (f"/v1/jobs/{uuid.uuid4()}", "buyer-a"),
        (f"/v1/jobs/{job['id']}", "buyer-b"),
        ("/v1/agents/no-such-agent", "buyer-a"),
    ):
        fast = await api.client.get(path, headers=api.auth(who))
        slow = await api.client.get(f"{path}?unused=1", headers=api.auth(who))
        _assert_same(fast, slow)
        assert fast.status_code == 404


async def test_agent_reads_answer_as_the_fastapi_route_and_search_stays_search(
    api: Api, echo: dict[str, Any]
) -> None:
    for who in ("buyer-a", "executor-x", "admin"):
        fast = await api.client.get("/v1/agents/echo", headers=api.auth(who))
        slow = await api.client.get("/v1/agents/echo?unused=1", headers=api.auth(who))
        _assert_same(fast, slow)
        assert fast.json()["id"] == "echo"
    search = await api.client.get("/v1/agents/search", headers=api.auth("buyer-a"))
    assert search.status_code == 200
    assert "items" in search.json()


def _order(**extra: Any) -> dict[str, Any]:
    return {"agent_id": "echo", "prompt": "hi", "params": {}, **extra}


@pytest.mark.parametrize(
    ("caller", "body", "headers", "status"),
    [
        (_no_key, _order(), {}, 401),
        (_bad_key, _order(), {}, 401),
        (_executor, _order(), {}, 403),
        (_buyer, _order(agent_id="nobody-has-this"), {}, 404),
        (_buyer, _order(prompt=123), {}, 422),
        (_buyer, {"agent_id": "echo"}, {}, 422),
        (_buyer, "not json", {}, None),
        (_buyer, _order(), {"Idempotency-Key": ""}, 422),
        (_buyer, _order(), {"Idempotency-Key": "k" * 256}, 422),
        (_buyer, _order(timeout_seconds=-1), {}, 422),
        (_buyer, _order(), {}, 201),
        (_buyer, _order(), {"Prefer": "wait=0"}, 201),
    ],
)
async def test_order_answers_as_the_fastapi_route(
    api: Api,
    echo: dict[str, Any],
    caller: Callable[[Api], dict[str, str]],
    body: Any,
    headers: dict[str, str],
    status: int | None,
) -> None:
    raw = body.encode() if isinstance(body, str) else json.dumps(body).encode()
    fast, slow = await _both(api, "/v1/jobs", raw, {**caller(api), **headers})
    _assert_same(fast, slow)
    assert fast.headers.get("preference-applied") == slow.headers.get("preference-applied")
    if status is not None:
        assert fast.status_code == status
    else:
        assert fast.status_code in (400, 422)


async def test_order_with_a_key_is_201_then_200_the_same_job_on_both_routes(
    api: Api, echo: dict[str, Any]
) -> None:
    raw = json.dumps(_order(prompt="keyed")).encode()
    headers = {**_buyer(api), "Idempotency-Key": "order-1"}
    fast, slow = await _both(api, "/v1/jobs", raw, headers)
    assert (fast.status_code, slow.status_code) == (201, 200)
    assert fast.headers["content-type"] == "application/json"
    assert fast.json()["id"] == slow.json()["id"]
    assert fast.json()["agent_online"] is False and fast.json()["warning"]
    again, _ = await _both(api, "/v1/jobs", raw, headers)
    assert again.status_code == 200 and again.json()["id"] == fast.json()["id"]
    other = json.dumps(_order(prompt="other")).encode()
    conflict, conflict_slow = await _both(api, "/v1/jobs", other, headers)
    _assert_same(conflict, conflict_slow)
    assert conflict.status_code == 409
