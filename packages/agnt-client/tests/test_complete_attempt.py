"""``attempt=`` on complete, logs and inputs: a run that lost its job is refused."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from agnt_client import ConflictError
from agnt_models import AgentPublish, JobStatus, LogLine

asgi_only = pytest.mark.parametrize("api", ["asgi"], indirect=True)


@asgi_only
def test_completion_of_a_lost_attempt_is_stale_and_the_current_attempt_completes(
    api: Any, connect: Any, agent_id: str, tmp_path: Path
) -> None:
    executor, buyer = connect("executor"), connect("buyer")
    executor.publish_agent(agent_id, AgentPublish(name=agent_id))
    job = buyer.create_job(agent_id, "make a file")
    (first,) = executor.claim_jobs(max=1, agent_ids=[agent_id])
    executor.report_status(job.id, "running", attempt=first.attempt)
    # The first run loses the job (given back here, as a lost lease would), the same
    # executor key claims it again: only the attempt tells the two runs apart.
    executor.release_job(job.id, reason="executor_shutdown", attempt=first.attempt)
    (second,) = executor.claim_jobs(max=1, agent_ids=[agent_id])
    assert (first.attempt, second.attempt) == (1, 2)
    executor.report_status(job.id, "running", attempt=second.attempt)
    out = tmp_path / "out.txt"
    out.write_bytes(b"from the first run")

    with pytest.raises(ConflictError) as caught:
        executor.complete_job(job.id, [out], attempt=first.attempt)
    assert caught.value.code == "stale_attempt"
    with pytest.raises(ConflictError) as caught:
        executor.post_logs(job.id, [LogLine(text="late line")], attempt=first.attempt)
    assert caught.value.code == "stale_attempt"
    with pytest.raises(ConflictError) as caught:
        executor.job_inputs(job.id, as_executor=True, attempt=first.attempt)
    assert caught.value.code == "stale_attempt"
    assert executor.post_logs(job.id, [LogLine(text="line")], attempt=second.attempt).accepted == 1
    assert executor.job_inputs(job.id, as_executor=True, attempt=second.attempt).files == []
    assert buyer.get_job(job.id).status is JobStatus.RUNNING

    out.write_bytes(b"from the second run")
    done = executor.complete_job(job.id, [out], attempt=second.attempt)
    assert (done.status, done.attempt) == (JobStatus.COMPLETED, 2)
    assert [f.name for f in buyer.get_result(job.id).files] == ["out.txt"]
    stored = api.data_dir / "objects" / "jobs" / str(job.id)
    assert [p.read_bytes() for p in stored.rglob("*") if p.is_file()] == [b"from the second run"]
