"""The runtime's completion names its attempt: a run that lost its job cannot complete it.

The API runs in this process (over ASGI, SQLite, file storage); the job is lost by a
release, as a lost lease would lose it, and claimed again by the same executor key.
"""

from __future__ import annotations

from pathlib import Path

import httpx

from agnt_api.app import create_app
from agnt_api.db import Database
from agnt_api.db.migrate import upgrade
from agnt_api.services.keys import create_key
from agnt_api.settings import load_settings
from agnt_client import AsyncClient
from agnt_executor.demo import manifest_path
from agnt_executor.job_run import JobOutcome, JobRun
from agnt_executor.manifest import ExecutorSettings, load_manifest
from agnt_models import JobStatus, Role


async def test_a_run_that_lost_its_job_does_not_complete_it(tmp_path: Path) -> None:
    settings = load_settings(
        data_dir=tmp_path / "data",
        database_url=f"sqlite:///{tmp_path / 'agnt.db'}",
        storage_url=(tmp_path / "objects").as_uri(),
        session_secret="stale-completion",
    )
    database = Database(settings.database_url)
    try:
        upgrade(database.engine)
        keys = {
            role: database.transact_write(create_key, role, f"test-{role.value}", None).key
            for role in (Role.EXECUTOR, Role.BUYER)
        }
    finally:
        database.dispose()
    app = create_app(settings, run_reaper_task=False)
    agent = load_manifest(manifest_path()).agents["demo-echo"]
    out = tmp_path / "out"
    out.mkdir()
    transport = httpx.ASGITransport(app)
    try:
        async with (
            AsyncClient(
                "http://testserver", keys[Role.EXECUTOR], transport=transport, max_retries=0
            ) as executor,
            AsyncClient(
                "http://testserver", keys[Role.BUYER], transport=transport, max_retries=0
            ) as buyer,
        ):
            await executor.publish_agent(agent.id, agent.spec.publish_body())
            job = await buyer.create_job(agent.id, "hello")
            (first,) = await executor.claim_jobs(max=1, agent_ids=[agent.id])
            await executor.report_status(job.id, "running", attempt=first.attempt)
            await executor.release_job(job.id, reason="executor_shutdown", attempt=1)
            (second,) = await executor.claim_jobs(max=1, agent_ids=[agent.id])
            await executor.report_status(job.id, "running", attempt=second.attempt)
            assert (first.attempt, second.attempt) == (1, 2)

            (out / "answer.txt").write_text("from the lost run")
            lost = JobRun(executor, agent, first, ExecutorSettings())
            assert await lost._upload(out) is JobOutcome.GONE
            assert (await buyer.get_job(job.id)).status is JobStatus.RUNNING
            assert [p for p in (tmp_path / "objects").rglob("*") if p.is_file()] == []

            (out / "answer.txt").write_text("from the current run")
            current = JobRun(executor, agent, second, ExecutorSettings())
            assert await current._upload(out) is JobOutcome.COMPLETED
            done = await buyer.get_job(job.id)
            assert (done.status, done.attempt) == (JobStatus.COMPLETED, 2)
            stored = [p for p in (tmp_path / "objects").rglob("*") if p.is_file()]
            assert [p.read_text() for p in stored] == ["from the current run"]
    finally:
        await app.state.runtime.close()
