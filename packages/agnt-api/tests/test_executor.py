"""The executor's side: its queue, status reports and races, completing with files."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

from agnt_models import Job


async def test_executor_lists_pending_jobs_of_its_agents_oldest_first(api: Any, echo: Any) -> None:
    await api.publish("executor-y", "theirs")
    first = await api.order("buyer-a", "echo")
    second = await api.order("buyer-b", "echo")
    await api.order("buyer-a", "theirs")
    page = await api.client.get("/v1/executor/jobs", headers=api.auth("executor-x"))
    assert [job["id"] for job in page.json()["items"]] == [first["id"], second["id"]]
    await api.report("executor-x", first["id"], "accepted")
    accepted = await api.client.get(
        "/v1/executor/jobs",
        params={"status": "accepted", "agent_id": "echo"},
        headers=api.auth("executor-x"),
    )
    assert [job["id"] for job in accepted.json()["items"]] == [first["id"]]


async def test_executor_filtering_by_anothers_agent_gets_403_and_unknown_404(
    api: Any, echo: Any
) -> None:
    theirs = await api.client.get(
        "/v1/executor/jobs", params={"agent_id": "echo"}, headers=api.auth("executor-y")
    )
    assert theirs.status_code == 403
    assert theirs.json()["code"] == "forbidden"
    unknown = await api.client.get(
        "/v1/executor/jobs", params={"agent_id": "ghost"}, headers=api.auth("executor-y")
    )
    assert unknown.status_code == 404
    assert unknown.json()["code"] == "agent_not_found"


async def test_lifecycle_sets_timestamps_lease_progress_and_duration(api: Any, echo: Any) -> None:
    job = await api.order("buyer-a", "echo")
    accepted = Job.model_validate((await api.report("executor-x", job["id"], "accepted")).json())
    assert accepted.lease_expires_at is not None and accepted.started_at is None
    running = Job.model_validate((await api.report("executor-x", job["id"], "running")).json())
    assert running.started_at is not None
    progress = await api.report("executor-x", job["id"], "running", progress=40)
    reported = Job.model_validate(progress.json())
    assert reported.progress == 40
    assert reported.lease_expires_at is not None and running.lease_expires_at is not None
    assert reported.lease_expires_at >= running.lease_expires_at
    assert reported.started_at == running.started_at
    done = await api.complete("executor-x", job["id"], [("out.txt", b"HELLO")])
    completed = Job.model_validate(done.json())
    assert completed.status == "completed" and completed.progress == 100
    assert completed.completed_at is not None and completed.lease_expires_at is None
    assert (
        completed.duration_seconds == (completed.completed_at - running.started_at).total_seconds()
    )


async def test_reject_and_fail_record_the_reason(api: Any, echo: Any) -> None:
    rejected = await api.order("buyer-a", "echo")
    response = await api.report("executor-x", rejected["id"], "rejected", reason="too long")
    assert response.json()["status"] == "rejected"
    assert response.json()["decision_reason"] == "too long"
    failed = await api.order("buyer-a", "echo")
    await api.run_to_running("executor-x", failed["id"])
    response = await api.report("executor-x", failed["id"], "failed", reason="handler crashed")
    assert (response.json()["status"], response.json()["decision_reason"]) == (
        "failed",
        "handler crashed",
    )


async def test_disallowed_transitions_get_409(api: Any, echo: Any) -> None:
    job = await api.order("buyer-a", "echo")
    skip = await api.report("executor-x", job["id"], "running")
    assert skip.status_code == 409
    assert skip.json()["code"] == "invalid_transition"
    assert "pending" in skip.json()["detail"]
    completed_by_status = await api.report("executor-x", job["id"], "completed")
    assert completed_by_status.status_code == 422


async def test_twenty_concurrent_accepts_of_one_job_all_answer_the_accepted_job(
    api: Any, echo: Any
) -> None:
    job = await api.order("buyer-a", "echo")
    responses = await asyncio.gather(
        *(api.report("executor-x", job["id"], "accepted") for _ in range(20))
    )
    # One of them moved the job; the others repeat the report that produced its state.
    assert [r.status_code for r in responses] == [200] * 20
    assert {r.json()["status"] for r in responses} == {"accepted"}
    assert {r.json()["created_at"] for r in responses} == {job["created_at"]}


async def test_executor_cannot_touch_jobs_of_agents_it_does_not_own(api: Any, echo: Any) -> None:
    job = await api.order("buyer-a", "echo")
    response = await api.report("executor-y", job["id"], "accepted")
    assert response.status_code == 404
    assert response.json()["code"] == "job_not_found"
    await api.run_to_running("executor-x", job["id"])
    upload = await api.complete("executor-y", job["id"], [("x.txt", b"x")])
    assert upload.status_code == 404


async def test_complete_before_running_gets_409_and_stores_nothing(
    api: Any, echo: Any, tmp_path: Path
) -> None:
    job = await api.order("buyer-a", "echo")
    response = await api.complete("executor-x", job["id"], [("x.txt", b"x")])
    assert response.status_code == 409
    assert not list((tmp_path / "objects").rglob("x.txt"))


async def test_failed_upload_leaves_job_running_without_result_or_files(
    api: Any, echo: Any, tmp_path: Path
) -> None:
    job = await api.order("buyer-a", "echo")
    await api.run_to_running("executor-x", job["id"])
    response = await api.complete(
        "executor-x", job["id"], [("good.txt", b"fine" * 1000), ("../evil.txt", b"x")]
    )
    assert response.status_code == 422
    assert response.json()["code"] == "validation_error"
    after = await api.client.get(f"/v1/jobs/{job['id']}", headers=api.auth("buyer-a"))
    assert after.json()["status"] == "running"
    result = await api.client.get(f"/v1/jobs/{job['id']}/result", headers=api.auth("buyer-a"))
    assert result.status_code == 409
    assert [p for p in (tmp_path / "objects").rglob("*") if p.is_file()] == []
    retry = await api.complete("executor-x", job["id"], [("good.txt", b"fine")])
    assert retry.status_code == 200


async def test_complete_refuses_duplicates_no_files_and_non_multipart(api: Any, echo: Any) -> None:
    job = await api.order("buyer-a", "echo")
    await api.run_to_running("executor-x", job["id"])
    duplicate = await api.complete("executor-x", job["id"], [("a.txt", b"1"), ("a.txt", b"2")])
    assert duplicate.status_code == 422
    empty = await api.client.post(
        f"/v1/executor/jobs/{job['id']}/complete",
        headers=api.auth("executor-x"),
        files=[("other", ("a.txt", b"1"))],
    )
    assert empty.status_code == 422
    not_multipart = await api.client.post(
        f"/v1/executor/jobs/{job['id']}/complete", headers=api.auth("executor-x"), json={}
    )
    assert not_multipart.status_code == 415
    assert not_multipart.json()["code"] == "unsupported_media_type"
    malformed = await api.client.post(
        f"/v1/executor/jobs/{job['id']}/complete",
        headers={**api.auth("executor-x"), "Content-Type": "multipart/form-data; boundary=xyz"},
        content=b'--xyz\r\nContent-Disposition: form-data; name="files"; filename="a"\r\n\r\nabc',
    )
    assert malformed.status_code == 400
    assert (await api.client.get(f"/v1/jobs/{job['id']}", headers=api.auth("buyer-a"))).json()[
        "status"
    ] == "running"


async def test_complete_streams_a_large_file_and_hashes_it(api: Any, echo: Any) -> None:
    import hashlib

    job = await api.order("buyer-a", "echo")
    await api.run_to_running("executor-x", job["id"])
    data = uuid.uuid4().bytes * (3 * 1024 * 1024 // 16)
    response = await api.complete("executor-x", job["id"], [("big.bin", data)])
    assert response.status_code == 200
    result = await api.client.get(f"/v1/jobs/{job['id']}/result", headers=api.auth("buyer-a"))
    (stored,) = result.json()["files"]
    assert stored["size"] == len(data)
    assert stored["sha256"] == hashlib.sha256(data).hexdigest()
    assert stored["mime"] == "application/octet-stream"
