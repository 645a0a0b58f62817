"""Fixtures of the API suite: the real app over ASGI on SQLite and on Postgres.

``api`` is parametrized over both databases, so every test that uses it runs twice (the
Postgres run needs ``AGNT_TEST_POSTGRES_URL``). It carries keys for two buyers (A, B), two
executors (X, Y) and an admin, created through the key service like ``agnt-server keys``.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from agnt_api.app import create_app
from agnt_api.runtime import Runtime
from agnt_api.services import keys
from agnt_api.settings import Settings
from agnt_models import Role

ECHO_SCHEMA = {
    "type": "object",
    "properties": {"count": {"type": "integer", "minimum": 1}, "shout": {"type": "boolean"}},
    "additionalProperties": False,
}


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_kind(request: pytest.FixtureRequest) -> str:
    """``sqlite`` or ``postgres``: every test on a database runs on both."""
    return str(request.param)


ON_POSTGRES_ONLY = pytest.mark.parametrize(
    "database_kind", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)
"""A test about something only Postgres has (shared buckets, folded statements)."""

ON_SQLITE_ONLY = pytest.mark.parametrize("database_kind", ["sqlite"], indirect=True)
"""A test about something only SQLite can hold (what its text columns once stored)."""


@pytest.fixture
def database_url(database_kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database: a SQLite file, or a fresh Postgres database."""
    if database_kind == "sqlite":
        return f"sqlite:///{tmp_path / 'agnt.db'}"
    make: Callable[[], str] = request.getfixturevalue("make_postgres_database")
    return make()


@pytest.fixture
def migrated_url(database_kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database of this test's own at the head revision: a copy of the worker's migrated
    template (the same schema ``upgrade`` makes, without running every revision again)."""
    if database_kind == "sqlite":
        copy: Callable[[Path], str] = request.getfixturevalue("make_migrated_sqlite_database")
        return copy(tmp_path / "agnt.db")
    make: Callable[[], str] = request.getfixturevalue("make_migrated_postgres_database")
    return make()


def make_settings(tmp_path: Path, database_url: str, **overrides: Any) -> Settings:
    """Settings for a test app: its own data dir and file storage."""
    return Settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        storage_url=(tmp_path / "objects").as_uri(),
        **overrides,
    )


class Api:
    """An app on a database, with an httpx client over ASGI and a key per test principal."""

    def __init__(self, app: Any, client: httpx.AsyncClient, runtime: Runtime) -> None:
        self.app = app
        self.client = client
        self.runtime = runtime
        self.keys: dict[str, str] = {}
        self.principal_ids: dict[str, uuid.UUID] = {}

    def make_key(self, who: str, role: Role) -> str:
        """Create a principal named ``who`` with ``role``; remember its key."""
        created = self.runtime.database.transact_write(keys.create_key, role, who, None)
        self.keys[who] = created.key
        self.principal_ids[who] = created.principal_id
        return created.key

    def auth(self, who: str) -> dict[str, str]:
        """The Authorization header of principal ``who``."""
        return {"Authorization": f"Bearer {self.keys[who]}"}

    async def publish(self, who: str, agent_id: str, **fields: Any) -> dict[str, Any]:
        """Publish an agent as executor ``who``."""
        body = {"name": agent_id.replace("-", " ").title(), **fields}
        response = await self.client.put(
            f"/v1/executor/agents/{agent_id}", headers=self.auth(who), json=body
        )
        assert response.status_code in (200, 201), response.text
        return dict(response.json())

    async def order(
        self, who: str, agent_id: str, prompt: str = "hello", **params: Any
    ) -> dict[str, Any]:
        """Order a job as buyer ``who``."""
        response = await self.client.post(
            "/v1/jobs",
            headers=self.auth(who),
            json={"agent_id": agent_id, "prompt": prompt, "params": params},
        )
        assert response.status_code == 201, response.text
        return dict(response.json())

    async def report(self, who: str, job_id: str, status: str, **fields: Any) -> httpx.Response:
        """Send a status report as executor ``who``."""
        return await self.client.post(
            f"/v1/executor/jobs/{job_id}/status",
            headers=self.auth(who),
            json={"status": status, **fields},
        )

    async def run_to_running(self, who: str, job_id: str) -> None:
        """Accept and start a job as executor ``who``."""
        assert (await self.report(who, job_id, "accepted")).status_code == 200
        assert (await self.report(who, job_id, "running")).status_code == 200

    async def complete(
        self, who: str, job_id: str, files: list[tuple[str, bytes]]
    ) -> httpx.Response:
        """Upload ``files`` and complete the job as executor ``who``."""
        return await self.client.post(
            f"/v1/executor/jobs/{job_id}/complete",
            headers=self.auth(who),
            files=[("files", (name, data)) for name, data in files],
        )


@pytest.fixture
def make_api(tmp_path: Path, migrated_url: str) -> Callable[..., Any]:
    """Factory: an ``Api`` on the test's database; settings overrides as keyword arguments."""
    made: list[Api] = []

    async def make(**overrides: Any) -> Api:
        settings = make_settings(tmp_path, migrated_url, **overrides)
        app = create_app(settings)
        runtime: Runtime = app.state.runtime
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://testserver", timeout=30
        )
        api = Api(app, client, runtime)
        made.append(api)
        return api

    make.made = made  # type: ignore[attr-defined]
    return make


@pytest.fixture
async def api(make_api: Callable[..., Any]) -> AsyncIterator[Api]:
    """The app with buyers A and B, executors X and Y, and an admin."""
    instance: Api = await make_api()
    instance.make_key("buyer-a", Role.BUYER)
    instance.make_key("buyer-b", Role.BUYER)
    instance.make_key("executor-x", Role.EXECUTOR)
    instance.make_key("executor-y", Role.EXECUTOR)
    instance.make_key("admin", Role.ADMIN)
    yield instance
    for made in make_api.made:  # type: ignore[attr-defined]
        await made.client.aclose()
        await made.runtime.close()


@pytest.fixture
async def echo(api: Api) -> dict[str, Any]:
    """Agent ``echo`` owned by executor X, with a small input schema."""
    return await api.publish(
        "executor-x",
        "echo",
        description="Echoes the prompt back, optionally shouting",
        tags=["text", "demo"],
        input_schema=ECHO_SCHEMA,
    )
