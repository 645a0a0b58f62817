"""A stopping server answers every waiting client at once, and never with a plain 500."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from agnt_api.app import CutOffRequestsAnswer503

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def serving(request: pytest.FixtureRequest, live_api_factory: Any) -> Any:
    """A live ``agnt-server serve``: SQLite (one process), or Postgres (one worker per CPU)."""
    if request.param == "sqlite":
        return live_api_factory()
    make = request.getfixturevalue("make_postgres_database")
    return live_api_factory(database_url=make(), workers=None)


def _auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def test_sigterm_answers_every_long_poll_at_once_with_the_current_state(
    serving: Any,
) -> None:
    api = serving
    async with (
        httpx.AsyncClient(base_url=api.url, headers=_auth(api.buyer_key), timeout=90) as buyer,
        httpx.AsyncClient(base_url=api.url, headers=_auth(api.executor_key), timeout=90) as ex,
    ):
        published = await ex.put("/v1/executor/agents/slow", json={"name": "Slow"})
        assert published.status_code == 201, published.text
        pending = (await buyer.post("/v1/jobs", json={"agent_id": "slow", "prompt": "a"})).json()
        held = (await buyer.post("/v1/jobs", json={"agent_id": "slow", "prompt": "b"})).json()
        claim = await ex.post("/v1/executor/claims", json={"job_ids": [held["id"]]})
        assert [job["id"] for job in claim.json()["items"]] == [held["id"]]
        await ex.put("/v1/executor/agents/idle", json={"name": "Idle"})

        waits = {
            "job": buyer.get(f"/v1/jobs/{pending['id']}", params={"wait": 60}),
            "claim": ex.post("/v1/executor/claims", json={"agent_ids": ["idle"], "wait": 60}),
            "watch": ex.post("/v1/executor/jobs/watch", json={"job_ids": [held["id"]], "wait": 60}),
            "listing": ex.get("/v1/executor/jobs", params={"agent_id": "idle", "wait": 60}),
        }
        tasks = {name: asyncio.create_task(call) for name, call in waits.items()}
        await asyncio.sleep(1.5)
        assert not any(task.done() for task in tasks.values())

        stopped_at = time.monotonic()
        stopping = asyncio.create_task(asyncio.to_thread(api.stop, 60.0))
        answers = {name: await asyncio.wait_for(task, 30) for name, task in tasks.items()}
        answered_in = time.monotonic() - stopped_at
        await stopping

    for name, response in answers.items():
        assert response.status_code == 200, (name, response.status_code, response.text)
        assert response.headers["content-type"] == "application/json", name
    assert answers["job"].json()["status"] == "pending"
    assert answers["claim"].json() == {"items": []}
    assert answers["watch"].json() == {"items": [], "missing": []}
    assert answers["listing"].json()["items"] == []
    # Well before the minute they asked for (and before a 5 s drain would cut them).
    assert answered_in < 4.5, answered_in


async def test_a_request_cut_off_at_shutdown_answers_503_problem_with_retry_after() -> None:
    entered = asyncio.Event()

    async def endless(scope: Any, receive: Any, send: Any) -> None:
        entered.set()
        await asyncio.Event().wait()

    sent: list[dict[str, Any]] = []

    async def send(message: Any) -> None:
        sent.append(message)

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    scope = {"type": "http", "method": "GET", "path": "/v1/jobs", "headers": [], "state": {}}
    # What uvicorn does when its graceful-shutdown timeout passes: cancel the request.
    request = asyncio.create_task(CutOffRequestsAnswer503(endless)(scope, receive, send))
    await entered.wait()
    request.cancel()
    with pytest.raises(asyncio.CancelledError):
        await request
    start = sent[0]
    assert start["status"] == 503
    headers = {key.decode(): value.decode() for key, value in start["headers"]}
    assert headers["content-type"] == "application/problem+json"
    assert headers["retry-after"] == "1"
    assert b'"code":"service_unavailable"' in sent[1]["body"]


def test_serve_refuses_several_workers_on_sqlite(tmp_path: Path) -> None:
    env = {**os.environ, "AGNT_DATA_DIR": str(tmp_path)}
    env.pop("AGNT_DATABASE_URL", None)
    done = subprocess.run(
        [sys.executable, "-m", "agnt_api.cli", "serve", "--workers", "2", "--port", "1"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "--workers above 1 needs Postgres" in done.stderr


def test_serve_refuses_zero_workers(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "agnt_api.cli", "serve", "--workers", "0"],
        env={**os.environ, "AGNT_DATA_DIR": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "must be 1 or more" in done.stderr
