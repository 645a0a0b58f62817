"""Every client method against the real API: in-process over ASGI and a live uvicorn,
each with ``Client`` and ``AsyncClient`` (one test body for all four)."""

from __future__ import annotations

import hashlib
import uuid
from pathlib import Path
from typing import Any

import pytest

from agnt_client import (
    APIStatusError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
    UnprocessableEntityError,
)
from agnt_models import AgentPublish, Job, JobStatus, Pricing

COUNTER_SCHEMA = {
    "type": "object",
    "properties": {"count": {"type": "integer", "minimum": 1}},
    "additionalProperties": False,
}


def publish(executor: Any, agent_id: str, **fields: Any) -> Any:
    fields.setdefault("name", f"Agent {agent_id}")
    fields.setdefault("input_schema", COUNTER_SCHEMA)
    return executor.publish_agent(agent_id, AgentPublish(**fields))


def test_health_and_ready(connect: Any) -> None:
    client = connect(None)
    assert client.health().status == "ok"
    ready = client.ready()
    assert ready.status == "ok"
    assert ready.checks == {"database": "ok", "storage": "ok"}


def test_publish_then_find_read_and_count_an_agent(connect: Any, agent_id: str) -> None:
    executor, buyer = connect("executor"), connect("buyer")
    tag = f"zebra-{agent_id}"
    created = publish(executor, agent_id, description="Counts zebras", tags=[tag.upper(), "count"])
    updated = publish(
        executor,
        agent_id,
        description="Counts zebras in photos",
        tags=[tag],
        pricing=Pricing(model="per_job", amount_cents=250),
    )
    assert updated.created_at == created.created_at
    assert updated.updated_at >= created.updated_at

    page = buyer.search_agents("zebras", tag=tag)
    assert [a.id for a in page.items] == [agent_id]
    assert [a.id for a in buyer.iter_agents("zebras", tag=tag, page_size=1)] == [agent_id]

    agent = buyer.get_agent(agent_id)
    assert (agent.description, agent.tags, agent.pricing.amount_cents) == (
        "Counts zebras in photos",
        [tag],
        250,
    )
    assert agent.input_schema == COUNTER_SCHEMA

    stats = buyer.agent_stats(agent_id)
    assert (stats.agent_id, stats.total, stats.success_rate) == (agent_id, 0, None)


def test_job_round_trip_from_order_to_verified_download(
    connect: Any, agent_id: str, tmp_path: Path
) -> None:
    executor, buyer = connect("executor"), connect("buyer")
    publish(executor, agent_id)
    job = buyer.create_job(agent_id, "count to three", {"count": 3})
    assert (job.status, job.params) == (JobStatus.PENDING, {"count": 3})

    claimed = executor.claim_jobs(max=10, agent_ids=[agent_id], wait=5)
    assert [(j.id, j.status) for j in claimed] == [(job.id, JobStatus.ACCEPTED)]
    assert executor.claim_jobs(agent_ids=[agent_id]) == []
    # Repeating the report that made the current state answers 200 (a lost answer is normal).
    assert executor.report_status(job.id, JobStatus.ACCEPTED).status == JobStatus.ACCEPTED
    running = executor.report_status(job.id, "running", progress=10)
    assert (running.status, running.progress) == (JobStatus.RUNNING, 10)
    assert executor.report_status(job.id, "running", progress=60).progress == 60
    assert buyer.get_job(job.id).progress == 60

    outputs = tmp_path / "outputs"
    outputs.mkdir()
    (outputs / "count.txt").write_text("1\n2\n3\n")
    blob = bytes(range(256)) * 2048  # 512 KiB: several chunks each way
    (outputs / "raw.bin").write_bytes(blob)
    files = [outputs / "count.txt", ("data.bin", outputs / "raw.bin")]
    done = executor.complete_job(job.id, files, idempotency_key="complete-once")
    assert done.status == JobStatus.COMPLETED
    # A completion retried after its answer was lost: same key, 200 and the same job.
    again = executor.complete_job(job.id, files, idempotency_key="complete-once")
    assert (again.id, again.status) == (job.id, JobStatus.COMPLETED)

    finished = buyer.wait_for_job(job.id, timeout=10)
    assert finished.status == JobStatus.COMPLETED
    assert finished.duration_seconds is not None

    result = buyer.get_result(job.id)
    assert {(f.name, f.size, f.sha256) for f in result.files} == {
        ("count.txt", 6, hashlib.sha256(b"1\n2\n3\n").hexdigest()),
        ("data.bin", len(blob), hashlib.sha256(blob).hexdigest()),
    }
    files = buyer.download_result(job.id, tmp_path / "got")
    assert sorted(p.name for p in (tmp_path / "got").iterdir()) == ["count.txt", "data.bin"]
    assert {f.name: f.path.read_bytes() for f in files} == {
        "count.txt": b"1\n2\n3\n",
        "data.bin": blob,
    }
    again = buyer.download_result(job.id, tmp_path / "got")
    assert [f.sha256 for f in again] == [f.sha256 for f in files]

    assert [j.id for j in buyer.list_jobs(agent_id=agent_id).items] == [job.id]
    assert [j.id for j in buyer.iter_jobs(status="completed", agent_id=agent_id)] == [job.id]
    stats = buyer.agent_stats(agent_id)
    assert (stats.total, stats.completed, stats.success_rate) == (1, 1, 1.0)


def test_same_idempotency_key_returns_the_same_job(connect: Any, agent_id: str) -> None:
    publish(connect("executor"), agent_id)
    buyer = connect("buyer")
    key = f"order-{agent_id}"
    first = buyer.create_job(agent_id, "once", idempotency_key=key)
    second = buyer.create_job(agent_id, "once", idempotency_key=key)
    assert second.id == first.id
    with pytest.raises(ConflictError) as caught:
        buyer.create_job(agent_id, "another prompt", idempotency_key=key)
    assert caught.value.code == "idempotency_conflict"
    assert len(list(buyer.iter_jobs(agent_id=agent_id))) == 1


def test_cancel_and_reject_end_jobs(connect: Any, agent_id: str) -> None:
    executor, buyer = connect("executor"), connect("buyer")
    publish(executor, agent_id)
    canceled = buyer.cancel_job(buyer.create_job(agent_id, "never mind").id)
    assert canceled.status == JobStatus.CANCELED
    with pytest.raises(ConflictError) as caught:
        executor.report_status(canceled.id, "accepted")
    assert caught.value.code == "invalid_transition"
    rejected = executor.report_status(
        buyer.create_job(agent_id, "no").id, "rejected", reason="busy"
    )
    assert (rejected.status, rejected.decision_reason) == (JobStatus.REJECTED, "busy")
    assert buyer.wait_for_job(rejected.id, timeout=5).decision_reason == "busy"


def test_documented_errors_carry_their_codes(connect: Any, agent_id: str, tmp_path: Path) -> None:
    executor, buyer = connect("executor"), connect("buyer")
    publish(executor, agent_id)
    job = buyer.create_job(agent_id, "pending")

    def code_of(error_type: type[APIStatusError], call: Any, *args: Any, **kwargs: Any) -> str:
        with pytest.raises(error_type) as caught:
            call(*args, **kwargs)
        assert caught.value.request_id
        return str(caught.value.code)

    assert code_of(AuthenticationError, connect(None).list_jobs) == "not_authenticated"
    bad_key = connect(None, api_key="agnt_not_a_real_key")
    assert code_of(AuthenticationError, bad_key.list_jobs) == "invalid_api_key"
    assert code_of(PermissionDeniedError, buyer.claim_jobs) == "forbidden"
    assert code_of(NotFoundError, buyer.get_job, uuid.uuid4()) == "job_not_found"
    assert code_of(NotFoundError, connect("other_buyer").get_job, job.id) == "job_not_found"
    assert code_of(NotFoundError, buyer.get_agent, "no-such-agent") == "agent_not_found"
    assert code_of(ConflictError, buyer.get_result, job.id) == "job_not_completed"
    assert (
        code_of(ConflictError, publish, connect("other_executor"), agent_id)
        == "agent_owned_by_other"
    )
    assert code_of(BadRequestError, buyer.list_jobs, cursor="not-a-cursor") == "invalid_cursor"
    assert (
        code_of(UnprocessableEntityError, buyer.create_job, agent_id, "x", {"count": "three"})
        == "validation_error"
    )
    assert code_of(NotFoundError, buyer.create_job, "no-such-agent", "x") == "agent_not_found"
    assert (
        code_of(UnprocessableEntityError, buyer.create_job, "Not_A_Slug", "x") == "validation_error"
    )
    huge = {"count": 1, "padding": "x" * (3 * 1024 * 1024)}
    assert (
        code_of(PayloadTooLargeError, buyer.create_job, agent_id, "x", huge) == "payload_too_large"
    )
    assert (
        code_of(ConflictError, executor.complete_job, job.id, [_file(tmp_path)])
        == "invalid_transition"
    )

    with pytest.raises(UnprocessableEntityError) as caught:
        buyer.create_job(agent_id, "x", {"count": 0})
    assert any("count" in e.loc for e in caught.value.errors)


def _file(tmp_path: Path) -> Path:
    path = tmp_path / "early.txt"
    path.write_text("too early")
    return path


def test_pagination_over_250_jobs(connect: Any, agent_id: str) -> None:
    publish(connect("executor"), agent_id)
    buyer = connect("buyer")
    created = [buyer.create_job(agent_id, f"job {n}").id for n in range(250)]

    pages = []
    cursor = None
    while True:
        page = buyer.list_jobs(agent_id=agent_id, limit=100, cursor=cursor)
        pages.append(page.items)
        cursor = page.next_cursor
        if cursor is None:
            break
    assert [len(p) for p in pages] == [100, 100, 50]

    listed = list(buyer.iter_jobs(agent_id=agent_id, page_size=40))
    assert all(isinstance(j, Job) for j in listed)
    assert [j.id for j in listed] == [j.id for p in pages for j in p]
    assert sorted(j.id for j in listed) == sorted(created)
    assert all(a.created_at >= b.created_at for a, b in zip(listed, listed[1:], strict=False))


def test_unusual_file_names_survive_upload_and_download(
    connect: Any, agent_id: str, tmp_path: Path
) -> None:
    executor, buyer = connect("executor"), connect("buyer")
    publish(executor, agent_id)
    job = buyer.create_job(agent_id, "names")
    executor.report_status(job.id, "accepted")
    executor.report_status(job.id, "running")
    # '"' and '\\' are not in any portable name (Windows refuses them); these still need care.
    names = ["résumé (1).txt", "it's 50% done; #1 & más.md", "empty.bin", "日本語.txt"]
    sources = []
    for n, name in enumerate(names):
        path = tmp_path / f"src{n}"
        path.write_bytes(name.encode() * (n != 2))
        sources.append((name, path))
    executor.complete_job(job.id, sources)
    files = buyer.download_result(job.id, tmp_path / "dest")
    assert sorted(f.name for f in files) == sorted(names)
    for downloaded in files:
        assert downloaded.path.read_bytes() == (
            b"" if downloaded.name == "empty.bin" else downloaded.name.encode()
        )
