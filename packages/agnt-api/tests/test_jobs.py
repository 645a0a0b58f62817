"""The buyer's jobs: ordering (with idempotency), reading, listing, results, canceling."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest

from agnt_models import Job, JobPage


async def test_order_returns_a_pending_job(api: Any, echo: Any) -> None:
    response = await api.client.post(
        "/v1/jobs",
        headers=api.auth("buyer-a"),
        json={"agent_id": "echo", "prompt": "hi", "params": {"count": 2}},
    )
    assert response.status_code == 201
    job = Job.model_validate(response.json())
    assert job.status == "pending"
    assert job.buyer_id == api.principal_ids["buyer-a"]
    assert job.params == {"count": 2}
    assert job.started_at is None and job.duration_seconds is None


async def test_order_for_unknown_agent_gets_404(api: Any) -> None:
    response = await api.client.post(
        "/v1/jobs", headers=api.auth("buyer-a"), json={"agent_id": "ghost", "prompt": "hi"}
    )
    assert response.status_code == 404
    assert response.json()["code"] == "agent_not_found"


@pytest.mark.parametrize(
    ("params", "loc"),
    [
        ({"count": "two"}, "params.count"),
        ({"count": 0}, "params.count"),
        ({"colour": "red"}, "params.colour"),
    ],
)
async def test_params_against_input_schema_get_422_naming_the_field(
    api: Any, echo: Any, params: dict[str, Any], loc: str
) -> None:
    response = await api.client.post(
        "/v1/jobs",
        headers=api.auth("buyer-a"),
        json={"agent_id": "echo", "prompt": "hi", "params": params},
    )
    assert response.status_code == 422
    problem = response.json()
    assert problem["code"] == "validation_error"
    assert problem["errors"][0]["loc"] == loc
    assert loc in problem["detail"]


async def test_same_idempotency_key_and_body_returns_the_same_job_with_200(
    api: Any, echo: Any
) -> None:
    headers = {**api.auth("buyer-a"), "Idempotency-Key": "order-1"}
    body = {"agent_id": "echo", "prompt": "hi", "params": {"count": 1}}
    first = await api.client.post("/v1/jobs", headers=headers, json=body)
    again = await api.client.post("/v1/jobs", headers=headers, json=body)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["id"] == first.json()["id"]
    other_buyer = await api.client.post(
        "/v1/jobs", headers={**api.auth("buyer-b"), "Idempotency-Key": "order-1"}, json=body
    )
    assert other_buyer.status_code == 201
    assert other_buyer.json()["id"] != first.json()["id"]


async def test_same_idempotency_key_with_other_body_gets_409(api: Any, echo: Any) -> None:
    headers = {**api.auth("buyer-a"), "Idempotency-Key": "order-2"}
    first = await api.client.post(
        "/v1/jobs", headers=headers, json={"agent_id": "echo", "prompt": "one"}
    )
    assert first.status_code == 201
    clash = await api.client.post(
        "/v1/jobs", headers=headers, json={"agent_id": "echo", "prompt": "two"}
    )
    assert clash.status_code == 409
    assert clash.json()["code"] == "idempotency_conflict"


async def test_concurrent_retries_with_one_idempotency_key_make_one_job(
    api: Any, echo: Any
) -> None:
    headers = {**api.auth("buyer-a"), "Idempotency-Key": "burst"}
    body = {"agent_id": "echo", "prompt": "hi"}
    responses = await asyncio.gather(
        *(api.client.post("/v1/jobs", headers=headers, json=body) for _ in range(8))
    )
    assert sorted(r.status_code for r in responses) == [200] * 7 + [201]
    assert len({r.json()["id"] for r in responses}) == 1


async def test_list_is_newest_first_filtered_and_keyset_paginated(api: Any, echo: Any) -> None:
    await api.publish("executor-y", "other-agent")
    ordered = [await api.order("buyer-a", "echo", prompt=f"p{n}") for n in range(5)]
    await api.order("buyer-a", "other-agent")
    await api.order("buyer-b", "echo")
    await api.client.post(f"/v1/jobs/{ordered[0]['id']}/cancel", headers=api.auth("buyer-a"))
    ids: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"agent_id": "echo", "limit": 2}
        if cursor:
            params["cursor"] = cursor
        response = await api.client.get("/v1/jobs", params=params, headers=api.auth("buyer-a"))
        page = JobPage.model_validate(response.json())
        ids += [str(job.id) for job in page.items]
        cursor = page.next_cursor
        if cursor is None:
            break
    assert ids == [job["id"] for job in reversed(ordered)]
    canceled = await api.client.get(
        "/v1/jobs", params={"status": "canceled"}, headers=api.auth("buyer-a")
    )
    assert [job["id"] for job in canceled.json()["items"]] == [ordered[0]["id"]]


async def test_cursor_of_one_filter_is_refused_by_another(api: Any, echo: Any) -> None:
    for _ in range(3):
        await api.order("buyer-a", "echo")
    page = await api.client.get("/v1/jobs", params={"limit": 1}, headers=api.auth("buyer-a"))
    cursor = page.json()["next_cursor"]
    refused = await api.client.get(
        "/v1/jobs",
        params={"limit": 1, "status": "pending", "cursor": cursor},
        headers=api.auth("buyer-a"),
    )
    assert refused.status_code == 400
    assert refused.json()["code"] == "invalid_cursor"


async def test_get_job_and_unknown_job_is_404(api: Any, echo: Any) -> None:
    job = await api.order("buyer-a", "echo")
    found = await api.client.get(f"/v1/jobs/{job['id']}", headers=api.auth("buyer-a"))
    # Only the order's answer says whether the agent was online (issue 16).
    assert found.json() == {**job, "agent_online": None, "warning": None}
    missing = await api.client.get(f"/v1/jobs/{uuid.uuid4()}", headers=api.auth("buyer-a"))
    assert missing.status_code == 404
    assert missing.json()["code"] == "job_not_found"


async def test_result_is_409_until_completed_then_lists_files(api: Any, echo: Any) -> None:
    job = await api.order("buyer-a", "echo")
    early = await api.client.get(f"/v1/jobs/{job['id']}/result", headers=api.auth("buyer-a"))
    assert early.status_code == 409
    assert early.json()["code"] == "job_not_completed"
    await api.run_to_running("executor-x", job["id"])
    done = await api.complete(
        "executor-x", job["id"], [("out.md", b"# hi\n"), ("data.json", b"{}")]
    )
    assert done.status_code == 200
    result = await api.client.get(f"/v1/jobs/{job['id']}/result", headers=api.auth("buyer-a"))
    files = {f["name"]: f for f in result.json()["files"]}
    assert files["out.md"]["mime"] == "text/markdown"
    assert files["data.json"]["mime"] == "application/json"
    assert files["out.md"]["size"] == 5
    assert files["out.md"]["download_url"] == (
        f"http://testserver/v1/jobs/{job['id']}/files/out.md"
    )


async def test_cancel_moves_to_canceled_and_a_terminal_job_gets_409(api: Any, echo: Any) -> None:
    job = await api.order("buyer-a", "echo")
    await api.run_to_running("executor-x", job["id"])
    canceled = await api.client.post(f"/v1/jobs/{job['id']}/cancel", headers=api.auth("buyer-a"))
    assert canceled.status_code == 200
    assert canceled.json()["status"] == "canceled"
    assert canceled.json()["completed_at"] is not None
    assert canceled.json()["lease_expires_at"] is None
    again = await api.client.post(f"/v1/jobs/{job['id']}/cancel", headers=api.auth("buyer-a"))
    assert again.status_code == 409
    assert again.json()["code"] == "invalid_transition"
    late = await api.report("executor-x", job["id"], "running", progress=50)
    assert late.status_code == 409
