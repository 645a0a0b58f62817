"""``/mcp`` in process: the app's lifespan runs the MCP session manager, the mcp SDK's
client talks to it over ASGI. Orders through MCP count against the same rate limit as
``POST /v1/jobs``, and an app served without its lifespan answers 503, not a crash.

The full round trip (demo executor, progress, results) is in packages/agnt-mcp/tests.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from agnt_models import Role


@asynccontextmanager
async def mcp_client(api: Any, who: str) -> AsyncIterator[Client]:
    """The SDK's client on the app's ``/mcp`` as ``who``, with the app's lifespan running."""
    async with (
        api.app.router.lifespan_context(api.app),
        httpx2.AsyncClient(
            transport=httpx2.ASGITransport(app=api.app),
            base_url="http://testserver",
            headers=api.auth(who),
        ) as http_client,
        Client(streamable_http_client("http://testserver/mcp", http_client=http_client)) as client,
    ):
        yield client


async def test_mcp_without_the_app_lifespan_answers_503(api: Any) -> None:
    response = await api.client.post("/mcp", headers=api.auth("buyer-a"), json={})
    assert response.status_code == 503
    assert response.json()["code"] == "service_unavailable"


async def test_mcp_needs_a_buyer_key(api: Any) -> None:
    missing = await api.client.post("/mcp", json={})
    executor = await api.client.post("/mcp", headers=api.auth("executor-x"), json={})
    assert (missing.status_code, missing.json()["code"]) == (401, "not_authenticated")
    assert (executor.status_code, executor.json()["code"]) == (403, "forbidden")


async def test_mcp_orders_share_the_order_rate_limit(make_api: Callable[..., Any]) -> None:
    api = await make_api(rate_orders_per_minute=0.6, rate_orders_burst=1)
    api.make_key("buyer-a", Role.BUYER)
    api.make_key("executor-x", Role.EXECUTOR)
    await api.publish("executor-x", "echo")
    try:
        order = {"agent_id": "echo", "prompt": "hi", "wait_seconds": 0}
        async with mcp_client(api, "buyer-a") as client:
            first = await client.call_tool("order_job", order)
            second = await client.call_tool("order_job", order)
            listed = await client.call_tool("search_agents", {"query": "echo"})
        native = await api.client.post(
            "/v1/jobs", headers=api.auth("buyer-a"), json={"agent_id": "echo", "prompt": "hi"}
        )
    finally:
        await api.client.aclose()
        await api.runtime.close()
    assert not first.is_error and first.structured_content is not None
    assert first.structured_content["job"]["status"] == "pending"
    assert "get_job" in first.structured_content["next_step"]
    assert second.is_error and second.structured_content is not None
    assert second.structured_content["code"] == "rate_limited"
    assert not listed.is_error
    assert native.status_code == 429
