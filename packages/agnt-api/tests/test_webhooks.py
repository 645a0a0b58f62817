"""Webhooks over real HTTP: a receiver on loopback, the API's own delivery worker.

Each receiver is a real HTTP server in a thread; what it got is checked with the
``standardwebhooks`` package (the reference verifier, not ours).
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import anyio
import httpx
import pytest
import standardwebhooks

from agnt_api.services.webhook_delivery import run_webhook_deliveries
from agnt_api.services.webhooks import (
    is_public_address,
    message_id,
    new_secret,
    sign,
)

Api = Any

FAST = {"webhook_allow_private": True, "webhook_backoff_seconds": 0.05, "webhook_poll_seconds": 0.5}


@dataclass
class Received:
    """One request the receiver got."""

    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """A loopback HTTP server answering with ``statuses`` in turn (then 200), recording all."""

    statuses: list[int] = field(default_factory=list)
    delay: float = 0.0
    location: str = ""
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    url: str = ""

    def answer(self, request: Received) -> int:
        with self.lock:
            self.received.append(request)
            return self.statuses.pop(0) if self.statuses else 200

    def wait_for(self, count: int, timeout: float = 20.0) -> list[Received]:
        """Block until ``count`` requests arrived (AssertionError after ``timeout``)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.received) >= count:
                    return list(self.received)
            time.sleep(0.02)
        raise AssertionError(f"{len(self.received)} of {count} requests arrived")


@contextlib.contextmanager
def serve_receiver(receiver: Receiver) -> Iterator[Receiver]:
    """Run ``receiver`` on a free loopback port for the block."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length)
            status = receiver.answer(Received(self.path, dict(self.headers.items()), body))
            if receiver.delay:
                time.sleep(receiver.delay)
            self.send_response(status)
            if receiver.location:
                self.send_header("Location", receiver.location)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/hooks"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A receiver that answers 200."""
    with serve_receiver(Receiver()) as running:
        yield running


@contextlib.asynccontextmanager
async def delivering(api: Api) -> AsyncIterator[None]:
    """The API's delivery worker, running as the app's lifespan runs it."""
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(run_webhook_deliveries, api.runtime)
        try:
            yield
        finally:
            tasks.cancel_scope.cancel()


async def replica(make_api: Callable[..., Any], api: Api, **settings: Any) -> Api:
    """Another app on the test's database with ``settings``, and the test's keys."""
    made = await make_api(**settings)
    made.keys = api.keys
    return made


async def order_with_webhook(api: Api, who: str, webhook: dict[str, Any]) -> httpx.Response:
    return await api.client.post(
        "/v1/jobs",
        headers=api.auth(who),
        json={"agent_id": "echo", "prompt": "hi", "params": {}, "webhook": webhook},
    )


async def secret_of(api: Api, who: str) -> str:
    response = await api.client.get("/v1/webhooks/secret", headers=api.auth(who))
    assert response.status_code == 200, response.text
    return str(response.json()["secret"])


async def deliveries_of(api: Api, who: str, job_id: str) -> list[dict[str, Any]]:
    response = await api.client.get(f"/v1/jobs/{job_id}/webhook-deliveries", headers=api.auth(who))
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


async def eventually(check: Callable[[], Any], within: float = 20.0) -> Any:
    """Await ``check()`` until it returns something truthy."""
    deadline = time.monotonic() + within
    while True:
        result = await check()
        if result or time.monotonic() > deadline:
            return result
        await anyio.sleep(0.05)


def test_signature_is_what_standard_webhooks_computes() -> None:
    secret = new_secret()
    signature = sign(secret, "evt_1", 1_700_000_000, '{"a":1}')
    expected = standardwebhooks.Webhook(secret).sign(
        "evt_1", datetime.fromtimestamp(1_700_000_000, UTC), '{"a":1}'
    )
    assert signature == expected


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("8.8.8.8", True),
        ("2606:4700:4700::1111", True),
        ("127.0.0.1", False),
        ("10.1.2.3", False),
        ("172.16.0.1", False),
        ("192.168.1.1", False),
        ("169.254.169.254", False),
        ("100.64.0.1", False),
        ("0.0.0.0", False),
        ("224.0.0.1", False),
        ("::1", False),
        ("fe80::1", False),
        ("fc00::1", False),
        ("::ffff:127.0.0.1", False),
        ("::ffff:10.0.0.1", False),
    ],
)
def test_only_public_unicast_addresses_are_callable(address: str, public: bool) -> None:
    assert is_public_address(ipaddress.ip_address(address)) is public


async def test_receiver_failing_three_times_gets_the_fourth_signed(
    make_api: Callable[..., Any], api: Api, echo: dict[str, Any]
) -> None:
    api = await replica(make_api, api, **FAST)
    with serve_receiver(Receiver(statuses=[500, 503, 502])) as receiver:
        ordered = await order_with_webhook(
            api, "buyer-a", {"url": receiver.url, "events": ["accepted"]}
        )
        assert ordered.status_code == 201, ordered.text
        job_id = ordered.json()["id"]
        async with delivering(api):
            assert (await api.report("executor-x", job_id, "accepted")).status_code == 200
            got = await anyio.to_thread.run_sync(receiver.wait_for, 4)
            attempts = await eventually(
                lambda: _attempts_when(api, job_id, lambda items: len(items) == 4)
            )
        secret = await secret_of(api, "buyer-a")
    assert len(got) == 4
    last = got[3]
    payload = standardwebhooks.Webhook(secret).verify(last.body, last.headers)
    assert payload["kind"] == "accepted"
    assert payload["seq"] == 2
    assert payload["job_id"] == job_id
    # One id per event, the same on every retry: receivers de-duplicate on it.
    assert {request.headers["webhook-id"] for request in got} == {message_id(uuid.UUID(job_id), 2)}
    assert [item["status_code"] for item in attempts] == [500, 503, 502, 200]
    assert [item["attempt"] for item in attempts] == [1, 2, 3, 4]
    assert [item["delivered"] for item in attempts] == [False, False, False, True]
    assert attempts[0]["error"] == "HTTP 500"
    assert attempts[0]["next_attempt_at"] is not None
    assert attempts[3]["next_attempt_at"] is None
    assert all(item["latency_ms"] >= 0 for item in attempts)


async def _attempts_when(api: Api, job_id: str, ready: Callable[[list[Any]], bool]) -> Any:
    items = await deliveries_of(api, "buyer-a", job_id)
    return items if ready(items) else None


async def test_redirect_is_a_recorded_failure_and_its_target_sees_nothing(
    make_api: Callable[..., Any], api: Api, echo: dict[str, Any], receiver: Receiver
) -> None:
    api = await replica(make_api, api, **{**FAST, "webhook_max_attempts": 2})
    with serve_receiver(Receiver(statuses=[302, 307], location=receiver.url)) as redirecting:
        ordered = await order_with_webhook(api, "buyer-a", {"url": redirecting.url})
        job_id = ordered.json()["id"]
        async with delivering(api):
            attempts = await eventually(
                lambda: _attempts_when(api, job_id, lambda items: len(items) == 2)
            )
    assert [item["status_code"] for item in attempts] == [302, 307]
    assert not any(item["delivered"] for item in attempts)
    assert "redirects are not followed" in attempts[0]["error"]
    # Given up after webhook_max_attempts: no further attempt is scheduled.
    assert attempts[1]["next_attempt_at"] is None
    assert receiver.received == []


async def test_events_not_asked_for_are_not_sent(
    make_api: Callable[..., Any], api: Api, echo: dict[str, Any], receiver: Receiver
) -> None:
    api = await replica(make_api, api, **FAST)
    only_completed = await order_with_webhook(
        api, "buyer-a", {"url": receiver.url, "events": ["completed"]}
    )
    narrow_id = only_completed.json()["id"]
    default = await order_with_webhook(api, "buyer-a", {"url": receiver.url})
    default_id = default.json()["id"]
    async with delivering(api):
        for job_id in (narrow_id, default_id):
            await api.run_to_running("executor-x", job_id)
            assert (
                await api.report("executor-x", job_id, "running", progress=50)
            ).status_code == 200
        assert (await api.complete("executor-x", narrow_id, [("out.txt", b"x")])).status_code == 200
        await anyio.to_thread.run_sync(receiver.wait_for, 4)
        await anyio.sleep(0.5)
    kinds = [
        (uuid.UUID(json.loads(got.body)["job_id"]), json.loads(got.body)["kind"])
        for got in receiver.received
    ]
    narrow, default_job = uuid.UUID(narrow_id), uuid.UUID(default_id)
    assert sorted(kind for job, kind in kinds if job == narrow) == ["completed"]
    # Default: status kinds only, no progress.
    assert sorted(kind for job, kind in kinds if job == default_job) == [
        "accepted",
        "created",
        "running",
    ]


async def test_a_slow_receiver_does_not_hold_up_other_deliveries(
    make_api: Callable[..., Any], api: Api, echo: dict[str, Any], receiver: Receiver
) -> None:
    api = await replica(make_api, api, **FAST, webhook_timeout_seconds=3.0, webhook_max_attempts=1)
    with serve_receiver(Receiver(delay=6.0)) as slow:
        slow_job = (await order_with_webhook(api, "buyer-a", {"url": slow.url})).json()["id"]
        async with delivering(api):
            await anyio.to_thread.run_sync(slow.wait_for, 1)
            started = time.monotonic()
            # The slow receiver holds its attempt; the job goes on and ends at once.
            await api.run_to_running("executor-x", slow_job)
            completed = await api.complete("executor-x", slow_job, [("out.txt", b"x")])
            completion_seconds = time.monotonic() - started
            await order_with_webhook(api, "buyer-a", {"url": receiver.url})
            await anyio.to_thread.run_sync(receiver.wait_for, 1)
            fast_after = time.monotonic() - started
            attempts = await eventually(
                lambda: _attempts_when(api, slow_job, lambda items: len(items) >= 1)
            )
    assert completed.status_code == 200
    # Each of the slow receiver's attempts takes 3 s: neither waited for one.
    assert completion_seconds < 2.0
    assert fast_after < 2.0
    assert attempts[0]["status_code"] is None
    assert attempts[0]["error"] == "timed out after 3 s"
    assert attempts[0]["delivered"] is False


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9/hook",
        "http://localhost:9/hook",
        "http://10.0.0.7/hook",
        "http://[::1]:9/hook",
        "https://169.254.169.254/latest/meta-data",
        "http://[::ffff:192.168.0.1]/hook",
    ],
)
async def test_private_webhook_urls_are_refused_without_the_setting(
    api: Api, echo: dict[str, Any], url: str
) -> None:
    response = await order_with_webhook(api, "buyer-a", {"url": url})
    assert response.status_code == 422, response.text
    problem = response.json()
    assert problem["code"] == "validation_error"
    assert [error["loc"] for error in problem["errors"]] == ["webhook.url"]
    listed = await api.client.get("/v1/jobs", headers=api.auth("buyer-a"))
    assert listed.json()["items"] == []


@pytest.mark.parametrize("url", ["ftp://example.com/hook", "file:///etc/passwd", "not a url"])
async def test_non_http_webhook_urls_are_refused(api: Api, echo: dict[str, Any], url: str) -> None:
    response = await order_with_webhook(api, "buyer-a", {"url": url})
    assert response.status_code == 422, response.text
    problem = response.json()
    assert problem["code"] == "validation_error"
    assert any("webhook.url" in error["loc"] for error in problem["errors"]), problem


async def test_private_address_is_checked_again_at_delivery_time(
    make_api: Callable[..., Any], api: Api, echo: dict[str, Any], receiver: Receiver
) -> None:
    # Ordered where private targets were allowed; delivered by a process where they are
    # not (as a name that later resolves to a private address would be).
    permissive = await replica(make_api, api, **FAST)
    job_id = (await order_with_webhook(permissive, "buyer-a", {"url": receiver.url})).json()["id"]
    strict = await replica(make_api, api, **{**FAST, "webhook_allow_private": False})
    async with delivering(strict):
        attempts = await eventually(
            lambda: _attempts_when(strict, job_id, lambda items: len(items) >= 1)
        )
    assert attempts[0]["status_code"] is None
    assert "loopback" in attempts[0]["error"]
    assert receiver.received == []


async def test_secret_is_stable_until_rotated(api: Api) -> None:
    first = await secret_of(api, "buyer-a")
    assert first.startswith("whsec_")
    assert await secret_of(api, "buyer-a") == first
    assert await secret_of(api, "buyer-b") != first
    rotated = await api.client.post("/v1/webhooks/secret/rotate", headers=api.auth("buyer-a"))
    assert rotated.status_code == 200
    assert rotated.json()["secret"] not in (first, None)
    assert await secret_of(api, "buyer-a") == rotated.json()["secret"]


async def test_executors_have_no_webhook_secret(api: Api) -> None:
    response = await api.client.get("/v1/webhooks/secret", headers=api.auth("executor-x"))
    assert response.status_code == 403
    assert response.json()["code"] == "forbidden"
    unauthenticated = await api.client.post("/v1/webhooks/secret/rotate")
    assert unauthenticated.status_code == 401


async def test_deliveries_of_another_buyers_job_are_not_found(
    make_api: Callable[..., Any], api: Api, echo: dict[str, Any], receiver: Receiver
) -> None:
    api = await replica(make_api, api, **FAST)
    job_id = (await order_with_webhook(api, "buyer-a", {"url": receiver.url})).json()["id"]
    response = await api.client.get(
        f"/v1/jobs/{job_id}/webhook-deliveries", headers=api.auth("buyer-b")
    )
    assert response.status_code == 404
    assert response.json()["code"] == "job_not_found"
    assert await deliveries_of(api, "buyer-a", job_id) == []


@pytest.mark.parametrize(
    "database", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_a_pending_delivery_survives_an_api_restart(
    live_api_factory: Callable[..., Any], request: pytest.FixtureRequest, database: str
) -> None:
    database_url = None
    if database == "postgres":
        database_url = request.getfixturevalue("make_postgres_database")()
    env = {
        "AGNT_WEBHOOK_ALLOW_PRIVATE": "1",
        "AGNT_WEBHOOK_BACKOFF_SECONDS": "2",
        "AGNT_WEBHOOK_POLL_SECONDS": "0.5",
    }
    live = live_api_factory(database_url=database_url, env=env)
    buyer = {"Authorization": f"Bearer {live.buyer_key}"}
    executor = {"Authorization": f"Bearer {live.executor_key}"}
    published = httpx.put(
        f"{live.url}/v1/executor/agents/echo", headers=executor, json={"name": "Echo"}
    )
    assert published.status_code == 201, published.text
    with serve_receiver(Receiver(statuses=[500])) as receiver:
        ordered = httpx.post(
            f"{live.url}/v1/jobs",
            headers=buyer,
            json={"agent_id": "echo", "prompt": "hi", "webhook": {"url": receiver.url}},
        )
        assert ordered.status_code == 201, ordered.text
        receiver.wait_for(1)
        # The retry is due in ~2 s: the server is gone by then.
        live.stop()
        time.sleep(2.5)
        assert len(receiver.received) == 1
        live.start()
        got = receiver.wait_for(2)
        secret = httpx.get(f"{live.url}/v1/webhooks/secret", headers=buyer).json()["secret"]
        deliveries: list[Any] = []
        deadline = time.monotonic() + 20
        while len(deliveries) < 2 and time.monotonic() < deadline:
            deliveries = httpx.get(
                f"{live.url}/v1/jobs/{ordered.json()['id']}/webhook-deliveries", headers=buyer
            ).json()["items"]
            time.sleep(0.05)
    payload = standardwebhooks.Webhook(secret).verify(got[1].body, got[1].headers)
    assert payload["kind"] == "created"
    assert [(item["attempt"], item["status_code"]) for item in deliveries] == [(1, 500), (2, 200)]
