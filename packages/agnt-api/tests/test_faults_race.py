"""Races: many executors claiming the same queue, and leases expiring on replicas.

Everything runs against real ``agnt-server serve`` processes; the claim race on SQLite and
on Postgres, the replicas on one real Postgres database.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import random
import time

import httpx
import psutil
import psycopg
import pytest

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

AGENT_ID = "race-agent"


def _auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def _publish(api, agent_id: str = AGENT_ID) -> None:
    response = httpx.put(
        f"{api.url}/v1/executor/agents/{agent_id}",
        headers=_auth(api.executor_key),
        # One attempt: a lost lease fails the job (the reapers' exactly-once is audited).
        json={
            "name": "Race agent",
            "description": "taken by many executors at once",
            "max_attempts": 1,
        },
        timeout=30,
    )
    assert response.status_code in (200, 201), response.text


async def _create_jobs(api, count: int, agent_id: str = AGENT_ID) -> list[str]:
    limit = asyncio.Semaphore(20)
    async with httpx.AsyncClient(
        base_url=api.url, headers=_auth(api.buyer_key), timeout=60
    ) as buyer:

        async def create(number: int) -> str:
            async with limit:
                response = await buyer.post(
                    "/v1/jobs", json={"agent_id": agent_id, "prompt": f"job {number}"}
                )
            assert response.status_code == 201, response.text
            return str(response.json()["id"])

        return list(await asyncio.gather(*(create(n) for n in range(count))))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def race_database_url(request: pytest.FixtureRequest) -> str | None:
    """The race's database: the live API's own SQLite file, or a fresh Postgres database."""
    if request.param == "sqlite":
        return None
    make = request.getfixturevalue("make_postgres_database")
    return str(make())


def _job_counts(api) -> tuple[dict[str, int], int]:
    """Jobs per status and the number of result rows, read straight from the database."""
    if api.database_url.startswith("sqlite"):
        import sqlite3

        with contextlib.closing(sqlite3.connect(api.database_url.removeprefix("sqlite:///"))) as db:
            statuses = dict(db.execute("SELECT status, count(*) FROM jobs GROUP BY status"))
            (results,) = db.execute("SELECT count(*) FROM job_results").fetchone()
        return statuses, results
    with psycopg.connect(api.database_url) as connection:
        statuses = dict(
            connection.execute("SELECT status, count(*) FROM jobs GROUP BY status").fetchall()
        )
        row = connection.execute("SELECT count(*) FROM job_results").fetchone()
    assert row is not None
    return statuses, row[0]


async def test_fifty_executors_claiming_500_jobs_take_each_exactly_once_without_409(
    live_api_factory, race_database_url
) -> None:
    api = live_api_factory(database_url=race_database_url)
    _publish(api)
    created = set(await _create_jobs(api, 500))
    assert len(created) == 500

    claims: list[str] = []
    refused: list[httpx.Response] = []
    completed: set[str] = set()
    all_done = asyncio.Event()
    connections = httpx.Limits(max_connections=60, max_keepalive_connections=60)

    async def executor(worker: int, client: httpx.AsyncClient) -> None:
        while not all_done.is_set():
            claim = await client.post(
                "/v1/executor/claims",
                json={"agent_ids": [AGENT_ID], "max": random.choice((1, 2, 5)), "wait": 1},
            )
            assert claim.status_code == 200, claim.text
            for job in claim.json()["items"]:
                job_id = job["id"]
                assert job["status"] == "accepted"
                claims.append(job_id)
                running = await client.post(
                    f"/v1/executor/jobs/{job_id}/status", json={"status": "running"}
                )
                if running.status_code != 200:
                    refused.append(running)
                    continue
                done = await client.post(
                    f"/v1/executor/jobs/{job_id}/complete",
                    files={"files": ("result.txt", f"done by {worker}".encode(), "text/plain")},
                )
                if done.status_code != 200:
                    refused.append(done)
                    continue
                assert done.json()["status"] == "completed"
                completed.add(job_id)
            if len(completed) == len(created):
                all_done.set()

    async with httpx.AsyncClient(
        base_url=api.url, headers=_auth(api.executor_key), timeout=60, limits=connections
    ) as client:
        workers = [asyncio.create_task(executor(n, client)) for n in range(50)]
        try:
            await asyncio.wait_for(all_done.wait(), timeout=180)
        finally:
            all_done.set()
            results = await asyncio.gather(*workers, return_exceptions=True)
    errors = [r for r in results if isinstance(r, BaseException)]
    assert not errors, errors[:3]
    assert not refused, [(r.status_code, r.text) for r in refused[:3]]

    assert len(claims) == len(set(claims)) == 500, "a job was claimed twice"
    assert set(claims) == created, "a job was lost"
    assert completed == created
    assert _job_counts(api) == ({"completed": 500}, 500)


_LEASE_AUDIT = """
CREATE TABLE lease_failure_audit (job_id uuid NOT NULL, at timestamptz NOT NULL DEFAULT clock_timestamp());
CREATE FUNCTION audit_lease_failure() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO lease_failure_audit (job_id) VALUES (NEW.id);
    RETURN NEW;
END $$;
CREATE TRIGGER lease_failure_audit AFTER UPDATE OF status ON jobs FOR EACH ROW
    WHEN (NEW.status = 'failed') EXECUTE FUNCTION audit_lease_failure();
"""


@pytest.fixture
def three_replicas(live_api_factory, make_postgres_database, tmp_path):
    """Three API replicas on one Postgres database with 3 s leases and eager reapers."""
    database_url = make_postgres_database()
    lease = {"AGNT_LEASE_SECONDS": "3", "AGNT_REAPER_INTERVAL_SECONDS": "0.1"}
    first = live_api_factory(database_url=database_url, env=lease)
    others = [
        type(first)(tmp_path / f"replica{n}", database_url=database_url, env=lease) for n in (1, 2)
    ]
    try:
        for replica in others:
            replica.start()
        yield [first, *others]
    finally:
        for replica in others:
            replica.stop()


@pytest.mark.postgres
async def test_expired_leases_fail_each_job_exactly_once_on_any_replica(three_replicas) -> None:
    replicas = three_replicas
    first = replicas[0]
    database_url = first.database_url
    # Every failure of a job (by any replica, any path) leaves one audit row.
    with psycopg.connect(database_url, autocommit=True) as connection:
        connection.execute(_LEASE_AUDIT)
    _publish(first)
    job_ids = await _create_jobs(first, 12)
    kept_alive = job_ids[-1]  # leased last, then renewed by progress reports

    async def lease_through(replica, job_id: str, steps: tuple[str, ...]) -> None:
        async with httpx.AsyncClient(
            base_url=replica.url, headers=_auth(first.executor_key), timeout=30
        ) as client:
            for status in steps:
                response = await client.post(
                    f"/v1/executor/jobs/{job_id}/status", json={"status": status}
                )
                assert response.status_code == 200, response.text

    # Leases taken on every replica; half of the jobs also started running.
    await asyncio.gather(
        *(
            lease_through(
                replicas[n % 3], job_id, ("accepted", "running") if n % 2 else ("accepted",)
            )
            for n, job_id in enumerate(job_ids[:-1])
        )
    )
    survivor = replicas[1]
    await lease_through(survivor, kept_alive, ("accepted", "running"))

    async with (
        httpx.AsyncClient(
            base_url=survivor.url, headers=_auth(first.executor_key), timeout=30
        ) as executor,
        httpx.AsyncClient(
            base_url=survivor.url, headers=_auth(first.buyer_key), timeout=30
        ) as buyer,
    ):

        async def keep_reporting_progress() -> None:
            # This job's executor keeps reporting: its lease is renewed, it must survive.
            for progress in itertools.count(1):
                renewed = await executor.post(
                    f"/v1/executor/jobs/{kept_alive}/status",
                    json={"status": "running", "progress": min(progress, 99)},
                )
                assert renewed.status_code == 200, renewed.text
                await asyncio.sleep(0.25)

        reporter = asyncio.create_task(keep_reporting_progress())
        # The replica that took a third of the leases dies; the others must still expire them.
        psutil.Process(first.pid).kill()
        deadline = time.monotonic() + 20
        expired: set[str] = set()
        while time.monotonic() < deadline and len(expired) < len(job_ids) - 1:
            assert not reporter.done(), reporter.exception()
            for job_id in set(job_ids[:-1]) - expired:
                job = (await buyer.get(f"/v1/jobs/{job_id}")).json()
                if job["status"] == "failed":
                    assert job["decision_reason"] == "lease_expired"
                    assert job["completed_at"] is not None
                    expired.add(job_id)
            await asyncio.sleep(0.3)
        assert expired == set(job_ids[:-1]), "some leases never expired"
        # Let every surviving reaper run several more rounds over the failed jobs.
        await asyncio.sleep(1.0)

        late = await executor.post(
            f"/v1/executor/jobs/{job_ids[1]}/status", json={"status": "running", "progress": 50}
        )
        assert late.status_code == 409
        assert late.json()["code"] == "invalid_transition"
        too_late = await executor.post(
            f"/v1/executor/jobs/{job_ids[1]}/complete",
            files={"files": ("late.txt", b"too late", "text/plain")},
        )
        assert too_late.status_code == 409
        assert not reporter.done(), reporter.exception()
        reporter.cancel()
        alive = (await buyer.get(f"/v1/jobs/{kept_alive}")).json()
        assert alive["status"] == "running"

    with psycopg.connect(database_url) as connection:
        audit = connection.execute(
            "SELECT job_id::text, count(*) FROM lease_failure_audit GROUP BY job_id"
        ).fetchall()
        stored = connection.execute(
            "SELECT count(*) FROM jobs WHERE status = 'failed' AND decision_reason = 'lease_expired'"
        ).fetchone()
    assert dict(audit) == dict.fromkeys(job_ids[:-1], 1), "a job was failed twice"
    assert stored == (len(job_ids) - 1,)
