"""Attempts and deadlines: lost leases and releases requeue a job, deadlines end it."""

from __future__ import annotations

import asyncio
from typing import Any

from agnt_api.services.leases import expire_leases, reap_jobs

from .conftest import Api


async def _claim(api: Api, who: str = "executor-x") -> list[dict[str, Any]]:
    response = await api.client.post("/v1/executor/claims", headers=api.auth(who), json={"max": 10})
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


async def _job(api: Api, job_id: str) -> dict[str, Any]:
    response = await api.client.get(f"/v1/jobs/{job_id}", headers=api.auth("buyer-a"))
    return dict(response.json())


async def _event_kinds(api: Api, job_id: str) -> list[tuple[str, dict[str, Any]]]:
    response = await api.client.get(
        f"/v1/jobs/{job_id}/events", headers={**api.auth("buyer-a"), "Accept": "application/json"}
    )
    return [(e["kind"], e["data"]) for e in response.json()["items"]]


async def _release(api: Api, job_id: str, **body: Any) -> Any:
    return await api.client.post(
        f"/v1/executor/jobs/{job_id}/release", headers=api.auth("executor-x"), json=body
    )


async def _short(make_api: Any, api: Api, **overrides: Any) -> Api:
    short: Api = await make_api(**overrides)
    short.keys, short.principal_ids = api.keys, api.principal_ids
    return short


async def test_a_new_job_shows_its_first_attempt_and_no_deadline(api: Api, echo: Any) -> None:
    job = await api.order("buyer-a", "echo")
    assert (job["attempt"], job["max_attempts"], job["deadline_at"]) == (1, 3, None)


async def test_lost_lease_requeues_until_max_attempts_then_fails(
    make_api: Any, api: Api, echo: Any
) -> None:
    short = await _short(make_api, api, lease_seconds=0.05)
    await short.publish("executor-x", "echo", max_attempts=2)
    job = await short.order("buyer-a", "echo")
    assert [j["id"] for j in await _claim(short)] == [job["id"]]
    await short.run_to_running("executor-x", job["id"])
    await asyncio.sleep(0.1)
    assert await expire_leases(short.runtime) == [job["id"]]
    requeued = await _job(short, job["id"])
    assert (requeued["status"], requeued["attempt"]) == ("pending", 2)
    assert requeued["decision_reason"] == "lease_expired"
    assert requeued["started_at"] is None and requeued["lease_expires_at"] is None

    (again,) = await _claim(short)
    assert (again["id"], again["attempt"]) == (job["id"], 2)
    await asyncio.sleep(0.1)
    assert await expire_leases(short.runtime) == [job["id"]]
    failed = await _job(short, job["id"])
    assert (failed["status"], failed["attempt"], failed["decision_reason"]) == (
        "failed",
        2,
        "lease_expired",
    )
    kinds = [kind for kind, _ in await _event_kinds(short, job["id"])]
    assert kinds == [
        "created",
        "accepted",
        "running",
        "lease_expired",
        "requeued",
        "accepted",
        "lease_expired",
        "failed",
    ]
    assert dict(await _event_kinds(short, job["id"]))["requeued"] == {
        "status": "pending",
        "reason": "lease_expired",
        "attempt": 2,
    }


async def test_a_requeued_job_wakes_a_waiting_claim(make_api: Any, api: Api, echo: Any) -> None:
    short = await _short(make_api, api, lease_seconds=0.05)
    job = await short.order("buyer-a", "echo")
    await _claim(short)
    waiting = asyncio.create_task(
        short.client.post(
            "/v1/executor/claims",
            headers=short.auth("executor-x"),
            json={"max": 1, "wait": 30},
        )
    )
    await asyncio.sleep(0.2)
    assert await expire_leases(short.runtime) == [job["id"]]
    claimed = (await asyncio.wait_for(waiting, 10)).json()["items"]
    assert [(j["id"], j["attempt"]) for j in claimed] == [(job["id"], 2)]


async def test_release_requeues_and_a_repeat_answers_the_same(api: Api, echo: Any) -> None:
    job = await api.order("buyer-a", "echo")
    await _claim(api)
    await api.report("executor-x", job["id"], "running", attempt=1)
    released = await _release(api, job["id"], attempt=1, reason="executor_shutdown")
    assert released.status_code == 200, released.text
    body = released.json()
    assert (body["status"], body["attempt"], body["decision_reason"]) == (
        "pending",
        2,
        "executor_shutdown",
    )
    repeat = await _release(api, job["id"], attempt=1, reason="executor_shutdown")
    assert repeat.status_code == 200
    assert (repeat.json()["status"], repeat.json()["attempt"]) == ("pending", 2)
    # Nobody holds a pending job: releasing it is a 409.
    assert (await _release(api, job["id"])).json()["code"] == "invalid_transition"


async def test_release_of_the_last_attempt_fails_with_its_reason(api: Api, echo: Any) -> None:
    await api.publish("executor-x", "echo", max_attempts=1)
    job = await api.order("buyer-a", "echo")
    await _claim(api)
    released = await _release(api, job["id"], attempt=1, reason="executor_shutdown")
    assert (released.json()["status"], released.json()["decision_reason"]) == (
        "failed",
        "executor_shutdown",
    )
    repeat = await _release(api, job["id"], attempt=1, reason="executor_shutdown")
    assert repeat.status_code == 200 and repeat.json()["status"] == "failed"


async def test_release_of_another_executors_job_is_404(api: Api, echo: Any) -> None:
    job = await api.order("buyer-a", "echo")
    await _claim(api)
    response = await api.client.post(
        f"/v1/executor/jobs/{job['id']}/release", headers=api.auth("executor-y"), json={}
    )
    assert response.status_code == 404
    assert response.json()["code"] == "job_not_found"


async def test_a_report_for_an_earlier_attempt_is_409_stale_attempt(api: Api, echo: Any) -> None:
    job = await api.order("buyer-a", "echo")
    await _claim(api)
    await _release(api, job["id"], attempt=1)
    await _claim(api)
    stale = await api.report("executor-x", job["id"], "running", attempt=1, progress=5)
    assert stale.status_code == 409
    assert stale.json()["code"] == "stale_attempt"
    current = await api.report("executor-x", job["id"], "running", attempt=2, progress=5)
    assert current.status_code == 200 and current.json()["attempt"] == 2


async def test_handler_failure_fails_unless_the_agent_retries_failures(api: Api, echo: Any) -> None:
    job = await api.order("buyer-a", "echo")
    await _claim(api)
    failed = await api.report("executor-x", job["id"], "failed", reason="boom", attempt=1)
    assert failed.json()["status"] == "failed"

    await api.publish("executor-x", "echo", max_attempts=2, retry_on_failure=True)
    retried = await api.order("buyer-a", "echo")
    await _claim(api)
    first = await api.report("executor-x", retried["id"], "failed", reason="boom", attempt=1)
    assert (first.json()["status"], first.json()["attempt"]) == ("pending", 2)
    await _claim(api)
    last = await api.report("executor-x", retried["id"], "failed", reason="boom 2", attempt=2)
    assert (last.json()["status"], last.json()["decision_reason"]) == ("failed", "boom 2")


async def test_deadline_cancels_a_waiting_job_and_fails_a_running_one(api: Api, echo: Any) -> None:
    order = {"agent_id": "echo", "prompt": "hi", "timeout_seconds": 0.2}
    pending = (await api.client.post("/v1/jobs", headers=api.auth("buyer-a"), json=order)).json()
    assert pending["deadline_at"] is not None
    running = (await api.client.post("/v1/jobs", headers=api.auth("buyer-a"), json=order)).json()
    accepted = (await api.client.post("/v1/jobs", headers=api.auth("buyer-a"), json=order)).json()
    untimed = await api.order("buyer-a", "echo")
    claimed = {j["id"] for j in await _claim(api)}
    assert {running["id"], accepted["id"], pending["id"]} <= claimed
    await _release(api, pending["id"], attempt=1)
    await api.report("executor-x", running["id"], "running")
    await asyncio.sleep(0.3)
    round_ = await reap_jobs(api.runtime)
    assert sorted(round_.overdue) == sorted([pending["id"], running["id"], accepted["id"]])
    for job, status in ((pending, "canceled"), (accepted, "canceled"), (running, "failed")):
        ended = await _job(api, job["id"])
        assert (ended["status"], ended["decision_reason"]) == (status, "deadline_exceeded")
    assert (await _job(api, untimed["id"]))["status"] == "accepted"
    assert (await reap_jobs(api.runtime)).overdue == []


async def test_agent_default_timeout_applies_and_its_max_refuses_longer(
    api: Api, echo: Any
) -> None:
    await api.publish("executor-x", "echo", timeout_seconds={"default": 60, "max": 120})
    job = await api.order("buyer-a", "echo")
    assert job["deadline_at"] is not None
    too_long = await api.client.post(
        "/v1/jobs",
        headers=api.auth("buyer-a"),
        json={"agent_id": "echo", "prompt": "hi", "timeout_seconds": 121},
    )
    assert too_long.status_code == 422
    problem = too_long.json()
    assert problem["code"] == "validation_error"
    assert [e["loc"] for e in problem["errors"]] == ["timeout_seconds"]
    assert "120" in problem["errors"][0]["message"]
    agent = (await api.client.get("/v1/agents/echo", headers=api.auth("buyer-a"))).json()
    assert agent["timeout_seconds"] == {"default": 60.0, "max": 120.0}
    assert agent["max_attempts"] == 3 and agent["retry_on_failure"] is False


async def test_bad_timeouts_and_attempts_are_422(api: Api, echo: Any) -> None:
    for body in (
        {"name": "X", "timeout_seconds": {"default": 10, "max": 5}},
        {"name": "X", "max_attempts": 0},
        {"name": "X", "max_attempts": 21},
        {"name": "X", "timeout_seconds": {"max": -1}},
    ):
        response = await api.client.put(
            "/v1/executor/agents/echo", headers=api.auth("executor-x"), json=body
        )
        assert response.status_code == 422, body
        assert response.json()["code"] == "validation_error"
    for timeout in (0, -5, 10**9, "soon"):
        response = await api.client.post(
            "/v1/jobs",
            headers=api.auth("buyer-a"),
            json={"agent_id": "echo", "prompt": "hi", "timeout_seconds": timeout},
        )
        assert response.status_code == 422, timeout
        assert response.json()["code"] == "validation_error"
