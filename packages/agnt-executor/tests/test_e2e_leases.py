"""Leases end to end: renewal keeps a job alive, a killed executor loses it, a restart of
the API is ridden out."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from typing import Any

import pytest

from agnt_client import Client
from agnt_executor.demo import manifest_path
from agnt_models import JobStatus

pytestmark = pytest.mark.slow

SHORT_LEASE = {"AGNT_LEASE_SECONDS": "3", "AGNT_REAPER_INTERVAL_SECONDS": "0.5"}


@pytest.fixture
def short_lease_api(live_api_factory: Callable[..., Any]) -> Any:
    """A live API whose leases last 3 s and whose reaper runs twice a second."""
    return live_api_factory(env=SHORT_LEASE)


def executor_for(api: Any, start_executor: Callable[..., Any], *args: str) -> Any:
    env = {"AGNT_API_URL": api.url, "AGNT_API_KEY": api.executor_key}
    return start_executor("run", str(manifest_path()), *args, env=env)


def test_heartbeats_keep_a_job_alive_past_its_lease(
    short_lease_api: Any, start_executor: Callable[..., Any]
) -> None:
    executor_for(short_lease_api, start_executor)
    with Client(base_url=short_lease_api.url, api_key=short_lease_api.buyer_key) as buyer:
        job = buyer.create_job("demo-slow", "long", params={"seconds": 8, "size_kb": 1})
        done = buyer.wait_for_job(job.id, timeout=60)
    assert done.status is JobStatus.COMPLETED, done.decision_reason
    assert done.duration_seconds is not None and done.duration_seconds > 2 * 3


def test_killed_executor_loses_the_job_to_lease_expiry(
    short_lease_api: Any, start_executor: Callable[..., Any]
) -> None:
    executor = executor_for(short_lease_api, start_executor)
    with Client(base_url=short_lease_api.url, api_key=short_lease_api.buyer_key) as buyer:
        job = buyer.create_job("demo-slow", "doomed", params={"seconds": 60})
        executor.wait_for_event("job_running", job_id=str(job.id))
        executor.signal(signal.SIGKILL)
        killed_at = time.monotonic()
        lost = buyer.get_job(job.id)
        while lost.status is JobStatus.RUNNING and time.monotonic() - killed_at < 30:
            lost = buyer.get_job(job.id, wait=10)
    # Back in the queue for another executor (attempts left), not failed.
    assert (lost.status, lost.attempt) == (JobStatus.PENDING, 2)
    assert lost.decision_reason == "lease_expired"


def test_api_restart_mid_job_is_survived(
    live_api: Any, start_executor: Callable[..., Any], buyer: Client
) -> None:
    executor = start_executor("run", str(manifest_path()))
    job = buyer.create_job("demo-slow", "through a restart", params={"seconds": 6, "size_kb": 64})
    executor.wait_for_event("job_running", job_id=str(job.id))
    live_api.stop()
    time.sleep(2)
    live_api.start()
    done = buyer.wait_for_job(job.id, timeout=120)
    assert done.status is JobStatus.COMPLETED, done.decision_reason
    assert executor.events("api_retry"), "the executor should have retried through the outage"
    assert [f.name for f in buyer.get_result(job.id).files] == ["payload.bin", "summary.txt"]
    # The loop survived too: a new job after the restart is served.
    after = buyer.wait_for_job(buyer.create_job("demo-echo", "again").id, timeout=60)
    assert after.status is JobStatus.COMPLETED
