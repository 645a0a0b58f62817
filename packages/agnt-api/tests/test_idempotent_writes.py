"""Executor writes are idempotent: a retry after a lost answer is answered, not refused."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx

from agnt_models import Job


async def _complete(
    api: Any, job_id: str, files: list[tuple[str, bytes]], key: str | None
) -> httpx.Response:
    headers = api.auth("executor-x")
    if key is not None:
        headers["Idempotency-Key"] = key
    return await api.client.post(
        f"/v1/executor/jobs/{job_id}/complete",
        headers=headers,
        files=[("files", (name, data)) for name, data in files],
    )


def _stored_files(tmp_path: Path) -> list[Path]:
    return sorted(p for p in (tmp_path / "objects").rglob("*") if p.is_file())


async def test_repeated_accept_answers_200_and_renews_the_lease(api: Any, echo: Any) -> None:
    job = await api.order("buyer-a", "echo")
    first = Job.model_validate((await api.report("executor-x", job["id"], "accepted")).json())
    await asyncio.sleep(0.01)
    again = await api.report("executor-x", job["id"], "accepted")
    assert again.status_code == 200
    repeated = Job.model_validate(again.json())
    assert repeated.status == "accepted"
    assert first.lease_expires_at is not None and repeated.lease_expires_at is not None
    assert repeated.lease_expires_at > first.lease_expires_at


async def test_repeated_running_answers_200_and_keeps_started_at(api: Any, echo: Any) -> None:
    job = await api.order("buyer-a", "echo")
    await api.run_to_running("executor-x", job["id"])
    first = Job.model_validate((await api.report("executor-x", job["id"], "running")).json())
    again = await api.report("executor-x", job["id"], "running")
    assert again.status_code == 200
    repeated = Job.model_validate(again.json())
    assert repeated.status == "running" and repeated.started_at == first.started_at


async def test_repeated_failed_and_rejected_answer_the_ended_job(api: Any, echo: Any) -> None:
    failed = await api.order("buyer-a", "echo")
    await api.run_to_running("executor-x", failed["id"])
    first = await api.report("executor-x", failed["id"], "failed", reason="handler crashed")
    again = await api.report("executor-x", failed["id"], "failed", reason="handler crashed")
    assert first.status_code == again.status_code == 200
    assert again.json() == first.json()
    rejected = await api.order("buyer-a", "echo")
    first = await api.report("executor-x", rejected["id"], "rejected", reason="no")
    again = await api.report("executor-x", rejected["id"], "rejected", reason="no")
    assert again.status_code == 200
    assert again.json()["status"] == "rejected"


async def test_a_report_that_is_not_a_repeat_still_gets_409(api: Any, echo: Any) -> None:
    job = await api.order("buyer-a", "echo")
    await api.run_to_running("executor-x", job["id"])
    backwards = await api.report("executor-x", job["id"], "accepted")
    assert backwards.status_code == 409
    assert backwards.json()["code"] == "invalid_transition"
    await api.client.post(f"/v1/jobs/{job['id']}/cancel", headers=api.auth("buyer-a"))
    for status in ("running", "failed"):
        after_cancel = await api.report("executor-x", job["id"], status)
        assert after_cancel.status_code == 409, status
        assert after_cancel.json()["code"] == "invalid_transition"


async def test_a_repeat_by_another_executor_is_404(api: Any, echo: Any) -> None:
    job = await api.order("buyer-a", "echo")
    await api.report("executor-x", job["id"], "accepted")
    response = await api.report("executor-y", job["id"], "accepted")
    assert response.status_code == 404
    assert response.json()["code"] == "job_not_found"


async def test_repeated_completion_with_its_key_answers_the_stored_result(
    api: Any, echo: Any, tmp_path: Path
) -> None:
    job = await api.order("buyer-a", "echo")
    await api.run_to_running("executor-x", job["id"])
    first = await _complete(api, job["id"], [("out.txt", b"first")], key="done-1")
    assert first.status_code == 200
    stored = _stored_files(tmp_path)
    again = await _complete(api, job["id"], [("out.txt", b"second")], key="done-1")
    assert again.status_code == 200
    assert again.json() == first.json()
    assert _stored_files(tmp_path) == stored
    result = await api.client.get(f"/v1/jobs/{job['id']}/result", headers=api.auth("buyer-a"))
    assert [(f["name"], f["size"]) for f in result.json()["files"]] == [("out.txt", 5)]


async def test_repeated_completion_without_its_key_gets_409(api: Any, echo: Any) -> None:
    job = await api.order("buyer-a", "echo")
    await api.run_to_running("executor-x", job["id"])
    assert (await _complete(api, job["id"], [("out.txt", b"x")], key="done-1")).status_code == 200
    for key in (None, "done-2"):
        again = await _complete(api, job["id"], [("out.txt", b"x")], key=key)
        assert again.status_code == 409, key
        assert again.json()["code"] == "invalid_transition"


async def test_concurrent_completions_with_one_key_record_one_result(
    api: Any, echo: Any, tmp_path: Path
) -> None:
    job = await api.order("buyer-a", "echo")
    await api.run_to_running("executor-x", job["id"])
    responses = await asyncio.gather(
        *(_complete(api, job["id"], [("out.txt", b"same")], key="done-1") for _ in range(5))
    )
    assert [r.status_code for r in responses] == [200] * 5
    assert {r.json()["status"] for r in responses} == {"completed"}
    # One recorded result, and the repeats left no files behind.
    assert [p.name for p in _stored_files(tmp_path)] == ["out.txt"]


async def test_completion_key_longer_than_255_gets_422(api: Any, echo: Any) -> None:
    job = await api.order("buyer-a", "echo")
    await api.run_to_running("executor-x", job["id"])
    response = await _complete(api, job["id"], [("out.txt", b"x")], key="k" * 256)
    assert response.status_code == 422
    assert response.json()["code"] == "validation_error"
