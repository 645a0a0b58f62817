"""The job event log: recorded in order, coalesced progress, JSON polling, logs, Prefer: wait."""

from __future__ import annotations

import asyncio
from typing import Any

from agnt_api.services.leases import expire_leases, sweep_old_events
from agnt_models import JobEvent

from .conftest import Api


async def _events(api: Api, job_id: str, who: str = "buyer-a", **params: Any) -> dict[str, Any]:
    response = await api.client.get(
        f"/v1/jobs/{job_id}/events", headers=api.auth(who), params=params
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


async def test_whole_lifecycle_is_recorded_in_order(api: Api, echo: dict[str, Any]) -> None:
    job = await api.order("buyer-a", "echo")
    await api.run_to_running("executor-x", job["id"])
    assert (await api.report("executor-x", job["id"], "running", progress=40)).status_code == 200
    assert (await api.complete("executor-x", job["id"], [("out.txt", b"hi")])).status_code == 200

    page = await _events(api, job["id"])
    kinds = [item["kind"] for item in page["items"]]
    assert kinds == ["created", "accepted", "running", "progress", "completed"]
    assert [item["seq"] for item in page["items"]] == [1, 2, 3, 4, 5]
    assert page["done"] is True and page["last_seq"] == 5
    completed = page["items"][-1]["data"]
    assert completed["status"] == "completed"
    assert completed["files"] == [
        {
            "name": "out.txt",
            "size": 2,
            "mime": "text/plain",
            "sha256": "8f434346648f6b96df89dda901c5176b10a6d83961dd3c1ac88b59b2dc327aa4",
        }
    ]
    for item in page["items"]:
        JobEvent.model_validate(item)


async def test_claim_cancel_and_reject_are_recorded(api: Api, echo: dict[str, Any]) -> None:
    claimed = await api.order("buyer-a", "echo")
    response = await api.client.post(
        "/v1/executor/claims", headers=api.auth("executor-x"), json={"max": 1}
    )
    assert [job["id"] for job in response.json()["items"]] == [claimed["id"]]
    cancel = await api.client.post(f"/v1/jobs/{claimed['id']}/cancel", headers=api.auth("buyer-a"))
    assert cancel.status_code == 200
    page = await _events(api, claimed["id"])
    assert [(e["kind"], e["data"].get("reason")) for e in page["items"]] == [
        ("created", None),
        ("accepted", None),
        ("canceled", "canceled by the buyer"),
    ]
    rejected = await api.order("buyer-a", "echo")
    report = await api.report("executor-x", rejected["id"], "rejected", reason="no")
    assert report.status_code == 200
    page = await _events(api, rejected["id"])
    assert [e["kind"] for e in page["items"]] == ["created", "rejected"]
    assert page["done"] is True


async def test_progress_is_coalesced_but_the_job_has_the_latest(
    api: Api, echo: dict[str, Any]
) -> None:
    job = await api.order("buyer-a", "echo")
    await api.run_to_running("executor-x", job["id"])
    for value in (10, 20, 30):
        assert (await api.report("executor-x", job["id"], "running", progress=value)).is_success
    page = await _events(api, job["id"])
    progress = [e["data"]["progress"] for e in page["items"] if e["kind"] == "progress"]
    assert progress == [10]
    current = await api.client.get(f"/v1/jobs/{job['id']}", headers=api.auth("buyer-a"))
    assert current.json()["progress"] == 30
    await asyncio.sleep(0.6)
    assert (await api.report("executor-x", job["id"], "running", progress=50)).is_success
    page = await _events(api, job["id"], after=page["last_seq"])
    assert [e["data"] for e in page["items"]] == [{"progress": 50}]


async def test_json_polling_waits_for_the_next_event(api: Api, echo: dict[str, Any]) -> None:
    job = await api.order("buyer-a", "echo")
    first = await _events(api, job["id"])
    assert first["last_seq"] == 1 and first["done"] is False

    async def accept_soon() -> None:
        await asyncio.sleep(0.3)
        assert (await api.report("executor-x", job["id"], "accepted")).is_success

    task = asyncio.create_task(accept_soon())
    page = await _events(api, job["id"], after=1, wait=10)
    await task
    assert [(e["seq"], e["kind"]) for e in page["items"]] == [(2, "accepted")]
    empty = await _events(api, job["id"], after=2, wait=0)
    assert empty == {"items": [], "last_seq": 2, "done": False}


async def test_another_buyers_job_events_are_404(api: Api, echo: dict[str, Any]) -> None:
    job = await api.order("buyer-a", "echo")
    for params in ({}, {"stream": "sse"}):
        response = await api.client.get(
            f"/v1/jobs/{job['id']}/events", headers=api.auth("buyer-b"), params=params
        )
        assert response.status_code == 404
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.json()["code"] == "job_not_found"
    admin = await _events(api, job["id"], who="admin")
    assert [e["kind"] for e in admin["items"]] == ["created"]


async def test_sse_of_an_ended_job_replays_after_last_event_id(
    api: Api, echo: dict[str, Any]
) -> None:
    job = await api.order("buyer-a", "echo")
    await api.run_to_running("executor-x", job["id"])
    assert (await api.complete("executor-x", job["id"], [("a.txt", b"a")])).status_code == 200
    response = await api.client.get(
        f"/v1/jobs/{job['id']}/events",
        headers={**api.auth("buyer-a"), "Accept": "text/event-stream", "Last-Event-ID": "2"},
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    blocks = [b for b in response.text.split("\n\n") if b.startswith("id:")]
    assert [b.splitlines()[0] for b in blocks] == ["id: 3", "id: 4"]
    assert [b.splitlines()[1] for b in blocks] == ["event: running", "event: completed"]
    data = JobEvent.model_validate_json(blocks[-1].splitlines()[2].removeprefix("data: "))
    assert data.seq == 4


async def test_log_batches_are_stored_until_the_budget_then_marked(
    make_api: Any, echo: dict[str, Any], api: Api
) -> None:
    small = await make_api(max_log_bytes_per_job=10)
    small.keys, small.principal_ids = api.keys, api.principal_ids
    job = await small.order("buyer-a", "echo")
    url = f"/v1/executor/jobs/{job['id']}/logs"
    early = await small.client.post(
        url, headers=small.auth("executor-x"), json={"lines": [{"text": "x"}]}
    )
    assert early.status_code == 409
    assert early.json()["code"] == "invalid_transition"
    await small.run_to_running("executor-x", job["id"])
    first = await small.client.post(
        url,
        headers=small.auth("executor-x"),
        json={"lines": [{"text": "hello"}, {"stream": "stdout", "text": "abcd"}]},
    )
    assert first.status_code == 202
    assert first.json() == {"accepted": 2, "dropped": 0}
    second = await small.client.post(
        url, headers=small.auth("executor-x"), json={"lines": [{"text": "ab"}, {"text": "c"}]}
    )
    assert second.json() == {"accepted": 0, "dropped": 2}
    third = await small.client.post(
        url, headers=small.auth("executor-x"), json={"lines": [{"text": "z"}]}
    )
    assert third.json() == {"accepted": 0, "dropped": 1}
    page = await _events(small, job["id"])
    logs = [e["data"] for e in page["items"] if e["kind"] == "log"]
    assert logs == [
        {"lines": [{"stream": "stderr", "text": "hello"}, {"stream": "stdout", "text": "abcd"}]},
        {"truncated": True},
    ]
    other = await small.client.post(
        url, headers=small.auth("executor-y"), json={"lines": [{"text": "x"}]}
    )
    assert other.status_code == 404
    bad = await small.client.post(
        url, headers=small.auth("executor-x"), json={"lines": [{"text": "nul\u0000"}]}
    )
    assert bad.status_code == 422
    assert bad.json()["code"] == "validation_error"


async def test_prefer_wait_answers_the_finished_job(api: Api, echo: dict[str, Any]) -> None:
    async def finish_when_ordered() -> None:
        while True:
            listed = await api.client.get(
                "/v1/executor/jobs", headers=api.auth("executor-x"), params={"wait": 5}
            )
            items = listed.json()["items"]
            if items:
                break
        job_id = items[0]["id"]
        await api.run_to_running("executor-x", job_id)
        assert (await api.complete("executor-x", job_id, [("r.txt", b"r")])).status_code == 200

    worker = asyncio.create_task(finish_when_ordered())
    response = await api.client.post(
        "/v1/jobs",
        headers={**api.auth("buyer-a"), "Prefer": "wait=30"},
        json={"agent_id": "echo", "prompt": "hi", "params": {}},
    )
    await worker
    assert response.status_code == 201
    assert response.headers["preference-applied"] == "wait=30"
    assert response.json()["status"] == "completed"

    clamped = await api.client.post(
        "/v1/jobs",
        headers={**api.auth("buyer-a"), "Prefer": "respond-async, wait=0.2"},
        json={"agent_id": "echo", "prompt": "hi", "params": {}},
    )
    assert clamped.status_code == 201
    assert clamped.json()["status"] == "pending"
    assert clamped.headers["preference-applied"] == "wait=0.2"


async def test_lost_lease_records_lease_expired_then_failed(
    make_api: Any, echo: dict[str, Any], api: Api
) -> None:
    short = await make_api(lease_seconds=0.05)
    short.keys, short.principal_ids = api.keys, api.principal_ids
    await short.publish("executor-x", "echo", max_attempts=1)
    job = await short.order("buyer-a", "echo")
    assert (await short.report("executor-x", job["id"], "accepted")).is_success
    await asyncio.sleep(0.1)
    assert await expire_leases(short.runtime) == [job["id"]]
    page = await _events(short, job["id"])
    assert [(e["kind"], e["data"]) for e in page["items"][1:]] == [
        ("accepted", {"status": "accepted"}),
        ("lease_expired", {}),
        ("failed", {"status": "failed", "reason": "lease_expired", "attempt": 1}),
    ]
    assert page["done"] is True


async def test_sweep_deletes_only_events_of_jobs_that_ended_long_ago(
    make_api: Any, echo: dict[str, Any], api: Api
) -> None:
    brief = await make_api(event_retention_days=0.5 / 86_400)
    brief.keys, brief.principal_ids = api.keys, api.principal_ids
    ended = await brief.order("buyer-a", "echo")
    assert (await brief.report("executor-x", ended["id"], "rejected")).is_success
    open_job = await brief.order("buyer-a", "echo")
    assert await sweep_old_events(brief.runtime) == 0
    await asyncio.sleep(0.6)
    assert await sweep_old_events(brief.runtime) == 2
    assert (await _events(brief, ended["id"]))["items"] == []
    assert [e["kind"] for e in (await _events(brief, open_job["id"]))["items"]] == ["created"]
