"""Fixtures for agnt-client tests: one test body drives both ``Client`` and ``AsyncClient``.

``make_client`` is parametrized over ``sync`` and ``async``: for ``async`` it wraps an
``AsyncClient`` in ``BlockingAsyncClient``, which runs each coroutine on the test's own
event loop, so the same assertions check both clients.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import threading
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
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


# --- The real API: in-process over ASGI, and a live `agnt-server serve` subprocess -------

ROLES = ("buyer", "executor", "other_buyer", "other_executor")


@dataclass
class ApiUnderTest:
    """A real agnt API the tests talk to: where it is, its data, and one key per role.

    ``other_buyer`` and ``other_executor`` are second principals, for the tests of what
    one principal may not see or take from another.
    """

    kind: str
    url: str
    data_dir: Path
    keys: dict[str, str]
    app: Any = None


def provision(data_dir: Path) -> tuple[Any, dict[str, str]]:
    """Migrate a fresh SQLite database in ``data_dir`` and create a key for each role."""
    from agnt_api.db import Database
    from agnt_api.db.migrate import upgrade
    from agnt_api.services.keys import create_key
    from agnt_api.settings import load_settings
    from agnt_models import Role

    settings = load_settings(
        data_dir=data_dir,
        database_url=f"sqlite:///{data_dir / 'agnt.db'}",
        storage_url=(data_dir / "objects").as_uri(),
        session_secret="client-tests",
    )
    database = Database(settings.database_url)
    try:
        upgrade(database.engine)
        keys = {
            role: database.transact_write(
                create_key, Role(role.removeprefix("other_")), f"client-{role}", None
            ).key
            for role in ROLES
        }
    finally:
        database.dispose()
    return settings, keys


class SyncASGITransport(httpx.BaseTransport):
    """``httpx.ASGITransport`` for a sync ``httpx.Client``: runs the app on a loop thread.

    Bodies are buffered both ways (a test-only bridge; httpx's ASGI transport is async only).
    """

    def __init__(self, app: Any) -> None:
        self._asgi = httpx.ASGITransport(app)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        body = request.read()
        inner = httpx.Request(
            request.method,
            request.url,
            headers=request.headers,
            content=body,
            extensions=request.extensions,
        )

        async def send() -> httpx.Response:
            response = await self._asgi.handle_async_request(inner)
            content = await response.aread()
            return httpx.Response(response.status_code, headers=response.headers, content=content)

        return asyncio.run_coroutine_threadsafe(send(), self._loop).result()

    def close(self) -> None:
        """Stop the loop thread (the httpx client closes its transport with itself)."""
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()


@pytest.fixture(scope="module")
def asgi_api(tmp_path_factory: pytest.TempPathFactory) -> ApiUnderTest:
    """The API app in this process (``create_app``), reached over ASGI, no socket."""
    from agnt_api.app import create_app

    data_dir = tmp_path_factory.mktemp("asgi-api")
    settings, keys = provision(data_dir)
    app = create_app(settings, run_reaper_task=False)
    return ApiUnderTest("asgi", "http://testserver", data_dir, keys, app)


def _live_api_type(config: pytest.Config) -> Any:
    # The root conftest's LiveApi runs `agnt-server serve`; its fixtures are function
    # scoped, and one server per test is too slow here, so this module shares one.
    root = str(config.rootpath / "conftest.py")
    for plugin in config.pluginmanager.get_plugins():
        if getattr(plugin, "__file__", None) == root:
            return plugin.LiveApi
    raise RuntimeError("the root conftest.py with LiveApi is not loaded")


SERVER_START_TIMEOUT = 120.0
"""Two cores shared by many test runs: the server's imports alone can take 30 s."""


@contextlib.contextmanager
def running_live_api(
    config: pytest.Config,
    data_dir: Path,
    *,
    storage_url: str | None = None,
    env: dict[str, str] | None = None,
) -> Iterator[ApiUnderTest]:
    """A real ``agnt-server serve`` subprocess on a free loopback port, provisioned here."""
    server = _live_api_type(config)(data_dir, storage_url=storage_url, env=env)
    _, keys = provision(server.data_dir)
    server.start(timeout=SERVER_START_TIMEOUT)
    try:
        yield ApiUnderTest("live", server.url, server.data_dir, keys)
    finally:
        server.stop()


@pytest.fixture(scope="module")
def live_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ApiUnderTest]:
    """A live API on SQLite and file storage, shared by the tests of a module."""
    with running_live_api(request.config, tmp_path_factory.mktemp("live-api")) as server:
        yield server


@pytest.fixture
def start_live_api(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[Callable[..., ApiUnderTest]]:
    """Factory: ``start_live_api(storage_url=None, env=None)`` -> a live API of this test's own."""
    with contextlib.ExitStack() as servers:

        def start(
            storage_url: str | None = None, env: dict[str, str] | None = None
        ) -> ApiUnderTest:
            data_dir = tmp_path / f"api-{uuid.uuid4().hex[:8]}"
            return servers.enter_context(
                running_live_api(request.config, data_dir, storage_url=storage_url, env=env)
            )

        yield start


@pytest.fixture(params=["asgi", "live"])
def api(request: pytest.FixtureRequest) -> ApiUnderTest:
    """Each test runs against the app over ASGI and against the live server."""
    return request.getfixturevalue(
        f"{request.param}_api" if request.param == "asgi" else "live_server"
    )


@pytest.fixture
def connect(
    api: ApiUnderTest, flavour: str, runner: asyncio.Runner
) -> Iterator[Callable[..., Any]]:
    """Factory: ``connect(role="buyer", **client_kwargs)`` -> a client of ``api`` for ``role``
    (``None``: no key at all, not even ``AGNT_API_KEY``).

    Sync clients reach the ASGI app through ``SyncASGITransport``, async ones through
    ``httpx.ASGITransport``.
    """
    made: list[Any] = []

    def make(role: str | None = "buyer", **kwargs: Any) -> Any:
        key = kwargs.pop("api_key", api.keys[role] if role else "")
        base_url = kwargs.pop("base_url", api.url)
        kwargs.setdefault("max_retries", 0)
        client: Any
        if flavour == "sync":
            if api.kind == "asgi":
                kwargs["transport"] = SyncASGITransport(api.app)
            client = Client(base_url, key, **kwargs)
        else:
            if api.kind == "asgi":
                kwargs["transport"] = httpx.ASGITransport(api.app)
            client = BlockingAsyncClient(AsyncClient(base_url, key, **kwargs), runner)
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


@pytest.fixture
def agent_id() -> str:
    """A fresh agent id, so tests sharing one API never see each other's agents or jobs."""
    return f"t-{uuid.uuid4().hex[:12]}"
