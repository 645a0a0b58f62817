"""Leases: a job whose executor goes quiet on its last attempt fails with ``lease_expired``,
exactly once (requeues before that are in test_attempts.py)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import httpx

from agnt_api.services.leases import LEASE_EXPIRED, expire_leases


async def test_expired_lease_fails_the_job_and_wakes_its_followers(
    make_api: Any, api: Any, echo: Any
) -> None:
    short = await make_api(lease_seconds=0.2)
    short.keys = api.keys
    await short.publish("executor-x", "echo", max_attempts=1)
    job = await short.order("buyer-a", "echo")
    assert (await short.report("executor-x", job["id"], "accepted")).status_code == 200
    follower = asyncio.create_task(
        short.client.get(
            f"/v1/jobs/{job['id']}", params={"wait": 50}, headers=short.auth("buyer-a")
        )
    )
    await asyncio.sleep(0.5)
    assert await expire_leases(short.runtime) == [job["id"]]
    followed = (await asyncio.wait_for(follower, 40)).json()
    assert followed["status"] == "failed"
    assert followed["decision_reason"] == LEASE_EXPIRED
    assert followed["lease_expires_at"] is None and followed["completed_at"] is not None
    assert await expire_leases(short.runtime) == []
    late = await short.report("executor-x", job["id"], "running", progress=10)
    assert late.status_code == 409


async def test_live_leases_are_left_alone(api: Any, echo: Any) -> None:
    job = await api.order("buyer-a", "echo")
    await api.run_to_running("executor-x", job["id"])
    pending = await api.order("buyer-a", "echo")
    assert await expire_leases(api.runtime) == []
    for job_id, status in ((job["id"], "running"), (pending["id"], "pending")):
        current = await api.client.get(f"/v1/jobs/{job_id}", headers=api.auth("buyer-a"))
        assert current.json()["status"] == status


async def test_reapers_racing_on_two_replicas_fail_each_job_once(
    make_api: Any, api: Any, echo: Any
) -> None:
    short = await make_api(lease_seconds=0.1)
    short.keys = api.keys
    other = await make_api(lease_seconds=0.1)
    jobs = [await short.order("buyer-a", "echo") for _ in range(6)]
    for job in jobs:
        await short.report("executor-x", job["id"], "accepted")
    await asyncio.sleep(0.3)
    first, second = await asyncio.gather(expire_leases(short.runtime), expire_leases(other.runtime))
    assert sorted(first + second) == sorted(job["id"] for job in jobs)
    assert not set(first) & set(second)


def test_running_server_reaps_expired_leases_by_itself(
    live_api_factory: Callable[..., Any],
) -> None:
    live = live_api_factory(
        env={"AGNT_LEASE_SECONDS": "0.5", "AGNT_REAPER_INTERVAL_SECONDS": "0.2"}
    )
    executor = {"Authorization": f"Bearer {live.executor_key}"}
    buyer = {"Authorization": f"Bearer {live.buyer_key}"}
    with httpx.Client(base_url=live.url, timeout=60) as client:
        client.put(
            "/v1/executor/agents/sleepy",
            headers=executor,
            json={"name": "Sleepy", "max_attempts": 1},
        )
        job = client.post("/v1/jobs", headers=buyer, json={"agent_id": "sleepy", "prompt": "z"})
        job_id = job.json()["id"]
        accepted = client.post(
            f"/v1/executor/jobs/{job_id}/status", headers=executor, json={"status": "accepted"}
        )
        assert accepted.status_code == 200
        deadline = time.monotonic() + 60
        status = "accepted"
        while status == "accepted" and time.monotonic() < deadline:
            current = client.get(f"/v1/jobs/{job_id}", params={"wait": 10}, headers=buyer).json()
            status = current["status"]
        assert status == "failed"
        assert current["decision_reason"] == LEASE_EXPIRED


async def test_hundreds_of_leases_expiring_at_once_wake_a_watch(
    make_api: Any, api: Any, echo: Any
) -> None:
    # More job topics than one NOTIFY payload holds (8,000 bytes): announced in chunks.
    short = await make_api(lease_seconds=0.5)
    short.keys = api.keys
    ordered = [(await short.order("buyer-a", "echo"))["id"] for _ in range(220)]
    for _ in range(3):
        claim = await short.client.post(
            "/v1/executor/claims", headers=short.auth("executor-x"), json={"max": 100}
        )
        assert claim.status_code == 200
    last = ordered[-1]
    watch = asyncio.create_task(
        short.client.post(
            "/v1/executor/jobs/watch",
            headers=short.auth("executor-x"),
            json={"job_ids": [last], "wait": 50},
        )
    )
    await asyncio.sleep(0.6)
    assert sorted(await expire_leases(short.runtime)) == sorted(ordered)
    watched = (await asyncio.wait_for(watch, 20)).json()
    # Attempts left: the jobs went back to the queue, which the watch reports at once.
    assert [(item["id"], item["status"]) for item in watched["items"]] == [(last, "pending")]
