"""A2A latency: ``SendMessage`` (blocking) against the native ``POST /v1/jobs`` + ``Prefer: wait``.

One ``agnt-server serve`` and the demo executor (``agnt-executor run`` on the demo
manifest) on a SQLite file (and, in full mode, on Postgres); each sample orders one
``demo-echo`` job and waits for its end, alternating the paths so both see the same
machine:

- ``native``: ``POST /v1/jobs`` with ``Prefer: wait=30`` (answers the ended job);
- ``native + result``: the same, then ``GET /v1/jobs/{id}/result`` (the download URLs an
  A2A task carries as artifacts);
- ``a2a``: JSON-RPC ``SendMessage`` to ``/a2a/demo-echo`` (blocking by default; answers
  the completed task with its artifact).

Both use one keep-alive httpx client, so the difference is the server's A2A layer.

    uv run python bench/a2a_latency.py [--quick] [--samples N] [--no-record]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
from harness import (
    Deployment,
    auth,
    markdown_table,
    percentile,
    postgres_database,
    report,
    sqlite_deployment,
)

AGENT = "demo-echo"
ENV = {"AGNT_RATE_LIMITS": "false"}
TARGET_P50_MS = 20.0
WARMUP = 5


@contextlib.contextmanager
def demo_executor(url: str, executor_key: str, log: Path) -> Iterator[None]:
    """The demo executor serving the demo agents, until the block ends."""
    from agnt_executor.demo import manifest_path

    with log.open("ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "agnt_executor", "run", str(manifest_path())],
            env={**os.environ, "AGNT_API_URL": url, "AGNT_API_KEY": executor_key},
            stdout=out,
            stderr=out,
        )
    try:
        yield
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


def wait_for_agent(client: httpx.Client, log: Path) -> None:
    """Block until the demo executor has published ``demo-echo``."""
    deadline = time.monotonic() + 90
    while client.get(f"/v1/agents/{AGENT}").status_code != 200:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{AGENT} never appeared:\n{log.read_text()}")
        time.sleep(0.1)


def native(client: httpx.Client, *, with_result: bool) -> float:
    """One order with ``Prefer: wait``; seconds until the ended job (and its result)."""
    started = time.perf_counter()
    answer = client.post(
        "/v1/jobs",
        json={"agent_id": AGENT, "prompt": "bench"},
        headers={"Prefer": "wait=30"},
    )
    job = answer.json()
    if job["status"] != "completed":
        raise RuntimeError(f"native job did not complete: {answer.text}")
    if with_result:
        client.get(f"/v1/jobs/{job['id']}/result").raise_for_status()
    return time.perf_counter() - started


def a2a(client: httpx.Client) -> float:
    """One blocking A2A ``SendMessage``; seconds until the completed task."""
    started = time.perf_counter()
    answer = client.post(
        f"/a2a/{AGENT}",
        headers={"A2A-Version": "1.0"},
        json={
            "jsonrpc": "2.0",
            "id": 1,
            "method": "SendMessage",
            "params": {
                "message": {
                    "messageId": str(uuid.uuid4()),
                    "role": "ROLE_USER",
                    "parts": [{"text": "bench"}],
                }
            },
        },
    )
    task = answer.json().get("result", {}).get("task", {})
    if task.get("status", {}).get("state") != "TASK_STATE_COMPLETED" or not task["artifacts"]:
        raise RuntimeError(f"A2A task did not complete: {answer.text}")
    return time.perf_counter() - started


def measure(deployment: Deployment, samples: int) -> dict[str, list[float]]:
    """Interleaved samples of each path against one server and the demo executor."""
    keys = deployment.prepare()
    paths: dict[str, Callable[[httpx.Client], float]] = {
        "native (POST /v1/jobs + Prefer: wait)": lambda c: native(c, with_result=False),
        "native + GET result": lambda c: native(c, with_result=True),
        "A2A SendMessage (blocking)": a2a,
    }
    timings: dict[str, list[float]] = {name: [] for name in paths}
    log = deployment.workdir / "executor.log"
    with (
        deployment.server() as api,
        demo_executor(api.url, keys.executor, log),
        httpx.Client(base_url=api.url, headers=auth(keys.buyer), timeout=60) as client,
    ):
        wait_for_agent(client, log)
        for _ in range(WARMUP):
            for path in paths.values():
                path(client)
        for _ in range(samples):
            for name, path in paths.items():
                timings[name].append(path(client))
    return timings


def rows(database: str, timings: dict[str, list[float]]) -> list[list[object]]:
    """Table rows: p50/p95 per path, and the A2A difference to native at p50."""
    base = percentile(timings["native (POST /v1/jobs + Prefer: wait)"], 0.5)
    table: list[list[object]] = []
    for name, values in timings.items():
        p50 = percentile(values, 0.5)
        table.append(
            [
                database,
                name,
                len(values),
                f"{p50 * 1000:.1f}",
                f"{percentile(values, 0.95) * 1000:.1f}",
                f"{(p50 - base) * 1000:+.1f}",
            ]
        )
    return table


def main() -> None:
    """Measure on SQLite (and Postgres in full mode), print and record the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="few samples, SQLite only")
    parser.add_argument("--samples", type=int, help="samples per path (default 200)")
    parser.add_argument("--no-record", action="store_true", help="do not append to RESULTS.md")
    args = parser.parse_args()
    samples = args.samples or (10 if args.quick else 200)
    table: list[list[object]] = []
    met = True
    with tempfile.TemporaryDirectory(prefix="agnt-bench-a2a-") as tmp:
        runs: list[tuple[str, Callable[[], contextlib.AbstractContextManager[Deployment]]]] = []

        @contextlib.contextmanager
        def on_sqlite() -> Iterator[Deployment]:
            yield sqlite_deployment(Path(tmp) / "sqlite", ENV)

        runs.append(("sqlite", on_sqlite))
        if not args.quick:

            @contextlib.contextmanager
            def on_postgres() -> Iterator[Deployment]:
                with postgres_database("a2a") as url:
                    yield Deployment(
                        workdir=Path(tmp) / "postgres",
                        database_url=url,
                        storage_url=(Path(tmp) / "postgres" / "objects").as_uri(),
                        extra_env=dict(ENV),
                    )

            runs.append(("postgres", on_postgres))
        for database, deployment_of in runs:
            with deployment_of() as deployment:
                deployment.workdir.mkdir(parents=True, exist_ok=True)
                timings = measure(deployment, samples)
            found = rows(database, timings)
            table += found
            met = met and float(str(found[-1][-1])) <= TARGET_P50_MS
    body = markdown_table(
        ["database", "path", "samples", "p50 ms", "p95 ms", "p50 − native ms"], table
    )
    body += (
        f"\n\nTarget: A2A SendMessage within {TARGET_P50_MS:g} ms of native at p50: "
        f"{'met' if met else 'NOT met'}. Each sample orders one demo-echo job and waits for "
        "its end (demo executor on the same machine, loopback, one keep-alive client); the "
        "paths alternate. The A2A answer carries the artifacts (download URLs), which the "
        "native answer does not: `native + GET result` is the like-for-like native path.\n"
    )
    report("A2A SendMessage latency", body, record=not args.no_record, quick=args.quick)


if __name__ == "__main__":
    main()
