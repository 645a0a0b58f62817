"""Retries: which failures are retried, how often, how long the client waits first.

The network is faked with ``httpx.MockTransport`` handlers that fail N times, then answer.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from agnt_client import (
    APIConnectionError,
    APITimeoutError,
    Client,
    ConflictError,
    InternalServerError,
    RateLimitError,
    RetryPolicy,
)
from agnt_client.retries import is_idempotent, parse_retry_after


def failing(
    times: int, failure: Callable[[httpx.Request], httpx.Response], success: httpx.Response
) -> tuple[list[httpx.Request], Callable[[httpx.Request], httpx.Response]]:
    """A handler whose first ``times`` calls end in ``failure``, then answer ``success``."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        request.read()
        seen.append(request)
        if len(seen) <= times:
            return failure(request)
        return success

    return seen, handler


def refuse(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("connection refused", request=request)


def read_timeout(request: httpx.Request) -> httpx.Response:
    raise httpx.ReadTimeout("timed out", request=request)


def status(code: int, retry_after: str = "0") -> Callable[[httpx.Request], httpx.Response]:
    return lambda request: httpx.Response(
        code,
        json={"title": "x", "status": code, "code": "service_unavailable"},
        headers={"Retry-After": retry_after},
    )


@pytest.mark.parametrize("code", [408, 429, 500, 502, 503, 504])
def test_transient_statuses_are_retried_until_success(
    make_client: Any, payloads: Any, code: int
) -> None:
    seen, handler = failing(2, status(code), httpx.Response(200, json=payloads.job()))
    job = make_client(handler, max_retries=2).get_job(uuid.uuid4())
    assert len(seen) == 3
    assert job.status == "pending"


def test_connection_refused_is_retried_with_backoff(make_client: Any, payloads: Any) -> None:
    seen, handler = failing(2, refuse, httpx.Response(200, json=payloads.job()))
    started = time.monotonic()
    make_client(handler, max_retries=2).get_job(uuid.uuid4())
    assert len(seen) == 3
    # backoff 0.5 s then 1 s, each with up to 25 % jitter off
    assert time.monotonic() - started >= 0.375 + 0.75


def test_gives_up_after_max_retries_with_the_last_error(make_client: Any, payloads: Any) -> None:
    seen, handler = failing(5, status(503), httpx.Response(200, json=payloads.job()))
    with pytest.raises(InternalServerError) as caught:
        make_client(handler, max_retries=3).get_job(uuid.uuid4())
    assert len(seen) == 4
    assert caught.value.status_code == 503
    assert caught.value.code == "service_unavailable"


def test_max_retries_zero_sends_once(make_client: Any, payloads: Any) -> None:
    seen, handler = failing(1, status(429), httpx.Response(200, json=payloads.job()))
    with pytest.raises(RateLimitError):
        make_client(handler, max_retries=0).get_job(uuid.uuid4())
    assert len(seen) == 1


def test_read_timeout_of_a_get_is_retried_then_raised_as_timeout(
    make_client: Any, payloads: Any
) -> None:
    seen, handler = failing(9, read_timeout, httpx.Response(200, json=payloads.job()))
    with pytest.raises(APITimeoutError):
        make_client(handler, max_retries=1).get_job(uuid.uuid4())
    assert len(seen) == 2


def test_create_job_retries_with_the_same_idempotency_key(make_client: Any, payloads: Any) -> None:
    seen, handler = failing(2, read_timeout, httpx.Response(201, json=payloads.job()))
    make_client(handler, max_retries=2).create_job("demo-echo", "hi")
    assert len(seen) == 3
    assert len({r.headers["idempotency-key"] for r in seen}) == 1


def test_post_without_idempotency_key_is_not_retried_after_it_may_have_been_sent(
    make_client: Any, payloads: Any
) -> None:
    seen, handler = failing(1, read_timeout, httpx.Response(200, json=payloads.job()))
    with pytest.raises(APITimeoutError):
        make_client(handler, max_retries=2).cancel_job(uuid.uuid4())
    assert len(seen) == 1


@pytest.mark.parametrize("code", [500, 502, 503, 504])
def test_post_without_idempotency_key_is_not_retried_on_gateway_errors(
    make_client: Any, payloads: Any, code: int
) -> None:
    seen, handler = failing(1, status(code), httpx.Response(200, json=payloads.job()))
    with pytest.raises(InternalServerError):
        make_client(handler, max_retries=2).cancel_job(uuid.uuid4())
    assert len(seen) == 1


def test_post_is_retried_when_the_api_certainly_did_not_act(
    make_client: Any, payloads: Any
) -> None:
    seen, handler = failing(1, refuse, httpx.Response(200, json=payloads.job()))
    make_client(handler, max_retries=1).cancel_job(uuid.uuid4())
    seen429, handler429 = failing(1, status(429), httpx.Response(200, json=payloads.job()))
    make_client(handler429, max_retries=1).report_status(uuid.uuid4(), "accepted")
    assert (len(seen), len(seen429)) == (2, 2)


def test_upload_is_sent_whole_again_on_retry(
    make_client: Any, payloads: Any, tmp_path: Path
) -> None:
    path = tmp_path / "out.bin"
    path.write_bytes(b"z" * 150_000)
    seen, handler = failing(
        1, status(429), httpx.Response(200, json=payloads.job(status="completed"))
    )
    make_client(handler, max_retries=1).complete_job(uuid.uuid4(), [path])
    assert len(seen) == 2
    assert seen[0].content == seen[1].content
    assert len(seen[1].content) == int(seen[1].headers["content-length"])


def test_a_conflict_is_never_retried(make_client: Any, payloads: Any) -> None:
    seen, handler = failing(
        1, lambda r: payloads.problem(409, "invalid_transition"), httpx.Response(200)
    )
    with pytest.raises(ConflictError):
        make_client(handler, max_retries=3).cancel_job(uuid.uuid4())
    assert len(seen) == 1


def test_exhausted_connection_errors_raise_api_connection_error(
    make_client: Any, payloads: Any
) -> None:
    seen, handler = failing(9, refuse, httpx.Response(200))
    with pytest.raises(APIConnectionError) as caught:
        make_client(handler, max_retries=0).health()
    assert not isinstance(caught.value, APITimeoutError)
    assert caught.value.request is not None
    assert caught.value.request.url.path == "/healthz"


def test_retry_after_too_long_is_not_waited_for(make_client: Any, payloads: Any) -> None:
    seen, handler = failing(
        1, status(503, retry_after="3600"), httpx.Response(200, json=payloads.job())
    )
    with pytest.raises(InternalServerError):
        make_client(handler, max_retries=2).get_job(uuid.uuid4())
    assert len(seen) == 1


def test_retry_after_is_honoured(make_client: Any, payloads: Any) -> None:
    seen, handler = failing(
        1, status(429, retry_after="0.3"), httpx.Response(200, json=payloads.job())
    )
    started = time.monotonic()
    make_client(handler, max_retries=1).get_job(uuid.uuid4())
    assert time.monotonic() - started >= 0.3


def test_backoff_doubles_up_to_the_cap_with_jitter_off_at_most_a_quarter() -> None:
    no_jitter = RetryPolicy(initial_delay=0.5, max_delay=4.0, jitter=lambda: 0.0)
    full_jitter = RetryPolicy(initial_delay=0.5, max_delay=4.0, jitter=lambda: 1.0)
    assert [no_jitter.backoff(n) for n in range(5)] == [0.5, 1.0, 2.0, 4.0, 4.0]
    assert [full_jitter.backoff(n) for n in range(3)] == [0.375, 0.75, 1.5]


def test_retry_after_accepts_seconds_dates_and_milliseconds() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    later = format_datetime(now + timedelta(seconds=7), usegmt=True)
    assert parse_retry_after(httpx.Headers({"Retry-After": "3"})) == 3.0
    assert parse_retry_after(httpx.Headers({"Retry-After": later}), now=now) == 7.0
    assert parse_retry_after(httpx.Headers({"retry-after-ms": "250"})) == 0.25
    assert parse_retry_after(httpx.Headers({"Retry-After": "soon"})) is None
    assert parse_retry_after(httpx.Headers({})) is None


def test_only_safe_methods_or_keyed_posts_are_idempotent() -> None:
    assert is_idempotent("GET", {})
    assert is_idempotent("put", {})
    assert not is_idempotent("POST", {})
    assert is_idempotent("POST", {"idempotency-key": "k"})


def test_each_retry_is_logged_without_the_query_string(
    make_client: Any, payloads: Any, caplog: pytest.LogCaptureFixture
) -> None:
    seen, handler = failing(1, status(503), httpx.Response(200, json=payloads.job()))
    job_id = uuid.uuid4()
    with caplog.at_level("INFO", logger="agnt_client"):
        make_client(handler, max_retries=1).get_job(job_id, wait=1)
    assert [r.getMessage() for r in caplog.records] == [
        f"retry 1/1 of GET http://api.test/v1/jobs/{job_id} in 0.00 s after 503"
    ]


@pytest.mark.parametrize("failure", [read_timeout, status(502), status(500)])
def test_status_reports_are_retried_since_the_api_answers_a_repeat_alike(
    make_client: Any, payloads: Any, failure: Callable[[httpx.Request], httpx.Response]
) -> None:
    seen, handler = failing(1, failure, httpx.Response(200, json=payloads.job(status="running")))
    job = make_client(handler, max_retries=1).report_status(uuid.uuid4(), "running", progress=5)
    assert job.status == "running"
    assert len(seen) == 2
    assert seen[0].content == seen[1].content


def test_a_completion_is_retried_with_the_same_idempotency_key(
    make_client: Any, payloads: Any, tmp_path: Path
) -> None:
    path = tmp_path / "out.bin"
    path.write_bytes(b"z" * 1000)
    seen, handler = failing(
        2, read_timeout, httpx.Response(200, json=payloads.job(status="completed"))
    )
    make_client(handler, max_retries=2).complete_job(uuid.uuid4(), [path])
    assert len(seen) == 3
    assert len({r.headers["idempotency-key"] for r in seen}) == 1
    assert seen[0].content == seen[2].content


def test_watching_jobs_is_retried_after_a_lost_answer(make_client: Any, payloads: Any) -> None:
    seen, handler = failing(1, read_timeout, httpx.Response(200, json={"items": []}))
    assert make_client(handler, max_retries=1).watch_jobs([uuid.uuid4()]).items == []
    assert len(seen) == 2


@pytest.mark.parametrize("failure", [read_timeout, status(502), status(503)])
def test_a_claim_is_not_retried_once_the_api_may_have_acted(
    make_client: Any, failure: Callable[[httpx.Request], httpx.Response]
) -> None:
    # A repeat would not return the jobs the first claim took: the executor finds them.
    seen, handler = failing(1, failure, httpx.Response(200, json={"items": []}))
    with pytest.raises((APITimeoutError, InternalServerError)):
        make_client(handler, max_retries=3).claim_jobs(max=2)
    assert len(seen) == 1


def test_a_claim_is_retried_when_it_never_reached_the_api(make_client: Any) -> None:
    seen, handler = failing(1, refuse, httpx.Response(200, json={"items": []}))
    seen429, handler429 = failing(1, status(429), httpx.Response(200, json={"items": []}))
    assert make_client(handler, max_retries=1).claim_jobs() == []
    assert make_client(handler429, max_retries=1).claim_jobs() == []
    assert (len(seen), len(seen429)) == (2, 2)


def test_retry_after_on_429_is_honoured_for_a_post(make_client: Any, payloads: Any) -> None:
    seen, handler = failing(
        1, status(429, retry_after="0.4"), httpx.Response(200, json=payloads.job())
    )
    started = time.monotonic()
    make_client(handler, max_retries=1).cancel_job(uuid.uuid4())
    assert time.monotonic() - started >= 0.4
    assert len(seen) == 2


def test_the_deadline_bounds_retries_without_a_count_limit(make_client: Any) -> None:
    seen, handler = failing(10_000, refuse, httpx.Response(200))
    client = make_client(handler, max_retries=None, retry_deadline=1.1)
    started = time.monotonic()
    with pytest.raises(APIConnectionError):
        client.health()
    took = time.monotonic() - started
    # backoffs are 0.375-0.5 s then 0.75-1.0 s (jitter takes up to 25 % off): the second
    # retry would start at >= 1.125 s, past the deadline whatever the jitter draws
    assert 0.375 <= took < 1.1
    assert len(seen) == 2


def test_a_retry_after_past_the_deadline_is_not_waited_for(make_client: Any) -> None:
    seen, handler = failing(5, status(503, retry_after="5"), httpx.Response(200))
    started = time.monotonic()
    with pytest.raises(InternalServerError):
        make_client(handler, max_retries=5, retry_deadline=2).health()
    assert time.monotonic() - started < 1
    assert len(seen) == 1


def test_the_deadline_lets_a_call_ride_out_an_outage_longer_than_the_count(
    make_client: Any, payloads: Any
) -> None:
    seen, handler = failing(
        6, status(503, retry_after="0.05"), httpx.Response(200, json=payloads.job())
    )
    job = make_client(handler, max_retries=None, retry_deadline=30).get_job(uuid.uuid4())
    assert job.status == "pending"
    assert len(seen) == 7


def test_no_count_limit_needs_a_deadline() -> None:
    with pytest.raises(ValueError, match="deadline"):
        RetryPolicy(max_retries=None)
    with pytest.raises(ValueError, match="retry_deadline"):
        Client("http://api.test", max_retries=None)
    with pytest.raises(ValueError, match="retry_deadline must be >= 0"):
        Client("http://api.test", retry_deadline=-1)
    client = Client("http://api.test", max_retries=None, retry_deadline=5)
    with pytest.raises(ValueError, match="retry_deadline"):
        client.with_options(retry_deadline=None)
    assert client.with_options(max_retries=3).options.retry_policy.deadline == 5
    client.close()


def test_a_retry_without_a_count_limit_is_logged_without_one(
    make_client: Any, payloads: Any, caplog: pytest.LogCaptureFixture
) -> None:
    seen, handler = failing(1, status(503), httpx.Response(200, json=payloads.job()))
    job_id = uuid.uuid4()
    with caplog.at_level("INFO", logger="agnt_client"):
        make_client(handler, max_retries=None, retry_deadline=5).get_job(job_id)
    assert [r.getMessage() for r in caplog.records] == [
        f"retry 1 of GET http://api.test/v1/jobs/{job_id} in 0.00 s after 503"
    ]
