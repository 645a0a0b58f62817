"""The event stream against the real API: a job's events, run(), wait_for_job on the stream."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from agnt_client import Client, JobFailedError
from agnt_models import AgentPublish, JobEvent, JobEventKind

live_only = pytest.mark.parametrize("api", ["live"], indirect=True)


def test_stream_of_a_canceled_job_ends_after_its_terminal_event(
    api: Any, connect: Any, agent_id: str
) -> None:
    connect("executor").publish_agent(agent_id, AgentPublish(name=agent_id))
    buyer = connect("buyer")
    job = buyer.create_job(agent_id, "never mind")
    buyer.cancel_job(job.id)
    events = list(buyer.stream_events(job.id))
    assert [e.kind for e in events] == [JobEventKind.CREATED, JobEventKind.CANCELED]
    assert [e.seq for e in events] == [1, 2]
    assert list(buyer.stream_events(job.id, after=1)) == events[1:]
    page = buyer.events(job.id, after=0)
    assert page.items == events and page.done and page.last_seq == 2
    assert buyer.wait_for_job(job.id, timeout=10).status == "canceled"


def act_as_executor(url: str, key: str, agent_id: str) -> threading.Thread:
    """A thread that claims the agent's next job, reports progress, then fails it."""

    def work() -> None:
        with Client(url, key) as executor:
            claimed: list[Any] = []
            while not claimed:
                claimed = executor.claim_jobs(agent_ids=[agent_id], wait=5)
            job_id = claimed[0].id
            executor.report_status(job_id, "running", progress=0)
            time.sleep(0.3)
            executor.report_status(job_id, "running", progress=50)
            time.sleep(0.6)  # past the API's progress coalescing
            executor.report_status(job_id, "failed", reason="the agent broke")

    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    return thread


@live_only
def test_run_raises_job_failed_error_when_the_executor_fails_the_job(
    api: Any, connect: Any, agent_id: str
) -> None:
    connect("executor").publish_agent(agent_id, AgentPublish(name=agent_id))
    worker = act_as_executor(api.url, api.keys["executor"], agent_id)
    with pytest.raises(JobFailedError) as caught:
        connect("buyer").run(agent_id, "please", timeout=30)
    worker.join(timeout=30)
    assert caught.value.job.status == "failed"
    assert caught.value.job.decision_reason == "the agent broke"


@live_only
def test_wait_for_job_follows_the_stream_while_the_job_runs(
    api: Any, connect: Any, agent_id: str
) -> None:
    connect("executor").publish_agent(agent_id, AgentPublish(name=agent_id))
    buyer = connect("buyer")
    job = buyer.create_job(agent_id, "go")
    worker = act_as_executor(api.url, api.keys["executor"], agent_id)
    seen: list[JobEvent] = []
    final = buyer.wait_for_job(job.id, timeout=30, on_event=seen.append)
    worker.join(timeout=30)
    assert final.status == "failed"
    kinds = [e.kind for e in seen]
    assert kinds[0] is JobEventKind.CREATED and kinds[-1] is JobEventKind.FAILED
    assert JobEventKind.RUNNING in kinds
    assert [e.seq for e in seen] == list(range(1, len(seen) + 1))
