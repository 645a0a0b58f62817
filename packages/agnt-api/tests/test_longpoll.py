"""Long-polls return as soon as something happens: in one process and across replicas."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from agnt_models import JobPage


async def test_job_wait_wakes_when_the_executor_reports(api: Any, echo: Any) -> None:
    job = await api.order("buyer-a", "echo")
    waiting = asyncio.create_task(
        api.client.get(f"/v1/jobs/{job['id']}", params={"wait": 50}, headers=api.auth("buyer-a"))
    )
    await asyncio.sleep(0.3)
    assert not waiting.done()
    await api.report("executor-x", job["id"], "accepted")
    response = await asyncio.wait_for(waiting, 40)
    assert response.json()["status"] == "accepted"


async def test_job_wait_wakes_on_progress(api: Any, echo: Any) -> None:
    job = await api.order("buyer-a", "echo")
    await api.run_to_running("executor-x", job["id"])
    waiting = asyncio.create_task(
        api.client.get(f"/v1/jobs/{job['id']}", params={"wait": 50}, headers=api.auth("buyer-a"))
    )
    await asyncio.sleep(0.3)
    await api.report("executor-x", job["id"], "running", progress=30)
    response = await asyncio.wait_for(waiting, 40)
    assert response.json()["progress"] == 30


async def test_job_wait_on_a_finished_job_returns_at_once(api: Any, echo: Any) -> None:
    job = await api.order("buyer-a", "echo")
    await api.client.post(f"/v1/jobs/{job['id']}/cancel", headers=api.auth("buyer-a"))
    response = await asyncio.wait_for(
        api.client.get(f"/v1/jobs/{job['id']}", params={"wait": 60}, headers=api.auth("buyer-a")),
        30,
    )
    assert response.json()["status"] == "canceled"


async def test_job_wait_returns_the_unchanged_job_at_the_deadline(api: Any, echo: Any) -> None:
    job = await api.order("buyer-a", "echo")
    response = await api.client.get(
        f"/v1/jobs/{job['id']}", params={"wait": 0.3}, headers=api.auth("buyer-a")
    )
    assert response.status_code == 200
    assert response.json()["status"] == "pending"


async def test_executor_wait_wakes_on_a_job_created_by_another_task(api: Any, echo: Any) -> None:
    waiting = asyncio.create_task(
        api.client.get("/v1/executor/jobs", params={"wait": 50}, headers=api.auth("executor-x"))
    )
    await asyncio.sleep(0.3)
    assert not waiting.done()
    job = await api.order("buyer-a", "echo")
    response = await asyncio.wait_for(waiting, 40)
    assert [item["id"] for item in response.json()["items"]] == [job["id"]]


async def test_executor_wait_ignores_other_executors_jobs_and_ends_empty(
    api: Any, echo: Any
) -> None:
    await api.publish("executor-y", "their-agent")
    waiting = asyncio.create_task(
        api.client.get("/v1/executor/jobs", params={"wait": 1}, headers=api.auth("executor-x"))
    )
    await asyncio.sleep(0.2)
    await api.order("buyer-a", "their-agent")
    response = await asyncio.wait_for(waiting, 40)
    assert response.status_code == 200
    assert response.json() == {"items": [], "next_cursor": None}


@pytest.mark.postgres
def test_long_polls_wake_across_two_replicas_on_one_postgres(
    live_api_factory: Callable[..., Any], make_postgres_database: Callable[[], str]
) -> None:
    database_url = make_postgres_database()
    # Each replica as the product serves it on Postgres (a worker per CPU): a wake-up must
    # reach every process of every replica.
    first = live_api_factory(database_url=database_url, workers=None)
    second = live_api_factory(
        database_url=database_url, storage_url=first.storage_url, workers=None
    )
    executor = {"Authorization": f"Bearer {first.executor_key}"}
    buyer = {"Authorization": f"Bearer {first.buyer_key}"}
    published = httpx.put(
        f"{first.url}/v1/executor/agents/replicated", headers=executor, json={"name": "R"}
    )
    assert published.status_code == 201

    async def scenario() -> None:
        async with httpx.AsyncClient(timeout=60) as client:
            poll = asyncio.create_task(
                client.get(f"{second.url}/v1/executor/jobs", params={"wait": 50}, headers=executor)
            )
            await asyncio.sleep(1.0)
            assert not poll.done()
            created = await client.post(
                f"{first.url}/v1/jobs",
                headers=buyer,
                json={"agent_id": "replicated", "prompt": "go"},
            )
            job_id = created.json()["id"]
            page = JobPage.model_validate((await asyncio.wait_for(poll, 45)).json())
            assert [str(job.id) for job in page.items] == [job_id]

            follow = asyncio.create_task(
                client.get(f"{first.url}/v1/jobs/{job_id}", params={"wait": 50}, headers=buyer)
            )
            await asyncio.sleep(1.0)
            accepted = await client.post(
                f"{second.url}/v1/executor/jobs/{job_id}/status",
                headers=executor,
                json={"status": "accepted"},
            )
            assert accepted.status_code == 200
            followed = await asyncio.wait_for(follow, 45)
            assert followed.json()["status"] == "accepted"

    asyncio.run(scenario())
