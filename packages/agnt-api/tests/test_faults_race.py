"""Races on Postgres: many executors taking the same jobs, and leases expiring on replicas.

Everything runs against real ``agnt-server serve`` processes on one real Postgres database.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import time

import httpx
import psutil
import psycopg
import pytest

pytestmark = [pytest.mark.postgres, pytest.mark.slow, pytest.mark.timeout(240)]

AGENT_ID = "race-agent"


def _auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def _publish(api, agent_id: str = AGENT_ID) -> None:
    response = httpx.put(
        f"{api.url}/v1/executor/agents/{agent_id}",
        headers=_auth(api.executor_key),
        json={"name": "Race agent", "description": "taken by many executors at once"},
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


def _status_counts(database_url: str) -> dict[str, int]:
    with psycopg.connect(database_url) as connection:
        rows = connection.execute("SELECT status, count(*) FROM jobs GROUP BY status").fetchall()
    return dict(rows)


async def test_fifty_executors_racing_for_200_jobs_claim_each_exactly_once(
    live_api_factory, make_postgres_database
) -> None:
    database_url = make_postgres_database()
    api = live_api_factory(database_url=database_url)
    _publish(api)
    created = set(await _create_jobs(api, 200))
    assert len(created) == 200

    claims: list[str] = []
    conflicts = 0
    completed: set[str] = set()
    all_done = asyncio.Event()
    connections = httpx.Limits(max_connections=60, max_keepalive_connections=60)

    async def executor(worker: int, client: httpx.AsyncClient) -> None:
        nonlocal conflicts
        while not all_done.is_set():
            page = await client.get(
                "/v1/executor/jobs", params={"agent_id": AGENT_ID, "limit": 20, "wait": 1}
            )
            assert page.status_code == 200, page.text
            items = page.json()["items"]
            if not items:
                continue
            job_id = random.choice(items)["id"]
            accepted = await client.post(
                f"/v1/executor/jobs/{job_id}/status", json={"status": "accepted"}
            )
            if accepted.status_code == 409:
                assert accepted.json()["code"] == "invalid_transition"
                conflicts += 1
                continue
            assert accepted.status_code == 200, accepted.text
            claims.append(job_id)
            running = await client.post(
                f"/v1/executor/jobs/{job_id}/status", json={"status": "running"}
            )
            assert running.status_code == 200, running.text
            done = await client.post(
                f"/v1/executor/jobs/{job_id}/complete",
                files={"files": ("result.txt", f"done by {worker}".encode(), "text/plain")},
            )
            assert done.status_code == 200, done.text
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

    assert len(claims) == len(set(claims)) == 200, "a job was claimed twice"
    assert set(claims) == created, "a job was lost"
    assert completed == created
    assert _status_counts(database_url) == {"completed": 200}
    with psycopg.connect(database_url) as connection:
        results_rows = connection.execute("SELECT count(*) FROM job_results").fetchone()
    assert results_rows == (200,)
    # With 50 executors choosing among the same pending jobs, some must have collided.
    assert conflicts > 0


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
