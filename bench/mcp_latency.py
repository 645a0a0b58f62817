"""MCP ``order_job`` latency against the native ``POST /v1/jobs`` + ``Prefer: wait``.

One ``agnt-server serve`` on SQLite and the demo executor serving ``demo-echo``; each round
orders one job through every path, in turn, so load hits all paths alike:

- ``native``: ``POST /v1/jobs`` with ``Prefer: wait=30`` (httpx), answering the ended job;
- ``native + result``: the same, then ``GET .../result`` and the one result file: what an
  MCP ``order_job`` answer carries (small text results inline);
- ``MCP /mcp (HTTP)``: the mcp SDK client's ``call_tool("order_job")`` on the API's
  streamable-HTTP endpoint (one session, kept open), services-backed;
- ``MCP agnt mcp (stdio)``: the same through ``agnt mcp`` (one subprocess), client-backed;
- ``+ progress``: the same with a progress callback, so ``order_job`` follows the job's
  event stream and sends progress notifications instead of one ``Prefer: wait`` call.

Target: MCP within 20 ms of native at p50.

    uv run python bench/mcp_latency.py [--quick] [--jobs N] [--no-record]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
import httpx2
from harness import Deployment, auth, markdown_table, percentile, report, sqlite_deployment
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client

from agnt_executor.demo import manifest_path

AGENT = "demo-echo"
TARGET_P50_DELTA_MS = 20.0
ORDER = {"agent_id": AGENT, "prompt": "hello mcp", "params": {"uppercase": True}}


def start_demo_executor(deployment: Deployment, url: str, workdir: Path) -> subprocess.Popen[bytes]:
    """``agnt-executor run`` on the demo manifest; returns once ``demo-echo`` is published."""
    log = (workdir / "executor.log").open("wb")
    executor = subprocess.Popen(
        [sys.executable, "-m", "agnt_executor", "run", str(manifest_path())],
        env={
            **deployment.env(workdir / "executor"),
            "AGNT_API_URL": url,
            "AGNT_API_KEY": deployment.keys.executor,
        },
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    log.close()
    deadline = time.monotonic() + 120
    while (
        httpx.get(f"{url}/v1/agents/{AGENT}", headers=auth(deployment.keys.buyer)).status_code
        != 200
    ):
        if executor.poll() is not None or time.monotonic() > deadline:
            executor.kill()
            raise RuntimeError((workdir / "executor.log").read_text(errors="replace"))
        time.sleep(0.1)
    return executor


async def measure(url: str, buyer_key: str, jobs: int) -> dict[str, list[float]]:
    """Milliseconds per completed ``demo-echo`` job, by path, ``jobs`` rounds (after warm-up)."""
    stdio_server = StdioServerParameters(
        command=sys.executable,
        args=["-m", "agnt_cli", "mcp"],
        env={**os.environ, "AGNT_API_URL": url, "AGNT_API_KEY": buyer_key},
    )
    async with (
        httpx.AsyncClient(base_url=url, headers=auth(buyer_key), timeout=60) as native,
        httpx2.AsyncClient(headers=auth(buyer_key), timeout=httpx2.Timeout(60.0)) as mcp_http,
        Client(streamable_http_client(f"{url}/mcp", http_client=mcp_http)) as over_http,
        Client(stdio_server) as over_stdio,
    ):

        async def native_order() -> None:
            answer = await native.post("/v1/jobs", json=ORDER, headers={"Prefer": "wait=30"})
            answer.raise_for_status()
            assert answer.json()["status"] == "completed", answer.json()

        async def native_with_result() -> None:
            answer = await native.post("/v1/jobs", json=ORDER, headers={"Prefer": "wait=30"})
            answer.raise_for_status()
            result = await native.get(f"/v1/jobs/{answer.json()['id']}/result")
            result.raise_for_status()
            for file in result.json()["files"]:
                (await native.get(file["download_url"])).raise_for_status()

        async def ignore_progress(value: float, total: float | None, message: str | None) -> None:
            pass

        def mcp_order(client: Client, *, progress: bool = False) -> Callable[[], Awaitable[None]]:
            callback = ignore_progress if progress else None

            async def order() -> None:
                result = await client.call_tool("order_job", ORDER, progress_callback=callback)
                assert not result.is_error and result.structured_content is not None, result
                assert result.structured_content["job"]["status"] == "completed"
                assert result.structured_content["files"][0]["text"] == "HELLO MCP\n"

            return order

        paths: dict[str, Callable[[], Awaitable[None]]] = {
            "native: POST /v1/jobs + Prefer: wait": native_order,
            "native + GET result + file": native_with_result,
            "MCP order_job, /mcp (HTTP)": mcp_order(over_http),
            "MCP order_job, agnt mcp (stdio)": mcp_order(over_stdio),
            "MCP order_job + progress, /mcp (HTTP)": mcp_order(over_http, progress=True),
            "MCP order_job + progress, agnt mcp (stdio)": mcp_order(over_stdio, progress=True),
        }
        timings: dict[str, list[float]] = {name: [] for name in paths}
        for round_number in range(jobs + 3):
            for name, order in paths.items():
                started = time.perf_counter()
                await order()
                if round_number >= 3:  # the first rounds warm up connections and imports
                    timings[name].append((time.perf_counter() - started) * 1000)
    return timings


def main() -> None:
    """Run the bench and print (and record) its table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="10 jobs per path, not recorded")
    parser.add_argument("--jobs", type=int, help="jobs per path (default 100, quick 10)")
    parser.add_argument("--no-record", action="store_true", help="do not append to RESULTS.md")
    args = parser.parse_args()
    jobs = args.jobs or (10 if args.quick else 100)
    with tempfile.TemporaryDirectory(prefix="agnt-bench-mcp-") as tmp:
        workdir = Path(tmp)
        deployment = sqlite_deployment(workdir)
        deployment.prepare()
        with deployment.server() as api:
            executor = start_demo_executor(deployment, api.url, workdir)
            try:
                timings = asyncio.run(measure(api.url, deployment.keys.buyer, jobs))
            finally:
                executor.terminate()
                executor.wait(timeout=30)
    native_p50, with_result_p50 = (percentile(v, 0.50) for v in list(timings.values())[:2])
    rows = []
    for name, values in timings.items():
        p50 = percentile(values, 0.50)
        rows.append(
            [
                name,
                len(values),
                f"{p50:.1f}",
                f"{percentile(values, 0.95):.1f}",
                f"{p50 - native_p50:+.1f}",
                f"{p50 - with_result_p50:+.1f}",
            ]
        )
    headers = ["path (demo-echo, SQLite)", "jobs", "p50 ms", "p95 ms", "Δ p50 vs native"]
    table = markdown_table([*headers, "Δ p50 vs native + result"], rows)
    worst = max(percentile(v, 0.50) for name, v in timings.items() if name.startswith("MCP"))
    verdict = "met" if worst - native_p50 <= TARGET_P50_DELTA_MS else "missed"
    body = (
        f"{table}\n\nTarget: MCP order_job within {TARGET_P50_DELTA_MS:.0f} ms of native at p50: "
        f"{verdict} (worst MCP path {worst - native_p50:+.1f} ms). An MCP answer also carries "
        "the result file inline, as the `native + result` row fetches it."
    )
    report("MCP order_job latency vs native", body, record=not args.no_record, quick=args.quick)


if __name__ == "__main__":
    main()
