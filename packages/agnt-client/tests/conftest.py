"""Fixtures for agnt-client tests: one test body drives both ``Client`` and ``AsyncClient``.

``make_client`` is parametrized over ``sync`` and ``async``: for ``async`` it wraps an
``AsyncClient`` in ``BlockingAsyncClient``, which runs each coroutine on the test's own
event loop, so the same assertions check both clients.
"""

from __future__ import annotations

import asyncio
import inspect
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from agnt_client import AsyncClient, Client

API_URL = "http://api.test"


class BlockingAsyncClient:
    """An ``AsyncClient`` with the ``Client`` call style: every coroutine is run to its end."""

    def __init__(self, client: AsyncClient, runner: asyncio.Runner) -> None:
        self.async_client = client
        self._runner = runner

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.async_client, name)
        if inspect.isasyncgenfunction(attr):
            return lambda *a, **kw: self._iterate(attr(*a, **kw))
        if inspect.iscoroutinefunction(attr):
            return lambda *a, **kw: self._runner.run(attr(*a, **kw))
        if name == "with_options":
            return lambda *a, **kw: BlockingAsyncClient(attr(*a, **kw), self._runner)
        return attr

    def _iterate(self, items: AsyncIterator[Any]) -> Iterator[Any]:
        async def step() -> Any:
            return await items.__anext__()

        while True:
            try:
                yield self._runner.run(step())
            except StopAsyncIteration:
                return

    def __enter__(self) -> BlockingAsyncClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@pytest.fixture
def runner() -> Iterator[asyncio.Runner]:
    """An event loop of the test's own, for the ``async`` flavour."""
    with asyncio.Runner() as loop_runner:
        yield loop_runner


@pytest.fixture(params=["sync", "async"])
def flavour(request: pytest.FixtureRequest) -> str:
    """Which client a test runs against."""
    return str(request.param)


@pytest.fixture
def make_client(flavour: str, runner: asyncio.Runner) -> Iterator[Callable[..., Any]]:
    """Factory: ``make_client(**client_kwargs)`` -> a ``Client`` or a ``BlockingAsyncClient``.

    ``handler=`` builds an ``httpx.MockTransport`` (a fake of the network) from a function.
    Every client made is closed at the end of the test.
    """
    made: list[Any] = []

    def make(
        handler: Callable[[httpx.Request], httpx.Response] | None = None, **kwargs: Any
    ) -> Any:
        if handler is not None:
            kwargs["transport"] = httpx.MockTransport(handler)
        kwargs.setdefault("base_url", API_URL)
        kwargs.setdefault("api_key", "agnt_test_key")
        client: Any
        if flavour == "sync":
            client = Client(**kwargs)
        else:
            client = BlockingAsyncClient(AsyncClient(**kwargs), runner)
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


def job_payload(**overrides: Any) -> dict[str, Any]:
    """A Job as the API sends it."""
    now = datetime.now(UTC).isoformat()
    job: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "agent_id": "demo-echo",
        "buyer_id": str(uuid.uuid4()),
        "prompt": "hello",
        "params": {},
        "status": "pending",
        "progress": 0,
        "decision_reason": None,
        "created_at": now,
        "updated_at": now,
    }
    job.update(overrides)
    return job


def problem(status: int, code: str, detail: str = "", **extra: Any) -> httpx.Response:
    """A problem+json answer as the API sends it."""
    body = {"type": "about:blank", "title": code, "status": status, "code": code, "detail": detail}
    body.update(extra)
    return httpx.Response(
        status,
        json=body,
        headers={"Content-Type": "application/problem+json", "X-Request-ID": "req-1"},
    )


@pytest.fixture
def payloads() -> Any:
    """The payload builders above, for tests (test modules cannot import each other)."""

    class Payloads:
        job = staticmethod(job_payload)
        problem = staticmethod(problem)

    return Payloads
