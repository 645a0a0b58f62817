"""Settings defaults, and ``/readyz`` naming the dependency that is down."""

from __future__ import annotations

from pathlib import Path

import httpx

from agnt_api.app import create_app
from agnt_api.settings import Settings


def test_embedded_defaults_live_in_the_data_dir(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    assert settings.database_url == f"sqlite:///{tmp_path / 'agnt.db'}"
    assert settings.storage_url == (tmp_path / "objects").as_uri()
    assert settings.lease_seconds == 60 and settings.max_wait_seconds == 60
    postgres = Settings(data_dir=tmp_path, database_url="postgresql://u@h/db")
    assert postgres.database_url == "postgresql+psycopg://u@h/db"


def test_session_secret_is_generated_once_and_kept_private(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    secret = settings.resolved_session_secret()
    assert secret == Settings(data_dir=tmp_path).resolved_session_secret()
    assert (tmp_path / "session_secret").stat().st_mode & 0o077 == 0
    assert Settings(data_dir=tmp_path, session_secret="given").resolved_session_secret() == "given"


async def test_readyz_is_503_naming_what_is_unreachable(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the storage directory should be")
    settings = Settings(
        data_dir=tmp_path,
        database_url="postgresql://nobody@127.0.0.1:1/agnt?connect_timeout=2",
        storage_url=(blocker / "objects").as_uri(),
    )
    app = create_app(settings)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        response = await client.get("/readyz")
        health = await client.get("/healthz")
        jobs = await client.get("/v1/jobs", headers={"Authorization": "Bearer agnt_" + "k" * 43})
    await app.state.runtime.close()
    assert response.status_code == 503
    assert response.json() == {
        "status": "unavailable",
        "checks": {"database": "unreachable", "storage": "unreachable"},
    }
    assert health.status_code == 200
    assert jobs.status_code == 503
    assert jobs.json()["code"] == "service_unavailable"
    assert jobs.headers["retry-after"] == "2"
