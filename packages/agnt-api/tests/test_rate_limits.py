"""Rate limits: 429 ``rate_limited`` with ``Retry-After``, per caller and action, on both databases.

The app runs with small limits (settings overrides); on Postgres two app instances on one
database stand for two replicas and share each bucket.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from agnt_api.db import Database
from agnt_api.ratelimit import MemoryBuckets, PostgresBuckets, Rate
from agnt_api.settings import Settings
from agnt_models import Role

from .conftest import ON_POSTGRES_ONLY

SMALL_LIMITS: dict[str, Any] = {
    # Slow refills (one token per 100 s or more), so a slow machine cannot refill a bucket
    # between the requests of a test.
    "rate_orders_per_minute": 0.6,
    "rate_orders_burst": 3,
    "rate_publishes_per_minute": 1,
    "rate_publishes_burst": 2,
    "rate_completions_per_minute": 1,
    "rate_completions_burst": 1,
}


@pytest.fixture
async def limited(make_api: Callable[..., Any]) -> AsyncIterator[Any]:
    """The app with small limits, buyers A and B, executors X and Y, and agent ``echo``."""
    instance = await make_api(**{**SMALL_LIMITS, "rate_publishes_burst": 3})
    instance.make_key("buyer-a", Role.BUYER)
    instance.make_key("buyer-b", Role.BUYER)
    instance.make_key("executor-x", Role.EXECUTOR)
    instance.make_key("executor-y", Role.EXECUTOR)
    await instance.publish("executor-x", "echo")
    yield instance
    for made in make_api.made:  # type: ignore[attr-defined]
        await made.client.aclose()
        await made.runtime.close()


async def _order(api: Any, who: str) -> httpx.Response:
    response: httpx.Response = await api.client.post(
        "/v1/jobs",
        headers=api.auth(who),
        json={"agent_id": "echo", "prompt": "hi", "params": {}},
    )
    return response


def _assert_rate_limited(response: httpx.Response, most_seconds: int) -> int:
    assert response.status_code == 429, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["code"] == "rate_limited"
    assert problem["status"] == 429
    retry_after = response.headers["retry-after"]
    assert retry_after.isdigit(), retry_after
    assert 1 <= int(retry_after) <= most_seconds
    return int(retry_after)


async def test_orders_over_the_burst_get_429_with_retry_after(limited: Any) -> None:
    for _ in range(3):
        assert (await _order(limited, "buyer-a")).status_code == 201
    refused = await _order(limited, "buyer-a")
    _assert_rate_limited(refused, most_seconds=100)
    assert "per minute" in refused.json()["detail"]


async def test_an_order_passes_again_after_retry_after(make_api: Callable[..., Any]) -> None:
    instance = await make_api(rate_orders_per_minute=20, rate_orders_burst=1)  # one per 3 s
    try:
        instance.make_key("buyer-a", Role.BUYER)
        instance.make_key("executor-x", Role.EXECUTOR)
        await instance.publish("executor-x", "echo")
        assert (await _order(instance, "buyer-a")).status_code == 201
        wait = _assert_rate_limited(await _order(instance, "buyer-a"), most_seconds=3)
        await asyncio.sleep(wait + 0.05)
        assert (await _order(instance, "buyer-a")).status_code == 201
    finally:
        await instance.client.aclose()
        await instance.runtime.close()


async def test_one_buyers_bucket_does_not_limit_another(limited: Any) -> None:
    for _ in range(3):
        await _order(limited, "buyer-a")
    _assert_rate_limited(await _order(limited, "buyer-a"), most_seconds=100)
    assert (await _order(limited, "buyer-b")).status_code == 201


async def test_a_refused_order_creates_no_job(limited: Any) -> None:
    for _ in range(4):
        await _order(limited, "buyer-a")
    jobs = await limited.client.get("/v1/jobs", headers=limited.auth("buyer-a"))
    assert len(jobs.json()["items"]) == 3


async def test_an_unknown_key_is_401_and_costs_the_bucket_nothing(limited: Any) -> None:
    for _ in range(5):
        response = await limited.client.post(
            "/v1/jobs",
            headers={"Authorization": "Bearer agnt_" + "x" * 43},
            json={"agent_id": "echo", "prompt": "hi"},
        )
        assert response.status_code == 401
    assert (await _order(limited, "buyer-a")).status_code == 201


async def test_publishes_are_limited_per_executor(limited: Any) -> None:
    # The fixture published once already: two more fit in the burst of 3.
    for agent_id in ("echo-2", "echo-3"):
        await limited.publish("executor-x", agent_id)
    refused = await limited.client.put(
        "/v1/executor/agents/echo-4", headers=limited.auth("executor-x"), json={"name": "Echo 4"}
    )
    _assert_rate_limited(refused, most_seconds=60)
    await limited.publish("executor-y", "other")


async def test_status_reports_are_not_limited(limited: Any) -> None:
    job = (await _order(limited, "buyer-a")).json()
    assert (await limited.report("executor-x", job["id"], "accepted")).status_code == 200
    assert (await limited.report("executor-x", job["id"], "running")).status_code == 200
    for progress in range(10, 60, 10):
        answer = await limited.report("executor-x", job["id"], "running", progress=progress)
        assert answer.status_code == 200, answer.text


async def test_completions_are_limited_per_executor(limited: Any) -> None:
    job = (await _order(limited, "buyer-a")).json()
    await limited.run_to_running("executor-x", job["id"])
    done = await limited.complete("executor-x", job["id"], [("a.txt", b"a")])
    assert done.status_code == 200, done.text
    # A retried completion of the same job (the bucket of 1 is spent) is refused before
    # its files are read.
    refused = await limited.complete("executor-x", job["id"], [("a.txt", b"a")])
    _assert_rate_limited(refused, most_seconds=60)


async def test_turned_off_no_request_is_limited(make_api: Callable[..., Any]) -> None:
    instance = await make_api(**SMALL_LIMITS, rate_limits=False)
    try:
        instance.make_key("buyer-a", Role.BUYER)
        instance.make_key("executor-x", Role.EXECUTOR)
        for number in range(4):
            await instance.publish("executor-x", f"echo-{number}")
        for _ in range(6):
            await instance.order("buyer-a", "echo-0")
    finally:
        await instance.client.aclose()
        await instance.runtime.close()


async def test_openapi_documents_429_on_the_limited_routes(limited: Any) -> None:
    spec = (await limited.client.get("/openapi.json")).json()
    limited_operations = {
        (path, method)
        for path, operations in spec["paths"].items()
        for method, operation in operations.items()
        if "429" in operation["responses"]
    }
    assert limited_operations == {
        ("/v1/jobs", "post"),
        ("/v1/executor/agents/{agent_id}", "put"),
        ("/v1/executor/jobs/{job_id}/complete", "post"),
        ("/v1/agents/search", "get"),
    }


async def test_memory_buckets_follow_gcra() -> None:
    now = [1000.0]
    buckets = MemoryBuckets(clock=lambda: now[0])
    rate = Rate(per_minute=6, burst=2)  # one token every 10 s
    assert await buckets.take("b", rate) == 0
    assert await buckets.take("b", rate) == 0
    assert await buckets.take("b", rate) == pytest.approx(10.0)
    now[0] += 4
    assert await buckets.take("b", rate) == pytest.approx(6.0)
    now[0] += 6
    assert await buckets.take("b", rate) == 0
    assert await buckets.take("other", rate) == 0
    now[0] += 1000
    assert await buckets.take("b", rate) == 0
    assert await buckets.take("b", rate) == 0
    assert await buckets.take("b", rate) > 0


# --- Postgres: one bucket for every replica ---------------------------------------------


SHARED_LIMITS = {**SMALL_LIMITS, "rate_orders_per_minute": 0.01, "rate_orders_burst": 4}


@pytest.fixture
def postgres_only(migrated_url: str) -> str:
    """The test's Postgres database (the tests using it run on Postgres only)."""
    return migrated_url


@ON_POSTGRES_ONLY
async def test_two_replicas_share_one_bucket(
    postgres_only: str, make_api: Callable[..., Any]
) -> None:
    replica_a = await make_api(**SHARED_LIMITS)
    replica_b = await make_api(**SHARED_LIMITS)
    try:
        key = replica_a.make_key("buyer-a", Role.BUYER)
        replica_b.keys["buyer-a"] = key
        replica_a.make_key("executor-x", Role.EXECUTOR)
        await replica_a.publish("executor-x", "echo")
        answers = [
            (await _order(replica, "buyer-a")).status_code
            for replica in (replica_a, replica_b, replica_a, replica_b, replica_b, replica_a)
        ]
        assert answers == [201, 201, 201, 201, 429, 429]
    finally:
        for replica in (replica_a, replica_b):
            await replica.client.aclose()
            await replica.runtime.close()


@ON_POSTGRES_ONLY
async def test_concurrent_takes_on_two_engines_never_pass_more_than_the_burst(
    postgres_only: str,
) -> None:
    url = Settings(database_url=postgres_only).database_url
    engines = [Database(url), Database(url)]
    stores = [PostgresBuckets(database) for database in engines]
    rate = Rate(per_minute=0.01, burst=7)
    try:
        waits = await asyncio.gather(
            *(stores[number % 2].take("orders:race", rate) for number in range(24))
        )
    finally:
        for database in engines:
            database.dispose()
    assert sum(1 for wait in waits if wait == 0) == 7
    assert all(wait > 0 for wait in waits if wait != 0)


@ON_POSTGRES_ONLY
async def test_postgres_retry_after_counts_from_the_database_clock(
    postgres_only: str,
) -> None:
    database = Database(Settings(database_url=postgres_only).database_url)
    store = PostgresBuckets(database)
    rate = Rate(per_minute=30, burst=1)  # one token every 2 s
    try:
        assert await store.take("reports:clock", rate) == 0
        started = time.monotonic()
        wait = await store.take("reports:clock", rate)
        assert 0 < wait <= 2.0
        await asyncio.sleep(wait - (time.monotonic() - started) + 0.05)
        assert await store.take("reports:clock", rate) == 0
    finally:
        database.dispose()


@pytest.mark.parametrize("content_type", ["application/json", "application/json; charset=utf-8"])
async def test_failing_orders_cost_a_token_and_429_wins_over_their_error(
    limited: Any, content_type: str
) -> None:
    # The fast order route (plain application/json) and the FastAPI route answer alike:
    # the token is taken before the order is checked, so a spent bucket is a 429 first.
    headers = {**limited.auth("buyer-a"), "Content-Type": content_type}
    failing = [
        {"agent_id": "nobody-has-this", "prompt": "hi", "params": {}},
        {"agent_id": "echo", "prompt": "hi", "params": {}, "timeout_seconds": 10**9},
        {"agent_id": "echo", "prompt": "\x00", "params": {}},
    ]
    answers = [
        await limited.client.post("/v1/jobs", content=json.dumps(body), headers=headers)
        for body in failing
    ]
    assert [answer.status_code for answer in answers] == [404, 422, 422], [
        answer.text for answer in answers
    ]
    for body in failing:
        refused = await limited.client.post("/v1/jobs", content=json.dumps(body), headers=headers)
        _assert_rate_limited(refused, most_seconds=400)
