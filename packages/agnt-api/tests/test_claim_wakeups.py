"""Claim long-polls are woken one at a time, and no wake is lost (no thundering herd).

A new job wakes one waiting claimer, not every claimer of its executor; a claimer waits on
the topics of the agents it serves; a woken claimer that leaves without acting on its
wake, or that took its ``max``, hands a wake on. Claim attempts are counted as the claim
statements the app's engine sends (the real code path, on SQLite and Postgres).
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from agnt_api.services.leases import expire_leases


class ClaimAttempts:
    """Counts the claim statements (``WITH picked ... UPDATE jobs``) an engine sends."""

    def __init__(self) -> None:
        self.count = 0
        self._lock = threading.Lock()

    def seen(self, _conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if "picked" in statement and "UPDATE jobs" in statement:
            with self._lock:
                self.count += 1

    async def reach(self, count: int) -> None:
        """Wait until ``count`` attempts were made (the claimers are in their wait then)."""
        for _ in range(500):
            if self.count >= count:
                break
            await asyncio.sleep(0.02)
        assert self.count >= count
        await asyncio.sleep(0.2)


@pytest.fixture
def attempts(api: Any) -> Iterator[ClaimAttempts]:
    counter = ClaimAttempts()
    engine = api.runtime.database.engine
    sa.event.listen(engine, "before_cursor_execute", counter.seen)
    yield counter
    sa.event.remove(engine, "before_cursor_execute", counter.seen)


def _claim(api: Any, who: str = "executor-x", **body: Any) -> asyncio.Task[httpx.Response]:
    return asyncio.create_task(
        api.client.post("/v1/executor/claims", headers=api.auth(who), json=body)
    )


def _claimed_ids(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()["items"]]


async def test_one_order_wakes_one_of_eight_waiting_claimers(
    api: Any, echo: Any, attempts: ClaimAttempts
) -> None:
    # max=2: a claimer that takes fewer than its max does not hand a wake on, so the one
    # order costs exactly one attempt (the old hub woke all eight: eight attempts).
    waiting = {_claim(api, agent_ids=["echo"], max=2, wait=30) for _ in range(8)}
    await attempts.reach(8)
    # Each order wakes one of the claimers still waiting, which takes it: one attempt each.
    for n in range(8):
        before = attempts.count
        job = await api.order("buyer-a", "echo")
        done, waiting = await asyncio.wait(waiting, timeout=2, return_when="FIRST_COMPLETED")
        assert len(done) == 1, "the job was not claimed promptly"
        assert _claimed_ids(done.pop().result()) == [job["id"]]
        if n == 0:
            await asyncio.sleep(0.3)
            assert attempts.count - before == 1
    assert attempts.count == 16


async def test_a_job_of_agent_b_wakes_the_claimer_of_b_not_of_a(
    api: Any, echo: Any, attempts: ClaimAttempts
) -> None:
    await api.publish("executor-x", "other")
    of_a = _claim(api, agent_ids=["echo"], wait=30)  # the oldest waiter of the executor
    await attempts.reach(1)
    of_b = _claim(api, agent_ids=["other"], wait=30)
    await attempts.reach(2)
    job = await api.order("buyer-a", "other")
    assert _claimed_ids(await asyncio.wait_for(of_b, 1)) == [job["id"]]
    await asyncio.sleep(0.2)
    assert not of_a.done()
    assert attempts.count == 3  # B's claimer only
    mine = await api.order("buyer-a", "echo")
    assert _claimed_ids(await asyncio.wait_for(of_a, 5)) == [mine["id"]]


class HangingUpClaim:
    """A claim sent straight to the ASGI app, whose client hangs up on ``hang_up()``."""

    def __init__(self, api: Any, body: dict[str, Any]) -> None:
        self._body = json.dumps(body).encode()
        self._gone = asyncio.Event()
        self._sent = False
        self.messages: list[dict[str, Any]] = []
        headers = [
            (b"host", b"testserver"),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(self._body)).encode()),
            *((k.lower().encode(), v.encode()) for k, v in api.auth("executor-x").items()),
        ]
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": "/v1/executor/claims",
            "raw_path": b"/v1/executor/claims",
            "query_string": b"",
            "root_path": "",
            "headers": headers,
            "client": ("127.0.0.1", 50000),
            "server": ("testserver", 80),
        }
        self.task = asyncio.create_task(api.app(scope, self._receive, self._send))

    def hang_up(self) -> None:
        self._gone.set()

    async def _receive(self) -> dict[str, Any]:
        if not self._sent:
            self._sent = True
            return {"type": "http.request", "body": self._body, "more_body": False}
        await self._gone.wait()
        return {"type": "http.disconnect"}

    async def _send(self, message: dict[str, Any]) -> None:
        self.messages.append(message)

    def items(self) -> list[Any]:
        body = b"".join(
            m.get("body", b"") for m in self.messages if m["type"] == "http.response.body"
        )
        return list(json.loads(body)["items"])


async def test_a_woken_claimer_that_hung_up_hands_the_job_on(
    api: Any, echo: Any, attempts: ClaimAttempts
) -> None:
    gone = HangingUpClaim(api, {"agent_ids": ["echo"], "wait": 30})  # the oldest: woken first
    await attempts.reach(1)
    others = [_claim(api, agent_ids=["echo"], max=2, wait=30) for _ in range(2)]
    await attempts.reach(3)
    gone.hang_up()
    job = await api.order("buyer-a", "echo")
    await asyncio.wait_for(gone.task, 1)
    assert gone.items() == []  # it left without claiming for nobody
    done, _ = await asyncio.wait(others, timeout=1, return_when=asyncio.FIRST_COMPLETED)
    assert len(done) == 1, "the hung-up claimer's wake was lost"
    assert _claimed_ids(done.pop().result()) == [job["id"]]
    await asyncio.sleep(0.3)
    assert attempts.count == 4  # one hand-on, one attempt; not one per waiter
    last = await api.order("buyer-a", "echo")
    (remaining,) = [task for task in others if not task.done()]
    assert _claimed_ids(await asyncio.wait_for(remaining, 5)) == [last["id"]]


async def test_three_jobs_requeued_at_once_reach_three_claimers(
    make_api: Any, api: Any, echo: Any
) -> None:
    short = await make_api(lease_seconds=0.3)
    short.keys = api.keys
    await short.publish("executor-x", "echo", max_attempts=3)
    ordered = {(await short.order("buyer-a", "echo"))["id"] for _ in range(3)}
    taken = await short.client.post(
        "/v1/executor/claims", headers=short.auth("executor-x"), json={"max": 3}
    )
    assert set(_claimed_ids(taken)) == ordered
    # Three claimers of max=1 waiting; the reaper requeues the three jobs in one transaction
    # (one notification): each claimer that takes its max hands a wake on to the next.
    claimers = [_claim(short, agent_ids=["echo"], max=1, wait=30) for _ in range(3)]
    await asyncio.sleep(0.6)
    assert not any(task.done() for task in claimers)
    assert set(await expire_leases(short.runtime)) == ordered
    answers = await asyncio.wait_for(asyncio.gather(*claimers), 2)
    assert {ids[0] for ids in map(_claimed_ids, answers)} == ordered
