"""Server CPU per request on the job path, route by route: a quick probe between changes.

Starts one ``agnt-server serve`` (Postgres and/or SQLite), creates ``--jobs`` jobs, then
runs each step over all of them with ``--concurrency`` keep-alive connections: create,
claim (one job per claim), status running, GET job (buyer), GET agent, complete (1 kB
file). For each step: server CPU ms per request (/proc, the server's process tree) and
requests/s. CPU per request stays meaningful on a shared, loaded machine, where
throughput does not. ``--profile STEP`` samples that step with py-spy ``--gil``.

    uv run python bench/hot_path_cpu.py [--database postgres|sqlite|both] [--jobs 400]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path

import uvloop
from harness import Deployment, postgres_database, process_tree, publish_agent, sqlite_deployment
from lifecycle_throughput import (
    AGENT_ID,
    Http,
    Meter,
    _ok,
    claim,
    complete,
    create_job,
    report_running,
)
from profiling import sampled, summary

STEPS = ("create", "claim", "status", "get_job", "get_agent", "complete")


async def _run(
    url: str,
    keys: object,
    jobs: int,
    concurrency: int,
    pid: int,
    profile: str | None,
    profile_to: Path,
) -> dict[str, tuple[float, float]]:
    buyer_key, executor_key = keys.buyer, keys.executor  # type: ignore[attr-defined]
    buyers = [await Http.open(url, buyer_key) for _ in range(concurrency)]
    executors = [await Http.open(url, executor_key) for _ in range(concurrency)]
    ids: list[str] = []
    claimed: list[list[str]] = [[] for _ in executors]
    results: dict[str, tuple[float, float]] = {}

    async def step(name: str, count: int, work: Callable[[int], Awaitable[None]]) -> None:
        # Fresh connections per step: idle ones would pass the server's keep-alive timeout.
        for pool, key in ((buyers, buyer_key), (executors, executor_key)):
            for connection in pool:
                await connection.close()
            pool[:] = [await Http.open(url, key) for _ in range(concurrency)]
        meter = Meter(process_tree(pid))
        ctx = sampled(pid, profile_to) if profile == name else contextlib.nullcontext()
        with ctx:
            meter.start()
            await asyncio.gather(*(work(i) for i in range(concurrency)))
            sample = meter.stop(count)
        results[name] = (sample.server_ms, sample.rate)

    numbers = iter(range(jobs))

    async def creator(i: int) -> None:
        for n in numbers:
            ids.append((await create_job(buyers[i], f"hot {n}"))["id"])

    await step("create", jobs, creator)
    total = 0

    async def claimer(i: int) -> None:
        nonlocal total
        while total < jobs:
            status, items = await claim(executors[i], 0)
            _ok(status, items, "claim")
            claimed[i] += [item["id"] for item in items]
            total += len(items)

    await step("claim", jobs, claimer)

    async def runner(i: int) -> None:
        for job_id in claimed[i]:
            await report_running(executors[i], job_id)

    await step("status", jobs, runner)
    per_buyer = [ids[i::concurrency] for i in range(concurrency)]

    async def reader(i: int) -> None:
        for job_id in per_buyer[i]:
            status, body = await buyers[i].request("GET", f"/v1/jobs/{job_id}")
            _ok(status, body, "GET job")

    await step("get_job", jobs, reader)

    async def agent_reader(i: int) -> None:
        for _ in per_buyer[i]:
            status, body = await buyers[i].request("GET", f"/v1/agents/{AGENT_ID}")
            _ok(status, body, "GET agent")

    await step("get_agent", jobs, agent_reader)

    async def completer(i: int) -> None:
        for job_id in claimed[i]:
            await complete(executors[i], job_id)

    await step("complete", jobs, completer)
    for connection in buyers + executors:
        await connection.close()
    return results


def measure(
    deployment: Deployment, args: argparse.Namespace, work: Path
) -> dict[str, tuple[float, float]]:
    keys = deployment.prepare()
    with deployment.server("api", workers=args.workers) as server:
        publish_agent(server.url, keys, AGENT_ID)
        profile_to = work / f"{args.profile}.pyspy"
        results = uvloop.run(
            _run(
                server.url, keys, args.jobs, args.concurrency, server.pid, args.profile, profile_to
            )
        )
        if args.profile:
            print(summary(profile_to, top=args.top))
    return results


def main() -> None:
    """Run the steps on each database and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--database", choices=("postgres", "sqlite", "both"), default="both")
    parser.add_argument("--jobs", type=int, default=400)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--profile", choices=STEPS, default=None)
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    rows: dict[str, dict[str, tuple[float, float]]] = {}
    with tempfile.TemporaryDirectory(prefix="agnt-hot-path-") as tmp:
        work = Path(tmp)
        if args.database in ("postgres", "both"):
            with postgres_database("hot") as url:
                deployment = Deployment(work / "pg", url, (work / "pg" / "objects").as_uri())
                rows["postgres"] = measure(deployment, args, work)
        if args.database in ("sqlite", "both"):
            rows["sqlite"] = measure(sqlite_deployment(work / "sqlite"), args, work)
    print("step        " + "".join(f"{db:>22}" for db in rows))
    for name in STEPS:
        cells = "".join(f"{rows[db][name][0]:>9.2f} ms {rows[db][name][1]:>6.0f}/s" for db in rows)
        print(f"{name:<12}{cells}")


if __name__ == "__main__":
    main()
