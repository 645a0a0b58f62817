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
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

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

AGENT = "demo-echo"
IDLE = "bench-a2a-idle"
"""An agent nobody serves: orders to it stay pending, so only the order itself is timed."""
NATIVE = "native (POST /v1/jobs + Prefer: wait)"
A2A = "A2A SendMessage (blocking)"
A2A_HEADERS = {"A2A-Version": "1.0"}
LAYER_PATHS = (
    "order: POST /v1/jobs",
    "order: SendMessage returnImmediately",
    "read: GET job + GET result",
    "read: GetTask",
)
END_TO_END_PAIRS = {"native + GET result": NATIVE, A2A: NATIVE}
LAYER_PAIRS = {
    "order: SendMessage returnImmediately": "order: POST /v1/jobs",
    "read: GetTask": "read: GET job + GET result",
}
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


def native(client: httpx.Client, *, with_result: bool) -> tuple[float, str]:
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
    return time.perf_counter() - started, str(job["id"])


def rpc(method: str, params: dict[str, Any]) -> dict[str, Any]:
    """A JSON-RPC request object."""
    return {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}


def send_message(agent_id: str, *, return_immediately: bool = False) -> dict[str, Any]:
    """A ``SendMessage`` call with a fresh message id."""
    message = {"messageId": str(uuid.uuid4()), "role": "ROLE_USER", "parts": [{"text": "bench"}]}
    params: dict[str, Any] = {"message": message}
    if return_immediately:
        params["configuration"] = {"returnImmediately": True}
    return rpc("SendMessage", params)


def a2a(client: httpx.Client) -> tuple[float, str]:
    """One blocking A2A ``SendMessage``; seconds until the completed task."""
    started = time.perf_counter()
    answer = client.post(f"/a2a/{AGENT}", headers=A2A_HEADERS, json=send_message(AGENT))
    task = answer.json().get("result", {}).get("task", {})
    if task.get("status", {}).get("state") != "TASK_STATE_COMPLETED" or not task["artifacts"]:
        raise RuntimeError(f"A2A task did not complete: {answer.text}")
    return time.perf_counter() - started, str(task["id"])


def timed(call: Callable[..., httpx.Response], url: str, **kwargs: Any) -> float:
    """Seconds one request takes (it must succeed)."""
    started = time.perf_counter()
    answer = call(url, **kwargs)
    elapsed = time.perf_counter() - started
    answer.raise_for_status()
    if "error" in answer.text[:40]:
        raise RuntimeError(answer.text)
    return elapsed


Timings = dict[str, list[float]]


def end_to_end(client: httpx.Client, samples: int) -> tuple[Timings, list[str]]:
    """Interleaved demo-echo orders waited for to the end, per path; and the completed ids."""
    paths: dict[str, Callable[[httpx.Client], tuple[float, str]]] = {
        NATIVE: lambda c: native(c, with_result=False),
        "native + GET result": lambda c: native(c, with_result=True),
        A2A: a2a,
    }
    timings: Timings = {name: [] for name in paths}
    completed: list[str] = []
    for _ in range(WARMUP):
        for path in paths.values():
            path(client)
    for _ in range(samples):
        for name, path in paths.items():
            elapsed, job_id = path(client)
            timings[name].append(elapsed)
            completed.append(job_id)
    return timings, completed


def server_layer(client: httpx.Client, samples: int, completed: list[str]) -> Timings:
    """The A2A layer alone: orders to an agent nobody serves, and reads of ended jobs."""
    timings: Timings = {name: [] for name in LAYER_PATHS}
    for index in range(samples):
        job_id = completed[index % len(completed)]
        timings["order: POST /v1/jobs"].append(
            timed(client.post, "/v1/jobs", json={"agent_id": IDLE, "prompt": "bench"})
        )
        timings["order: SendMessage returnImmediately"].append(
            timed(
                client.post,
                f"/a2a/{IDLE}",
                headers=A2A_HEADERS,
                json=send_message(IDLE, return_immediately=True),
            )
        )
        timings["read: GET job + GET result"].append(
            timed(client.get, f"/v1/jobs/{job_id}") + timed(client.get, f"/v1/jobs/{job_id}/result")
        )
        timings["read: GetTask"].append(
            timed(
                client.post,
                f"/a2a/{AGENT}",
                headers=A2A_HEADERS,
                json=rpc("GetTask", {"id": job_id}),
            )
        )
    return timings


def measure(deployment: Deployment, samples: int) -> tuple[Timings, Timings]:
    """Both phases against one server and the demo executor."""
    keys = deployment.prepare()
    idle_owner = json.loads(
        deployment.server_cli("keys", "create", "--role", "executor", "--name", "idle")
    )["key"]
    log = deployment.workdir / "executor.log"
    with (
        deployment.server() as api,
        demo_executor(api.url, keys.executor, log),
        httpx.Client(base_url=api.url, headers=auth(keys.buyer), timeout=60) as client,
    ):
        wait_for_agent(client, log)
        publish_agent(api.url, Keys(buyer=keys.buyer, executor=idle_owner), IDLE)
        waited, completed = end_to_end(client, samples)
        layer = server_layer(client, samples, completed)
    return waited, layer


def rows(database: str, timings: Timings, pairs: dict[str, str]) -> list[list[object]]:
    """Table rows: p50/p95 per path, and its difference to the native path it pairs with
    (at p50, and the median of the per-round differences, which drift on a busy machine
    does not move)."""
    table: list[list[object]] = []
    for name, values in timings.items():
        base = timings[pairs.get(name, name)]
        p50 = percentile(values, 0.5)
        paired = percentile([a - b for a, b in zip(values, base, strict=True)], 0.5)
        table.append(
            [
                database,
                name,
                len(values),
                f"{p50 * 1000:.1f}",
                f"{percentile(values, 0.95) * 1000:.1f}",
                f"{(p50 - percentile(base, 0.5)) * 1000:+.1f}",
                f"{paired * 1000:+.1f}",
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
    waited_rows: list[list[object]] = []
    layer_rows: list[list[object]] = []
    verdicts: list[str] = []
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
                waited, layer = measure(deployment, samples)
            waited_rows += rows(database, waited, END_TO_END_PAIRS)
            layer_rows += rows(database, layer, LAYER_PAIRS)
            gap = (percentile(waited[A2A], 0.5) - percentile(waited[NATIVE], 0.5)) * 1000
            verdicts.append(
                f"{database} {gap:+.1f} ms ({'met' if gap <= TARGET_P50_MS else 'NOT met'})"
            )
    headers = ["database", "path", "samples", "p50 ms", "p95 ms", "Δ p50 ms", "median paired Δ ms"]
    body = (
        "Ordered and waited for to the end (demo-echo, demo executor on this machine):\n\n"
        + markdown_table(headers, waited_rows)
        + "\n\nThe A2A layer alone (an agent nobody serves; reads of completed jobs):\n\n"
        + markdown_table(headers, layer_rows)
        + f"\n\nTarget: A2A SendMessage within {TARGET_P50_MS:g} ms of native at p50: "
        + "; ".join(verdicts)
        + ". Paths alternate within each round over one keep-alive client (loopback); Δ is "
        "against the native path of the pair (first row of each group), the paired Δ is the "
        "median of per-round differences. The A2A answer carries the artifacts (download "
        "URLs): `native + GET result` is the like-for-like native path.\n"
    )
    report("A2A SendMessage latency", body, record=not args.no_record, quick=args.quick)


if __name__ == "__main__":
    main()
