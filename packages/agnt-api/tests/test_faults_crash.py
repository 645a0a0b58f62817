"""Crashes: the API killed during an upload, and Postgres restarted under load.

Real processes only: ``agnt-server serve`` subprocesses, and for the restart test a
private PostgreSQL server (initdb in a temp dir, like ``scripts/services.sh``) so the
shared one is never stopped.
"""

from __future__ import annotations

import asyncio
import contextlib
import glob
import hashlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import psycopg
import pytest

from agnt_client import AsyncClient

pytestmark = [pytest.mark.postgres, pytest.mark.slow, pytest.mark.timeout(150)]

AGENT_ID = "crash-agent"


def _auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def _publish_and_start_job(api) -> str:
    with (
        httpx.Client(base_url=api.url, headers=_auth(api.buyer_key), timeout=30) as buyer,
        httpx.Client(base_url=api.url, headers=_auth(api.executor_key), timeout=30) as executor,
    ):
        published = executor.put(f"/v1/executor/agents/{AGENT_ID}", json={"name": "Crash"})
        assert published.status_code in (200, 201), published.text
        job_id = str(
            buyer.post("/v1/jobs", json={"agent_id": AGENT_ID, "prompt": "x"}).json()["id"]
        )
        for status in ("accepted", "running"):
            moved = executor.post(f"/v1/executor/jobs/{job_id}/status", json={"status": status})
            assert moved.status_code == 200, moved.text
    return job_id


def _job_row(database_url: str, job_id: str) -> tuple[str, int]:
    with psycopg.connect(database_url) as connection:
        status = connection.execute("SELECT status FROM jobs WHERE id = %s", (job_id,)).fetchone()
        results = connection.execute(
            "SELECT count(*) FROM job_results WHERE job_id = %s", (job_id,)
        ).fetchone()
    assert status is not None and results is not None
    return status[0], results[0]


async def test_api_killed_during_result_upload_leaves_job_running_and_retry_completes_it(
    live_api_factory, make_postgres_database, tmp_path
) -> None:
    # The product's default on Postgres: a supervisor and one worker per CPU.
    api = live_api_factory(database_url=make_postgres_database(), workers=None)
    job_id = _publish_and_start_job(api)
    result = tmp_path / "result.bin"
    block = os.urandom(1024 * 1024)
    with result.open("wb") as out:
        for _ in range(64):
            out.write(block)
    expected_sha256 = hashlib.sha256(result.read_bytes()).hexdigest()
    upload_dir = api.data_dir / "objects" / "jobs" / job_id

    async with AsyncClient(
        api.url, api.executor_key, timeout=60, max_retries=None, retry_deadline=90
    ) as executor:
        # The client's retries (the completion carries an Idempotency-Key) ride out the dead
        # API until it is back, as the executor's do.
        upload = asyncio.create_task(executor.complete_job(job_id, [result]))
        deadline = time.monotonic() + 60
        while not any(path.stat().st_size >= 1024 * 1024 for path in upload_dir.rglob("*.part")):
            assert not upload.done(), "the upload finished before the API could be killed"
            assert time.monotonic() < deadline, "the upload never reached storage"
            await asyncio.sleep(0.005)
        # The whole server dies at once (its supervisor and every worker): a worker left
        # behind would drain the upload and hold the port while the API restarts.
        server = psutil.Process(api.pid)
        processes = [server, *server.children(recursive=True)]
        for process in processes:
            process.kill()
        psutil.wait_procs(processes, timeout=30)

        # While the API is dead: the job is still running and has no result row.
        assert _job_row(api.database_url, job_id) == ("running", 0)
        assert not upload.done()

        await asyncio.to_thread(api.start, 90)
        job = await asyncio.wait_for(upload, timeout=90)

    assert job.status.value == "completed"
    assert _job_row(api.database_url, job_id) == ("completed", 1)
    async with AsyncClient(api.url, api.buyer_key, timeout=30) as buyer:
        files = (await buyer.get_result(job_id)).files
    assert [(f.name, f.size, f.sha256) for f in files] == [
        ("result.bin", 64 * 1024 * 1024, expected_sha256)
    ]


# --- Postgres restarted under load -------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PrivatePostgres:
    """A PostgreSQL server of this test's own: initdb in a temp dir, a free loopback port."""

    def __init__(self, root: Path) -> None:
        candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
        if not candidates and not shutil.which("initdb"):
            pytest.fail("PostgreSQL server binaries not found (apt-get install postgresql)")
        self.bin = (
            Path(candidates[-1]).parent if candidates else Path(shutil.which("initdb")).parent
        )
        self.root = root
        self.data = root / "pgdata"
        self.port = _free_port()
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *command: str) -> None:
        # Postgres refuses to run as root; run its tools as the postgres user then.
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        done = subprocess.run(
            [*prefix, *command], capture_output=True, text=True, timeout=120, check=False
        )
        if done.returncode != 0:
            log = self.data / "server.log"
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise RuntimeError(f"{command[0]} failed: {done.stderr}\n{tail}")

    def init(self) -> None:
        """Create the cluster."""
        self.data.mkdir()
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres")
            shutil.chown(self.data, "postgres")
        self._run(
            str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres",
            "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8",
        )  # fmt: skip

    def start(self) -> None:
        """Start the server and wait until it accepts connections."""
        options = (
            f"-h 127.0.0.1 -p {self.port} -k {self.root} -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=100"
        )
        self._run(
            str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.data / "server.log"),
            "-w", "-t", "60", "start", "-o", options,
        )  # fmt: skip

    def stop(self) -> None:
        """Stop the server, disconnecting every client (fast shutdown)."""
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")


@pytest.fixture
def private_postgres() -> Iterator[PrivatePostgres]:
    """A started private Postgres, stopped and removed at teardown."""
    root = Path(tempfile.mkdtemp(prefix="agnt-faults-pg-"))
    root.chmod(0o755)
    server = PrivatePostgres(root)
    try:
        server.init()
        server.start()
        yield server
    finally:
        with contextlib.suppress(RuntimeError):
            server.stop()
        shutil.rmtree(root, ignore_errors=True)


async def test_postgres_restart_under_load_answers_503_then_recovers_losing_nothing(
    live_api_factory, private_postgres
) -> None:
    api = live_api_factory(database_url=private_postgres.url)
    ordered = 40
    answers: Counter[str] = Counter()
    outage_answers: list[httpx.Response] = []
    down = asyncio.Event()
    created: dict[str, str] = {}
    claims: list[str] = []
    completed: set[str] = set()
    finished = asyncio.Event()

    def note(response: httpx.Response) -> None:
        answers[str(response.status_code)] += 1
        if down.is_set():
            outage_answers.append(response)

    async with (
        httpx.AsyncClient(base_url=api.url, headers=_auth(api.buyer_key), timeout=30) as buyer,
        httpx.AsyncClient(
            base_url=api.url, headers=_auth(api.executor_key), timeout=30
        ) as executor,
    ):
        published = await executor.put(f"/v1/executor/agents/{AGENT_ID}", json={"name": "PG"})
        assert published.status_code == 201, published.text

        async def order_jobs() -> None:
            for number in range(ordered):
                key = f"order-{number}-{uuid.uuid4()}"
                while True:  # the buyer's retry: same Idempotency-Key until it is answered
                    response = await buyer.post(
                        "/v1/jobs",
                        json={"agent_id": AGENT_ID, "prompt": f"job {number}"},
                        headers={"Idempotency-Key": key},
                    )
                    note(response)
                    if response.status_code in (200, 201):
                        created[key] = response.json()["id"]
                        break
                    await asyncio.sleep(0.1)
                await asyncio.sleep(0.1)

        async def reached(job_id: str, status: str) -> bool:
            """After an ambiguous answer: did the move happen anyway?"""
            response = await buyer.get(f"/v1/jobs/{job_id}")
            note(response)
            return response.status_code == 200 and response.json()["status"] == status

        async def move(job_id: str, status: str) -> None:
            while True:
                response = await executor.post(
                    f"/v1/executor/jobs/{job_id}/status", json={"status": status}
                )
                note(response)
                if response.status_code == 200:
                    return
                if response.status_code == 409 and await reached(job_id, status):
                    return
                assert response.status_code == 503, response.text
                await asyncio.sleep(0.1)

        async def complete(job_id: str) -> None:
            while True:
                response = await executor.post(
                    f"/v1/executor/jobs/{job_id}/complete",
                    files={"files": ("out.txt", job_id.encode(), "text/plain")},
                )
                note(response)
                if response.status_code == 200 or (
                    response.status_code == 409 and await reached(job_id, "completed")
                ):
                    completed.add(job_id)
                    if len(completed) == ordered:
                        finished.set()
                    return
                assert response.status_code == 503, response.text
                await asyncio.sleep(0.1)

        async def execute() -> None:
            while not finished.is_set():
                page = await executor.get(
                    "/v1/executor/jobs", params={"agent_id": AGENT_ID, "wait": 1}
                )
                note(page)
                if page.status_code != 200:
                    await asyncio.sleep(0.1)
                    continue
                for job in page.json()["items"]:
                    accepted = await executor.post(
                        f"/v1/executor/jobs/{job['id']}/status", json={"status": "accepted"}
                    )
                    note(accepted)
                    # One executor, so an accepted job after a 503 can only be its own.
                    if accepted.status_code != 200 and not (
                        accepted.status_code == 503 and await reached(job["id"], "accepted")
                    ):
                        continue
                    claims.append(job["id"])
                    await move(job["id"], "running")
                    await complete(job["id"])

        workers = [asyncio.create_task(order_jobs()), asyncio.create_task(execute())]
        try:
            await asyncio.sleep(1.5)
            await asyncio.to_thread(private_postgres.stop)
            down.set()
            await asyncio.sleep(3)
            ready = await buyer.get("/readyz")
            down.clear()
            await asyncio.to_thread(private_postgres.start)
            await asyncio.wait_for(finished.wait(), timeout=60)
        finally:
            finished.set()
            outcomes = await asyncio.gather(*workers, return_exceptions=True)
    errors = [o for o in outcomes if isinstance(o, BaseException)]
    assert not errors, errors[:3]

    # While the database was down: 503 problem+json, never 500; /readyz said so too.
    assert ready.status_code == 503
    assert outage_answers, "no request reached the API while Postgres was down"
    for response in outage_answers:
        assert response.status_code in (200, 503), (response.status_code, response.text)
        if response.status_code == 503:
            assert response.headers["content-type"].startswith("application/problem+json")
            assert response.json()["code"] == "service_unavailable"
    assert answers["503"] > 0
    assert not [status for status in answers if status.startswith("5") and status != "503"]

    # Nothing lost, nothing doubled.
    assert len(created) == ordered
    assert len(claims) == len(set(claims)) == ordered
    assert completed == set(created.values())
    with psycopg.connect(private_postgres.url) as connection:
        counts = connection.execute(
            "SELECT (SELECT count(*) FROM jobs), (SELECT count(*) FROM idempotency_keys), "
            "(SELECT count(*) FROM job_results), "
            "(SELECT count(*) FROM jobs WHERE status = 'completed')"
        ).fetchone()
    assert counts == (ordered, ordered, ordered, ordered)
