"""The real ``agnt-server serve`` process: readiness, keys, restart on the same data."""

from __future__ import annotations

import httpx


def test_live_api_serves_ready_and_keeps_data_across_restart(live_api) -> None:
    executor = {"Authorization": f"Bearer {live_api.executor_key}"}
    buyer = {"Authorization": f"Bearer {live_api.buyer_key}"}
    published = httpx.put(
        f"{live_api.url}/v1/executor/agents/restart-check",
        headers=executor,
        json={"name": "Restart check"},
    )
    assert published.status_code == 201
    live_api.stop()
    live_api.start()
    assert httpx.get(f"{live_api.url}/readyz").json()["checks"] == {
        "database": "ok",
        "storage": "ok",
    }
    agent = httpx.get(f"{live_api.url}/v1/agents/restart-check", headers=buyer)
    assert agent.status_code == 200
    assert agent.json()["name"] == "Restart check"


def test_live_api_creates_keys_of_each_role(live_api) -> None:
    admin = live_api.create_key("admin", name="second-admin")
    response = httpx.get(f"{live_api.url}/v1/jobs", headers={"Authorization": f"Bearer {admin}"})
    assert response.status_code == 200
    assert response.headers["x-request-id"]


def test_huge_bodies_get_413_over_a_real_socket(live_api) -> None:
    buyer = {"Authorization": f"Bearer {live_api.buyer_key}"}
    declared = httpx.post(
        f"{live_api.url}/v1/jobs",
        headers=buyer,
        json={"agent_id": "any-agent", "prompt": "x" * 30_000_000},
        timeout=60,
    )
    assert declared.status_code == 413
    assert declared.json()["code"] == "payload_too_large"

    def chunks():
        for _ in range(100):
            yield b"x" * 100_000

    streamed = httpx.post(
        f"{live_api.url}/v1/jobs",
        headers={**buyer, "Content-Type": "application/json"},
        content=chunks(),
        timeout=60,
    )
    assert streamed.status_code == 413
