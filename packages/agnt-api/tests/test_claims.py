"""Executors claim jobs atomically and watch the jobs they hold (``/v1/executor/claims``)."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx

from agnt_models import ClaimedJobs, Job, WatchedJobs


async def _claim(api: Any, who: str = "executor-x", **body: Any) -> httpx.Response:
    return await api.client.post("/v1/executor/claims", headers=api.auth(who), json=body)


async def _claimed(api: Any, who: str = "executor-x", **body: Any) -> list[Job]:
    response = await _claim(api, who, **body)
    assert response.status_code == 200, response.text
    return ClaimedJobs.model_validate(response.json()).items


async def _watch(api: Any, job_ids: list[str], wait: float = 0) -> httpx.Response:
    return await api.client.post(
        "/v1/executor/jobs/watch",
        headers=api.auth("executor-x"),
        json={"job_ids": job_ids, "wait": wait},
    )


async def test_claim_takes_the_oldest_pending_jobs_and_accepts_them(api: Any, echo: Any) -> None:
    ordered = [await api.order("buyer-a", "echo", prompt=f"job {n}") for n in range(5)]
    first = await _claimed(api, max=2)
    assert [str(job.id) for job in first] == [ordered[0]["id"], ordered[1]["id"]]
    assert all(job.status == "accepted" and job.lease_expires_at is not None for job in first)
    rest = await _claimed(api, max=10)
    assert [str(job.id) for job in rest] == [job["id"] for job in ordered[2:]]
    assert await _claimed(api, max=10) == []
    seen = await api.client.get(f"/v1/jobs/{ordered[0]['id']}", headers=api.auth("buyer-a"))
    assert seen.json()["status"] == "accepted"


async def test_claim_takes_one_job_by_default(api: Any, echo: Any) -> None:
    await api.order("buyer-a", "echo")
    await api.order("buyer-a", "echo")
    assert len(await _claimed(api)) == 1


async def test_claim_never_takes_another_executors_jobs(api: Any, echo: Any) -> None:
    await api.publish("executor-y", "theirs")
    await api.order("buyer-a", "theirs")
    assert await _claimed(api, max=10) == []
    assert len(await _claimed(api, "executor-y", max=10)) == 1


async def test_claim_only_of_the_named_agents_skips_a_retired_agents_backlog(
    api: Any, echo: Any
) -> None:
    await api.publish("executor-x", "retired")
    for _ in range(3):
        await api.order("buyer-a", "retired")
    wanted = await api.order("buyer-a", "echo")
    claimed = await _claimed(api, agent_ids=["echo"], max=1)
    assert [str(job.id) for job in claimed] == [wanted["id"]]


async def test_claim_of_named_jobs_takes_only_those(api: Any, echo: Any) -> None:
    await api.order("buyer-a", "echo")
    second = await api.order("buyer-a", "echo")
    claimed = await _claimed(api, job_ids=[second["id"]], max=5)
    assert [str(job.id) for job in claimed] == [second["id"]]
    assert await _claimed(api, job_ids=[second["id"]]) == []


async def test_claim_naming_anothers_agent_gets_403_and_unknown_404(api: Any, echo: Any) -> None:
    theirs = await _claim(api, "executor-y", agent_ids=["echo"])
    assert theirs.status_code == 403
    assert theirs.json()["code"] == "forbidden"
    unknown = await _claim(api, "executor-y", agent_ids=["ghost"])
    assert unknown.status_code == 404
    assert unknown.json()["code"] == "agent_not_found"


async def test_claim_by_a_buyer_gets_403(api: Any, echo: Any) -> None:
    response = await _claim(api, "buyer-a")
    assert response.status_code == 403
    assert response.json()["code"] == "forbidden"


async def test_claim_with_bad_bounds_gets_422(api: Any, echo: Any) -> None:
    for body in ({"max": 0}, {"max": 101}, {"wait": 61}, {"wait": -1}):
        response = await _claim(api, **body)
        assert response.status_code == 422, body
        assert response.json()["code"] == "validation_error"


async def test_claim_wait_wakes_when_a_job_is_ordered(api: Any, echo: Any) -> None:
    waiting = asyncio.create_task(_claim(api, wait=50))
    await asyncio.sleep(0.3)
    assert not waiting.done()
    job = await api.order("buyer-a", "echo")
    response = await asyncio.wait_for(waiting, 40)
    assert [item["id"] for item in response.json()["items"]] == [job["id"]]
    assert response.json()["items"][0]["status"] == "accepted"


async def test_claim_wait_ends_empty_at_the_deadline(api: Any, echo: Any) -> None:
    await api.publish("executor-y", "theirs")
    waiting = asyncio.create_task(_claim(api, wait=1))
    await asyncio.sleep(0.2)
    await api.order("buyer-a", "theirs")
    response = await asyncio.wait_for(waiting, 40)
    assert response.status_code == 200
    assert response.json() == {"items": []}


async def test_concurrent_claimers_take_each_job_once(api: Any, echo: Any) -> None:
    ordered = {(await api.order("buyer-a", "echo"))["id"] for _ in range(30)}
    batches = await asyncio.gather(*(_claimed(api, max=3) for _ in range(15)))
    taken = [str(job.id) for batch in batches for job in batch]
    assert len(taken) == len(set(taken)) == 30
    assert set(taken) == ordered


async def test_watch_answers_at_once_with_a_canceled_job(api: Any, echo: Any) -> None:
    held = await api.order("buyer-a", "echo")
    canceled = await api.order("buyer-a", "echo")
    assert len(await _claimed(api, max=2)) == 2
    await api.client.post(f"/v1/jobs/{canceled['id']}/cancel", headers=api.auth("buyer-a"))
    response = await _watch(api, [held["id"], canceled["id"]], wait=30)
    watched = WatchedJobs.model_validate(response.json())
    assert [(str(job.id), job.status) for job in watched.items] == [(canceled["id"], "canceled")]
    assert watched.missing == []


async def test_watch_wakes_when_the_buyer_cancels(api: Any, echo: Any) -> None:
    job = await api.order("buyer-a", "echo")
    await _claimed(api)
    await api.report("executor-x", job["id"], "running")
    waiting = asyncio.create_task(_watch(api, [job["id"]], wait=50))
    await asyncio.sleep(0.3)
    assert not waiting.done()
    await api.client.post(f"/v1/jobs/{job['id']}/cancel", headers=api.auth("buyer-a"))
    response = await asyncio.wait_for(waiting, 5)
    assert [item["status"] for item in response.json()["items"]] == ["canceled"]


async def test_watch_of_held_jobs_ends_empty_at_the_deadline(api: Any, echo: Any) -> None:
    job = await api.order("buyer-a", "echo")
    await _claimed(api)
    waiting = asyncio.create_task(_watch(api, [job["id"]], wait=1))
    await asyncio.sleep(0.2)
    # Progress on a held job is not a reason to answer.
    await api.report("executor-x", job["id"], "running", progress=10)
    response = await asyncio.wait_for(waiting, 40)
    assert response.json() == {"items": [], "missing": []}


async def test_watch_lists_unknown_and_others_jobs_as_missing(api: Any, echo: Any) -> None:
    await api.publish("executor-y", "theirs")
    theirs = await api.order("buyer-a", "theirs")
    ghost = str(uuid.uuid4())
    response = await _watch(api, [theirs["id"], ghost], wait=30)
    assert response.status_code == 200
    assert response.json() == {"items": [], "missing": [theirs["id"], ghost]}


async def test_watch_of_a_pending_job_reports_it_not_held(api: Any, echo: Any) -> None:
    job = await api.order("buyer-a", "echo")
    response = await _watch(api, [job["id"]])
    assert [item["status"] for item in response.json()["items"]] == ["pending"]
