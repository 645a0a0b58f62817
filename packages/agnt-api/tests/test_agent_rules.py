"""Issue 16: accept rules checked at order time, who is online, unpublish, stats that add up."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from agnt_api.services.presence import SeenThrottle
from agnt_models import Agent, AgentStats, Job, Role

RULES = {
    "max_prompt_bytes": 10,
    "allow_empty_prompt": False,
    "params": [
        {"name": "seconds", "maximum": 60, "reason": "works at most 60 seconds per job"},
        {"name": "model", "one_of": ["small", "large"]},
        {"name": "code", "pattern": "[A-Z]{3}"},
    ],
}


async def _claim(api: Any, who: str, **body: Any) -> list[dict[str, Any]]:
    response = await api.client.post("/v1/executor/claims", headers=api.auth(who), json=body)
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


async def _order_status(api: Any, prompt: str, **params: Any) -> tuple[int, dict[str, Any]]:
    response = await api.client.post(
        "/v1/jobs",
        headers=api.auth("buyer-a"),
        json={"agent_id": "ruled", "prompt": prompt, "params": params},
    )
    return response.status_code, dict(response.json())


async def test_an_order_breaking_a_published_accept_rule_is_refused_with_its_reason(
    api: Any,
) -> None:
    published = await api.publish("executor-x", "ruled", accept_rules=RULES)
    assert Agent.model_validate(published).accept_rules is not None
    cases = [
        (("hello", {"seconds": 61}), "works at most 60 seconds per job"),
        (("hello", {"model": "huge"}), 'param \'model\' must be one of "small", "large"'),
        (("hello", {"code": "AB1"}), "param 'code' must match [A-Z]{3}"),
        (("hello", {"code": "ABCD"}), "param 'code' must match [A-Z]{3}"),
        (("   ", {}), "the prompt is empty"),
        (("héllo world", {}), "the prompt is 12 bytes; this agent accepts at most 10"),
    ]
    for (prompt, params), reason in cases:
        status, problem = await _order_status(api, prompt, **params)
        assert (status, problem["code"], problem["detail"]) == (422, "order_refused", reason)
    listed = await api.client.get("/v1/jobs", headers=api.auth("buyer-a"))
    assert listed.json()["items"] == []
    status, job = await _order_status(api, "hello", seconds=60, model="small", code="ABC")
    assert status == 201 and job["status"] == "pending"


async def test_an_agent_without_published_rules_takes_what_its_schema_allows(
    api: Any, echo: Any
) -> None:
    assert echo["accept_rules"] is None
    job = await api.order("buyer-a", "echo", prompt="   ")
    assert job["status"] == "pending"


async def test_republishing_without_a_rule_lifts_it(api: Any) -> None:
    await api.publish("executor-x", "ruled", accept_rules=RULES)
    assert (await _order_status(api, "hello", seconds=61))[0] == 422
    await api.publish("executor-x", "ruled", accept_rules={"params": []})
    assert (await _order_status(api, "hello", seconds=61))[0] == 201


async def test_publishing_a_rule_the_linear_engine_cannot_run_is_422(api: Any) -> None:
    for pattern in ["(?=a)a", "(a)\\1", "["]:
        response = await api.client.put(
            "/v1/executor/agents/ruled",
            headers=api.auth("executor-x"),
            json={"name": "Ruled", "accept_rules": {"params": [{"name": "p", "pattern": pattern}]}},
        )
        assert response.status_code == 422, pattern
        assert response.json()["code"] == "validation_error"
        assert "not a valid regex" in response.text


async def test_a_catastrophic_pattern_runs_in_linear_time(api: Any) -> None:
    rules = {"params": [{"name": "p", "pattern": "(a+)+b"}]}
    await api.publish("executor-x", "ruled", accept_rules=rules)
    status, problem = await asyncio.wait_for(_order_status(api, "x", p="a" * 50_000 + "c"), 10)
    assert (status, problem["code"]) == (422, "order_refused")


async def test_an_agent_is_offline_until_an_executor_claims_and_the_order_says_so(
    api: Any, echo: Any
) -> None:
    agent = (await api.client.get("/v1/agents/echo", headers=api.auth("buyer-a"))).json()
    assert (agent["online"], agent["last_seen_at"]) == (False, None)
    offline = Job.model_validate(await api.order("buyer-a", "echo"))
    assert offline.agent_online is False
    assert offline.warning is not None and "offline" in offline.warning
    fetched = await api.client.get(f"/v1/jobs/{offline.id}", headers=api.auth("buyer-a"))
    assert fetched.json()["agent_online"] is None
    search = await api.client.get(
        "/v1/agents/search", params={"online": "true"}, headers=api.auth("buyer-a")
    )
    assert search.json()["items"] == []

    await _claim(api, "executor-x", agent_ids=["echo"], max=1)
    agent = (await api.client.get("/v1/agents/echo", headers=api.auth("buyer-a"))).json()
    assert agent["online"] is True and agent["last_seen_at"] is not None
    search = await api.client.get(
        "/v1/agents/search", params={"online": "true"}, headers=api.auth("buyer-a")
    )
    assert [(a["id"], a["online"]) for a in search.json()["items"]] == [("echo", True)]
    online = Job.model_validate(await api.order("buyer-a", "echo"))
    assert (online.agent_online, online.warning) == (True, None)


async def test_prefer_wait_keeps_the_offline_warning(api: Any, echo: Any) -> None:
    response = await api.client.post(
        "/v1/jobs",
        headers={**api.auth("buyer-a"), "Prefer": "wait=0.2"},
        json={"agent_id": "echo", "prompt": "hi"},
    )
    assert response.status_code == 201
    assert response.json()["agent_online"] is False


async def test_a_claim_of_another_executor_does_not_bring_an_agent_online(
    api: Any, echo: Any
) -> None:
    await api.publish("executor-y", "other")
    await _claim(api, "executor-y", max=1)
    agent = (await api.client.get("/v1/agents/echo", headers=api.auth("buyer-a"))).json()
    assert agent["online"] is False
    other = (await api.client.get("/v1/agents/other", headers=api.auth("buyer-a"))).json()
    assert other["online"] is True


async def test_a_watching_busy_executor_keeps_its_jobs_agents_online(
    make_api: Callable[..., Any],
) -> None:
    api = await make_api(lease_seconds=0.8)
    api.make_key("buyer-a", Role.BUYER)
    api.make_key("executor-x", Role.EXECUTOR)
    await api.publish("executor-x", "echo")
    job = await api.order("buyer-a", "echo")
    assert job["agent_online"] is False
    (claimed,) = await _claim(api, "executor-x", max=1)
    assert (await api.client.get("/v1/agents/echo", headers=api.auth("buyer-a"))).json()["online"]
    await asyncio.sleep(1.8)  # past two lease periods: offline
    agent = (await api.client.get("/v1/agents/echo", headers=api.auth("buyer-a"))).json()
    assert agent["online"] is False
    api.runtime.seen = SeenThrottle()
    watch = await api.client.post(
        "/v1/executor/jobs/watch",
        headers=api.auth("executor-x"),
        json={"job_ids": [claimed["id"]], "wait": 0},
    )
    assert watch.status_code == 200
    agent = (await api.client.get("/v1/agents/echo", headers=api.auth("buyer-a"))).json()
    assert agent["online"] is True


async def test_unpublish_cancels_pending_jobs_hides_the_agent_and_refuses_orders(
    api: Any, echo: Any
) -> None:
    running = await api.order("buyer-a", "echo")
    await api.run_to_running("executor-x", running["id"])
    pending = await api.order("buyer-b", "echo")
    response = await api.client.delete("/v1/executor/agents/echo", headers=api.auth("executor-x"))
    assert response.status_code == 200
    assert response.json()["published"] is False

    job = (await api.client.get(f"/v1/jobs/{pending['id']}", headers=api.auth("buyer-b"))).json()
    assert (job["status"], job["decision_reason"]) == ("canceled", "agent_unpublished")
    assert job["completed_at"] is not None
    events = await api.client.get(f"/v1/jobs/{pending['id']}/events", headers=api.auth("buyer-b"))
    last = events.json()["items"][-1]
    assert (last["kind"], last["data"]) == (
        "canceled",
        {"status": "canceled", "reason": "agent_unpublished"},
    )
    still = (await api.client.get(f"/v1/jobs/{running['id']}", headers=api.auth("buyer-a"))).json()
    assert still["status"] == "running"
    assert (await api.complete("executor-x", running["id"], [("a.txt", b"a")])).status_code == 200

    agent = await api.client.get("/v1/agents/echo", headers=api.auth("buyer-a"))
    assert agent.status_code == 200 and agent.json()["published"] is False
    for params in ({}, {"q": "echo"}, {"tag": "demo"}):
        found = await api.client.get(
            "/v1/agents/search", params=params, headers=api.auth("buyer-a")
        )
        assert [a["id"] for a in found.json()["items"]] == []
    refused = await api.client.post(
        "/v1/jobs", headers=api.auth("buyer-a"), json={"agent_id": "echo", "prompt": "hi"}
    )
    assert (refused.status_code, refused.json()["code"]) == (409, "agent_unpublished")
    again = await api.client.delete("/v1/executor/agents/echo", headers=api.auth("executor-x"))
    assert again.status_code == 200

    await api.publish("executor-x", "echo", tags=["demo"])
    found = await api.client.get(
        "/v1/agents/search", params={"tag": "demo"}, headers=api.auth("buyer-a")
    )
    assert [a["id"] for a in found.json()["items"]] == ["echo"]
    assert (await api.order("buyer-a", "echo"))["status"] == "pending"


async def test_an_idempotent_retry_of_an_order_made_before_unpublish_answers_its_job(
    api: Any, echo: Any
) -> None:
    body = {"agent_id": "echo", "prompt": "hi"}
    headers = {**api.auth("buyer-a"), "Idempotency-Key": "k-1"}
    first = await api.client.post("/v1/jobs", headers=headers, json=body)
    await api.client.delete("/v1/executor/agents/echo", headers=api.auth("executor-x"))
    retried = await api.client.post("/v1/jobs", headers=headers, json=body)
    assert retried.status_code == 200 and retried.json()["id"] == first.json()["id"]


async def test_only_the_owner_unpublishes(api: Any, echo: Any) -> None:
    other = await api.client.delete("/v1/executor/agents/echo", headers=api.auth("executor-y"))
    assert (other.status_code, other.json()["code"]) == (403, "forbidden")
    buyer = await api.client.delete("/v1/executor/agents/echo", headers=api.auth("buyer-a"))
    assert buyer.status_code == 403
    missing = await api.client.delete("/v1/executor/agents/ghost", headers=api.auth("executor-x"))
    assert (missing.status_code, missing.json()["code"]) == (404, "agent_not_found")
    agent = (await api.client.get("/v1/agents/echo", headers=api.auth("buyer-a"))).json()
    assert agent["published"] is True


async def test_success_rate_counts_only_jobs_that_ran(api: Any, echo: Any) -> None:
    async def ordered() -> str:
        return str((await api.order("buyer-a", "echo"))["id"])

    done = await ordered()
    await api.run_to_running("executor-x", done)
    assert (await api.complete("executor-x", done, [("a.txt", b"a")])).status_code == 200
    failed = await ordered()
    await api.run_to_running("executor-x", failed)
    assert (await api.report("executor-x", failed, "failed", reason="boom")).status_code == 200
    for _ in range(2):
        rejected = await ordered()
        await api.report("executor-x", rejected, "rejected", reason="busy")
    canceled = await ordered()
    await api.client.post(f"/v1/jobs/{canceled}/cancel", headers=api.auth("buyer-a"))
    stats = AgentStats.model_validate(
        (await api.client.get("/v1/agents/echo/stats", headers=api.auth("buyer-a"))).json()
    )
    assert (stats.total, stats.completed, stats.failed, stats.rejected, stats.canceled) == (
        5,
        1,
        1,
        2,
        1,
    )
    assert stats.success_rate == 0.5
