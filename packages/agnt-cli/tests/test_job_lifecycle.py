"""``agnt order --timeout-seconds`` and the attempts a job shows, against a live API."""

from __future__ import annotations

from typing import Any

from agnt_models import AgentPublish, JobStatus, JobTimeouts


def test_order_with_a_timeout_shows_the_deadline_and_attempts(buyer, echo_agent: str) -> None:
    job = buyer("order", echo_agent, "--prompt", "hi", "--timeout-seconds", "30").ok()
    assert job["deadline_at"] is not None
    assert (job["attempt"], job["max_attempts"]) == (1, 3)
    status = buyer("status", job["id"]).ok()
    assert (status["attempt"], status["deadline_at"]) == (1, job["deadline_at"])


def test_a_timeout_past_the_agents_maximum_is_exit_2_validation_error(buyer, executor: Any) -> None:
    executor.publish_agent(
        "cli-bounded", AgentPublish(name="Bounded", timeout_seconds=JobTimeouts(max=10))
    )
    run = buyer("order", "cli-bounded", "--prompt", "hi", "--timeout-seconds", "11")
    assert run.exit_code == 2, run
    error = run.error()
    assert (error["code"], error["status"]) == ("validation_error", 422)
    assert "timeout_seconds" in error["message"]


def test_a_deadline_ends_a_job_nobody_takes(buyer, executor: Any) -> None:
    executor.publish_agent("cli-unserved", AgentPublish(name="Unserved"))
    job = buyer("order", "cli-unserved", "--prompt", "hi", "--timeout-seconds", "0.5").ok()
    waited = buyer("status", job["id"], "--wait", "--timeout", "30")
    assert waited.exit_code == 8, waited
    assert JobStatus(waited.json()["status"]) is JobStatus.CANCELED
    assert waited.json()["decision_reason"] == "deadline_exceeded"
