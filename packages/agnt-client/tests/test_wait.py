"""wait_for_job on an API without the event stream: long-polls until terminal, or times out.

Each handler here is wrapped in ``older_server``, which answers the events endpoint 404
as an API from before issue 15 does; the stream path is in ``test_events.py``.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from agnt_client import APIConnectionError, NotFoundError, WaitTimeoutError

Handler = Callable[[httpx.Request], httpx.Response]


def older_server(handler: Handler) -> Handler:
    """``handler`` behind an API that has no ``/events`` endpoint (answers it 404)."""

    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/events"):
            return httpx.Response(404, json={"detail": "Not Found"})
        return handler(request)

    return answer


def test_wait_for_job_long_polls_until_terminal(make_client: Any, payloads: Any) -> None:
    job_id = str(uuid.uuid4())
    states = iter(["pending", "pending", "running", "running", "completed"])
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=payloads.job(id=job_id, status=next(states)))

    job = make_client(older_server(handler)).wait_for_job(job_id)
    assert job.status == "completed"
    # wait_for_job's own first look, then follow_job's, then the long-polls.
    assert "wait" not in seen[0].url.params and "wait" not in seen[1].url.params
    assert [r.url.params["wait"] for r in seen[2:]] == ["60", "60", "60"]
    assert seen[2].extensions["timeout"]["read"] == 90.0


def test_wait_for_job_returns_a_terminal_job_at_once(make_client: Any, payloads: Any) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=payloads.job(status="rejected", decision_reason="busy"))

    assert (
        make_client(older_server(handler)).wait_for_job(uuid.uuid4(), timeout=5).decision_reason
        == "busy"
    )
    assert len(seen) == 1


def test_wait_for_job_timeout_raises_with_the_last_job(make_client: Any, payloads: Any) -> None:
    job_id = str(uuid.uuid4())
    waits: list[float] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if "wait" in request.url.params:
            waits.append(float(request.url.params["wait"]))
        return httpx.Response(200, json=payloads.job(id=job_id, status="running", progress=30))

    with pytest.raises(WaitTimeoutError) as caught:
        make_client(older_server(handler)).wait_for_job(job_id, timeout=0.3)
    assert str(caught.value.job.id) == job_id
    assert caught.value.job.progress == 30
    assert waits and all(0 < w <= 0.3 for w in waits)
    assert "still running (30%)" in str(caught.value)


def test_job_wait_sizes_each_long_poll_to_the_time_left(payloads: Any) -> None:
    from agnt_client.waiting import JobWait
    from agnt_models import Job

    now = [100.0]
    clock = JobWait(75.0, clock=lambda: now[0])
    running = Job.model_validate(payloads.job(status="running"))
    assert clock.next_wait(running) == 60.0
    now[0] = 160.0
    assert clock.next_wait(running) == 15.0
    now[0] = 174.96
    assert clock.next_wait(running) == 0.1
    assert clock.next_wait(Job.model_validate(payloads.job(status="failed"))) is None
    now[0] = 175.0
    with pytest.raises(WaitTimeoutError):
        clock.next_wait(running)
    assert JobWait(None).next_wait(running) == 60.0


def test_wait_for_job_rides_out_a_restart_of_the_api(make_client: Any, payloads: Any) -> None:
    """A refused connection, a dropped long-poll and a plain 500 are retried past
    ``max_retries`` (503s too: ``test_transient_statuses_are_retried_until_success``)."""
    job_id = str(uuid.uuid4())
    outage: list[Any] = [
        httpx.ConnectError("refused"),
        httpx.RemoteProtocolError("server disconnected"),
        httpx.Response(500, text="Internal Server Error"),
    ]
    answers = iter(
        [httpx.Response(200, json=payloads.job(id=job_id, status="running")), *outage]
        + [httpx.Response(200, json=payloads.job(id=job_id, status="completed"))]
    )

    def handler(request: httpx.Request) -> httpx.Response:
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        assert isinstance(answer, httpx.Response)
        return answer

    client = make_client(older_server(handler), max_retries=0)
    assert client.wait_for_job(job_id, timeout=30).status == "completed"


def test_wait_for_job_gives_the_last_job_when_the_api_is_away_past_the_timeout(
    make_client: Any, payloads: Any
) -> None:
    job_id = str(uuid.uuid4())
    polls: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        polls.append(request)
        if len(polls) == 1:
            return httpx.Response(200, json=payloads.job(id=job_id, status="running", progress=7))
        raise httpx.ConnectError("refused", request=request)

    with pytest.raises(WaitTimeoutError) as caught:
        make_client(older_server(handler)).wait_for_job(job_id, timeout=1.0)
    assert caught.value.job.progress == 7
    assert isinstance(caught.value.__cause__, APIConnectionError)
    assert len(polls) >= 3


def test_wait_for_job_does_not_retry_a_missing_job(make_client: Any, payloads: Any) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return payloads.problem(404, "job_not_found")

    with pytest.raises(NotFoundError):
        make_client(older_server(handler)).wait_for_job(uuid.uuid4(), timeout=5)
    assert len(seen) == 1


def test_follow_job_yields_every_state_it_sees(make_client: Any, payloads: Any) -> None:
    job_id = str(uuid.uuid4())
    states = iter([("pending", 0), ("running", 10), ("running", 60), ("completed", 100)])

    def handler(request: httpx.Request) -> httpx.Response:
        status, progress = next(states)
        return httpx.Response(200, json=payloads.job(id=job_id, status=status, progress=progress))

    seen = [(j.status.value, j.progress) for j in make_client(handler).follow_job(job_id)]
    assert seen == [("pending", 0), ("running", 10), ("running", 60), ("completed", 100)]
