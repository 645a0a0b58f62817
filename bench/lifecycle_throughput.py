"""Lifecycle throughput: jobs per second through create → claim → running → complete.

Buyers create jobs while K executors take them (list pending, accept one, report running,
complete with one 1 kB file) against one real ``agnt-server serve`` process, on Postgres
and on SQLite. The claim path alone (list + accept over pre-created jobs) is measured
too. Baselines in the same run, with the same concurrency: ``GET /healthz`` (HTTP stack
only) and ``GET /v1/agents/{id}`` (HTTP + key check + one query), in requests/s.

CPU columns are the server's and this load generator's CPU time over the wall time
(100 % = one core), so the table shows which side was the bottleneck. ``--profile``
samples the server with py-spy during the claim-path run on Postgres and appends the
summary.

    uv run python bench/lifecycle_throughput.py [--quick] [--profile] [--no-record]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil
from harness import (
    ApiServer,
    Deployment,
    Keys,
    auth,
    markdown_table,
    postgres_database,
    publish_agent,
    report,
    sqlite_deployment,
)
from profiling import sampled, summary

AGENT_ID = "bench-throughput"
RESULT_BYTES = b"r" * 1024
TARGET_JOBS_PER_SECOND = 300
TARGET_CLAIMS_PER_SECOND = 2000


@dataclass
class Measurement:
    """What one run did, how long it took, and the CPU each side used."""

    what: str
    database: str
    count: int
    seconds: float
    server_cpu: float
    client_cpu: float
    conflicts: int = 0

    def row(self, unit: str) -> list[str]:
        """The table row."""
        return [
            self.what,
            self.database,
            str(self.count),
            f"{self.count / self.seconds:,.0f} {unit}/s",
            f"{100 * self.server_cpu / self.seconds:.0f} %",
            f"{100 * self.client_cpu / self.seconds:.0f} %",
            str(self.conflicts),
        ]


def _cpu_seconds(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


async def _measured(
    what: str, database: str, server: ApiServer, run: Callable[[], Awaitable[tuple[int, int]]]
) -> Measurement:
    """Time ``run()`` (which returns ``(count, conflicts)``) and the CPU both sides spent."""
    server_process = psutil.Process(server.pid)
    me = psutil.Process(os.getpid())
    server_before, me_before = _cpu_seconds(server_process), _cpu_seconds(me)
    started = time.perf_counter()
    count, conflicts = await run()
    seconds = time.perf_counter() - started
    return Measurement(
        what,
        database,
        count,
        seconds,
        _cpu_seconds(server_process) - server_before,
        _cpu_seconds(me) - me_before,
        conflicts,
    )


def _clients(url: str, keys: Keys, concurrency: int) -> tuple[httpx.AsyncClient, httpx.AsyncClient]:
    limits = httpx.Limits(
        max_connections=concurrency + 4, max_keepalive_connections=concurrency + 4
    )
    return (
        httpx.AsyncClient(base_url=url, headers=auth(keys.buyer), timeout=60, limits=limits),
        httpx.AsyncClient(base_url=url, headers=auth(keys.executor), timeout=60, limits=limits),
    )


async def _create_jobs(buyer: httpx.AsyncClient, count: int, concurrency: int) -> None:
    remaining = iter(range(count))

    async def creator() -> None:
        for number in remaining:
            response = await buyer.post(
                "/v1/jobs", json={"agent_id": AGENT_ID, "prompt": f"throughput {number}"}
            )
            response.raise_for_status()

    await asyncio.gather(*(creator() for _ in range(concurrency)))


async def _claim_one(executor: httpx.AsyncClient) -> tuple[str | None, int]:
    """List pending jobs and accept one of them; ``(job id or None, conflicts)``."""
    page = await executor.get(
        "/v1/executor/jobs", params={"agent_id": AGENT_ID, "limit": 10, "wait": 1}
    )
    page.raise_for_status()
    items = page.json()["items"]
    random.shuffle(items)
    conflicts = 0
    for job in items:
        accepted = await executor.post(
            f"/v1/executor/jobs/{job['id']}/status", json={"status": "accepted"}
        )
        if accepted.status_code == 409:
            conflicts += 1
            continue
        accepted.raise_for_status()
        return str(job["id"]), conflicts
    return None, conflicts


async def full_lifecycle(url: str, keys: Keys, jobs: int, executors: int) -> tuple[int, int]:
    """Create ``jobs`` jobs while ``executors`` executors take each through to completed."""
    buyer, executor = _clients(url, keys, executors * 2)
    done = 0
    conflicts = 0
    finished = asyncio.Event()

    async def execute() -> None:
        nonlocal done, conflicts
        while not finished.is_set():
            job_id, lost = await _claim_one(executor)
            conflicts += lost
            if job_id is None:
                continue
            running = await executor.post(
                f"/v1/executor/jobs/{job_id}/status", json={"status": "running"}
            )
            running.raise_for_status()
            completed = await executor.post(
                f"/v1/executor/jobs/{job_id}/complete",
                files={"files": ("result.txt", RESULT_BYTES, "text/plain")},
            )
            completed.raise_for_status()
            done += 1
            if done >= jobs:
                finished.set()

    async with buyer, executor:
        workers = [asyncio.create_task(execute()) for _ in range(executors)]
        try:
            await _create_jobs(buyer, jobs, max(executors // 2, 1))
            await asyncio.wait_for(finished.wait(), timeout=600)
        finally:
            finished.set()
            await asyncio.gather(*workers)
    return done, conflicts


async def claims_only(url: str, keys: Keys, jobs: int, executors: int) -> tuple[int, int]:
    """Accept ``jobs`` pending jobs with ``executors`` concurrent executors."""
    _, executor = _clients(url, keys, executors)
    claimed = 0
    conflicts = 0

    async def claim() -> None:
        nonlocal claimed, conflicts
        while claimed < jobs:
            job_id, lost = await _claim_one(executor)
            conflicts += lost
            if job_id is not None:
                claimed += 1

    async with executor:
        await asyncio.gather(*(claim() for _ in range(executors)))
    return claimed, conflicts


async def requests_per_second(
    url: str, keys: Keys, path: str, requests: int, concurrency: int
) -> tuple[int, int]:
    """Send ``requests`` GETs of ``path`` with ``concurrency`` in flight."""
    _, client = _clients(url, keys, concurrency)
    remaining = iter(range(requests))

    async def worker() -> None:
        for _ in remaining:
            (await client.get(path)).raise_for_status()

    async with client:
        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return requests, 0


def measure_deployment(
    deployment: Deployment,
    database: str,
    *,
    jobs: int,
    claims: int,
    executors: int,
    profile_to: Path | None,
) -> tuple[list[Measurement], str | None]:
    """Every measurement on one deployment; the profile summary when ``profile_to``."""
    keys = deployment.prepare()
    profile = None
    with deployment.server() as server:
        publish_agent(server.url, keys, AGENT_ID)
        url = server.url

        def run(what: str, work: Callable[[], Awaitable[tuple[int, int]]]) -> Measurement:
            return asyncio.run(_measured(what, database, server, work))

        results = [
            run(
                "baseline: GET /healthz",
                lambda: requests_per_second(url, keys, "/healthz", claims, executors),
            ),
            run(
                "baseline: GET /v1/agents/{id}",
                lambda: requests_per_second(url, keys, f"/v1/agents/{AGENT_ID}", claims, executors),
            ),
            run(
                f"full lifecycle, {executors} executors",
                lambda: full_lifecycle(url, keys, jobs, executors),
            ),
        ]
        buyer, _ = _clients(url, keys, executors)

        async def precreate() -> None:
            async with buyer:
                await _create_jobs(buyer, claims, executors)

        asyncio.run(precreate())
        claim_path = f"claim path (list + accept), {executors} executors"
        if profile_to is None:
            results.append(run(claim_path, lambda: claims_only(url, keys, claims, executors)))
        else:
            with sampled(server.pid, profile_to):
                results.append(run(claim_path, lambda: claims_only(url, keys, claims, executors)))
            profile = summary(profile_to)
    return results, profile


def main() -> None:
    """Run both databases and report."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="few jobs, to catch breakage")
    parser.add_argument("--executors", type=int, default=8, help="concurrent executors (K)")
    parser.add_argument("--profile", action="store_true", help="py-spy the claim path on Postgres")
    parser.add_argument("--no-record", action="store_true", help="do not append to RESULTS.md")
    args = parser.parse_args()
    jobs = 30 if args.quick else 600
    claims = 60 if args.quick else 1000
    measurements: list[Measurement] = []
    profile = None
    with tempfile.TemporaryDirectory(prefix="agnt-bench-throughput-") as tmp:
        work = Path(tmp)
        with postgres_database("throughput") as url:
            pg = Deployment(work / "pg", url, (work / "pg" / "objects").as_uri())
            results, profile = measure_deployment(
                pg,
                "Postgres",
                jobs=jobs,
                claims=claims,
                executors=args.executors,
                profile_to=work / "claims.pyspy" if args.profile else None,
            )
            measurements += results
        results, _ = measure_deployment(
            sqlite_deployment(work / "sqlite"),
            "SQLite",
            jobs=jobs,
            claims=claims,
            executors=args.executors,
            profile_to=None,
        )
        measurements += results

    rows = [m.row("req" if m.what.startswith("baseline") else "jobs") for m in measurements]
    table = markdown_table(
        ["run", "database", "count", "throughput", "server CPU", "load-generator CPU", "409s"],
        rows,
    )
    postgres = {m.what.split(",")[0]: m for m in measurements if m.database == "Postgres"}
    full = postgres["full lifecycle"]
    claim = postgres["claim path (list + accept)"]
    notes = (
        f"Targets on Postgres: ≥ {TARGET_JOBS_PER_SECOND} full jobs/s "
        f"({'met' if full.count / full.seconds >= TARGET_JOBS_PER_SECOND else 'NOT met'}: "
        f"{full.count / full.seconds:,.0f}), ≥ {TARGET_CLAIMS_PER_SECOND} claims/s "
        f"({'met' if claim.count / claim.seconds >= TARGET_CLAIMS_PER_SECOND else 'NOT met'}: "
        f"{claim.count / claim.seconds:,.0f}). One API process (uvicorn, one worker); "
        "a full job is 5 requests (create, list, accept, running, complete), a claim 2."
    )
    body = f"{table}\n\n{notes}"
    if profile:
        body += f"\n\nServer profile during the claim path on Postgres:\n\n{profile}"
    report("Lifecycle throughput", body, record=not args.no_record, quick=args.quick)


if __name__ == "__main__":
    main()
