"""Dispatch latency: from ``POST /v1/jobs`` returning to the executor's poll returning the job.

Scenarios, each on a fresh deployment with real ``agnt-server serve`` processes:

- ``sqlite``: one API on the embedded SQLite file; the executor long-polls
  (``GET /v1/executor/jobs?wait=30``), woken in-process.
- ``postgres``: one API on Postgres; woken through ``LISTEN/NOTIFY``.
- ``postgres, 2 replicas``: jobs created via replica A, long-polled via replica B, so
  the wake-up crosses processes through Postgres.
- baseline ``polling every 2 s`` (the seed's design) on Postgres: the executor asks
  without ``wait`` every 2 seconds.

Long-poll scenarios create one job at a time (a random 0-20 ms pause after the executor
has it), so each sample is one dispatch, not a queue. The polling baseline creates jobs
at random moments while the poller runs. Latencies below zero (the executor had the job
before the buyer had its answer) count as 0.

    uv run python bench/dispatch_latency.py [--quick] [--jobs N] [--no-record]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
from harness import (
    Deployment,
    Keys,
    auth,
    markdown_table,
    percentile,
    postgres_database,
    publish_agent,
    report,
    sqlite_deployment,
)

AGENT_PREFIX = "bench-dispatch"
POLL_INTERVAL_SECONDS = 2.0
TARGET_P50_MS = 10.0
TARGET_P99_MS = 50.0


@dataclass
class Scenario:
    """One measured configuration and its latencies in milliseconds."""

    name: str
    latencies_ms: list[float]

    def row(self, baseline_p50: float | None) -> list[str]:
        """The table row: count and percentiles, and p50 as a fraction of the baseline's."""
        p50 = percentile(self.latencies_ms, 0.50)
        versus = "—" if baseline_p50 is None else f"{baseline_p50 / max(p50, 0.001):,.0f}× faster"
        return [
            self.name,
            str(len(self.latencies_ms)),
            f"{p50:.1f}",
            f"{percentile(self.latencies_ms, 0.95):.1f}",
            f"{percentile(self.latencies_ms, 0.99):.1f}",
            f"{max(self.latencies_ms):.1f}",
            versus,
        ]


def _job_body(agent_id: str, number: int) -> dict[str, object]:
    return {"agent_id": agent_id, "prompt": f"dispatch {number}", "params": {}}


async def long_poll_latencies(
    create_url: str, claim_url: str, keys: Keys, agent_id: str, jobs: int
) -> list[float]:
    """Create ``jobs`` jobs one by one via ``create_url``; long-poll them via ``claim_url``."""
    seen: dict[str, asyncio.Future[float]] = {}
    loop = asyncio.get_running_loop()

    def sighting(job_id: str) -> asyncio.Future[float]:
        return seen.setdefault(job_id, loop.create_future())

    async with (
        httpx.AsyncClient(base_url=create_url, headers=auth(keys.buyer), timeout=30) as buyer,
        httpx.AsyncClient(base_url=claim_url, headers=auth(keys.executor), timeout=90) as executor,
    ):

        async def executor_loop() -> None:
            while True:
                claimed = await executor.post(
                    "/v1/executor/claims",
                    json={"max": 100, "agent_ids": [agent_id], "wait": 30},
                )
                arrived = time.perf_counter()
                claimed.raise_for_status()
                for job in claimed.json()["items"]:
                    future = sighting(job["id"])
                    if not future.done():
                        future.set_result(arrived)

        poller = asyncio.create_task(executor_loop())
        latencies: list[float] = []
        try:
            for number in range(jobs):
                await asyncio.sleep(random.uniform(0, 0.02))
                created = await buyer.post("/v1/jobs", json=_job_body(agent_id, number))
                returned = time.perf_counter()
                created.raise_for_status()
                job_id = created.json()["id"]
                arrived = await asyncio.wait_for(asyncio.shield(sighting(job_id)), timeout=35)
                latencies.append(max(arrived - returned, 0.0) * 1000)
                if poller.done():
                    poller.result()
        finally:
            poller.cancel()
    return latencies


async def polling_latencies(
    url: str, keys: Keys, agent_id: str, jobs: int, spread_seconds: float
) -> list[float]:
    """The baseline: an executor asking every 2 s while jobs arrive at random moments."""
    created_at: dict[str, float] = {}
    seen_at: dict[str, float] = {}
    created_all = asyncio.Event()
    seen_all = asyncio.Event()
    async with (
        httpx.AsyncClient(base_url=url, headers=auth(keys.buyer), timeout=30) as buyer,
        httpx.AsyncClient(base_url=url, headers=auth(keys.executor), timeout=30) as executor,
    ):

        async def poll_once() -> None:
            while True:
                # A claim that does not wait: what an executor polling every 2 s would send.
                claimed = await executor.post(
                    "/v1/executor/claims", json={"max": 100, "agent_ids": [agent_id]}
                )
                arrived = time.perf_counter()
                claimed.raise_for_status()
                items = claimed.json()["items"]
                for job in items:
                    seen_at.setdefault(job["id"], arrived)
                if len(items) < 100:
                    if created_all.is_set() and created_at.keys() <= seen_at.keys():
                        seen_all.set()
                    return

        async def poller() -> None:
            while True:
                started = time.perf_counter()
                await poll_once()
                await asyncio.sleep(max(POLL_INTERVAL_SECONDS - (time.perf_counter() - started), 0))

        task = asyncio.create_task(poller())
        try:
            gap = spread_seconds / jobs
            for number in range(jobs):
                await asyncio.sleep(random.uniform(0, 2 * gap))
                created = await buyer.post("/v1/jobs", json=_job_body(agent_id, number))
                created_at[created.json()["id"]] = time.perf_counter()
            created_all.set()
            await asyncio.wait_for(seen_all.wait(), timeout=3 * POLL_INTERVAL_SECONDS)
        finally:
            task.cancel()
    return [max(seen_at[job] - created, 0.0) * 1000 for job, created in created_at.items()]


def main() -> None:
    """Measure every scenario and report the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="few jobs, to catch breakage")
    parser.add_argument("--jobs", type=int, help="jobs per long-poll scenario (default 500)")
    parser.add_argument("--no-record", action="store_true", help="do not append to RESULTS.md")
    args = parser.parse_args()
    jobs = args.jobs or (20 if args.quick else 500)
    baseline_jobs = 10 if args.quick else 200
    baseline_spread = 3.0 if args.quick else 12.0

    scenarios: list[Scenario] = []
    with tempfile.TemporaryDirectory(prefix="agnt-bench-dispatch-") as tmp:
        work = Path(tmp)
        # Scenarios on one deployment run one after the other, each with its own agent.
        with postgres_database("dispatch") as url:
            deployment = Deployment(work / "pg", url, (work / "pg" / "objects").as_uri())
            keys = deployment.prepare()
            with deployment.server("api-a") as first, deployment.server("api-b") as second:
                for agent in ("poll", "pg", "pg2"):
                    publish_agent(first.url, keys, f"{AGENT_PREFIX}-{agent}")
                scenarios.append(
                    Scenario(
                        "baseline: polling every 2 s (Postgres)",
                        asyncio.run(
                            polling_latencies(
                                first.url,
                                keys,
                                f"{AGENT_PREFIX}-poll",
                                baseline_jobs,
                                baseline_spread,
                            )
                        ),
                    )
                )
                postgres = asyncio.run(
                    long_poll_latencies(first.url, first.url, keys, f"{AGENT_PREFIX}-pg", jobs)
                )
                replicas = asyncio.run(
                    long_poll_latencies(first.url, second.url, keys, f"{AGENT_PREFIX}-pg2", jobs)
                )
        sqlite = sqlite_deployment(work / "sqlite")
        keys = sqlite.prepare()
        with sqlite.server() as api:
            publish_agent(api.url, keys, f"{AGENT_PREFIX}-sqlite")
            scenarios.append(
                Scenario(
                    "long-poll, SQLite",
                    asyncio.run(
                        long_poll_latencies(api.url, api.url, keys, f"{AGENT_PREFIX}-sqlite", jobs)
                    ),
                )
            )
    scenarios.append(Scenario("long-poll, Postgres", postgres))
    scenarios.append(Scenario("long-poll, Postgres, 2 replicas (create on A, poll on B)", replicas))

    baseline_p50 = percentile(scenarios[0].latencies_ms, 0.50)
    table = markdown_table(
        ["scenario", "jobs", "p50 ms", "p95 ms", "p99 ms", "max ms", "p50 vs baseline"],
        [scenarios[0].row(None)] + [s.row(baseline_p50) for s in scenarios[1:]],
    )
    met = all(
        percentile(latencies, 0.5) <= TARGET_P50_MS and percentile(latencies, 0.99) <= TARGET_P99_MS
        for latencies in (postgres, replicas)
    )
    notes = (
        f"Target on Postgres: p50 ≤ {TARGET_P50_MS:.0f} ms, p99 ≤ {TARGET_P99_MS:.0f} ms — "
        f"{'met' if met else 'NOT met'}. Latency = executor's poll returned − POST returned "
        "(client clock, one process, loopback); 0 means the executor had the job first."
    )
    report(
        "Dispatch latency",
        f"{table}\n\n{notes}",
        record=not args.no_record,
        quick=args.quick,
    )


if __name__ == "__main__":
    main()
