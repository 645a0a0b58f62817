"""Lifecycle throughput: agnt's job path against a ceiling, in the same run.

The ceiling (``bench/ceiling_app.py``) is a bare ASGI app on uvicorn (uvloop, httptools)
doing one key lookup and one statement per request over agnt's migrated Postgres schema,
with psycopg's async pool and, as a second column, its sync pool in worker threads. agnt
runs as real ``agnt-server serve`` processes: Postgres with 1 and 2 workers (when
``serve`` takes ``--workers``), and SQLite.

The load generator is hand-written HTTP/1.1 over asyncio streams (uvloop), one keep-alive
connection per simulated executor or buyer, and reports its own CPU. Rows:

- ``GET /v1/agents/{id}``: an authenticated read.
- claims with 1, 8 and 32 executors over pre-created jobs (``POST /v1/executor/claims``,
  one job per claim), and the 409s seen.
- ``POST .../status`` (running) and ``POST .../complete`` (a 1 kB file as multipart) over
  the jobs the 8 executors claimed: server CPU per request of each kind.
- the full lifecycle: buyers create jobs while 8 executors claim (long-poll), report
  running and complete; jobs/s to the last completion.
- dispatch: 8 executors idle in a claim long-poll, a buyer creates one job at a time;
  from the POST sent to the claim's answer, p50 and p99.

Server CPU is read from /proc for the server's whole process tree (its workers) before
and after each run. Ratios are to the async ceiling with the same number of workers.

    uv run python bench/lifecycle_throughput.py [--quick] [--profile] [--no-record]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import psycopg
import uvloop
from harness import (
    Deployment,
    Keys,
    cpu_seconds,
    free_port,
    markdown_table,
    percentile,
    postgres_database,
    process_tree,
    publish_agent,
    report,
    serve_supports_workers,
    sqlite_deployment,
)
from profiling import sampled, summary

BENCH = Path(__file__).resolve().parent
AGENT_ID = "bench-throughput"
RESULT_BYTES = b"r" * 1024
BOUNDARY = "benchboundary7d1f"
TARGET_RATIO = 0.5  # claims and full lifecycle, of the ceiling
TARGET_LATENCY_RATIO = 3.0  # dispatch p99 and server CPU per status report / read


# --- The load generator: HTTP/1.1 keep-alive requests written by hand ------------------


class Http:
    """One keep-alive connection; one request at a time."""

    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, key: str
    ) -> None:
        self.reader = reader
        self.writer = writer
        self.prefix = f"Host: bench\r\nAuthorization: Bearer {key}\r\n".encode()

    @classmethod
    async def open(cls, url: str, key: str) -> Http:
        parts = urlsplit(url)
        reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
        return cls(reader, writer, key)

    async def request(
        self, method: str, path: str, body: bytes = b"", content_type: str = "application/json"
    ) -> tuple[int, bytes]:
        """Send one request, read the whole answer: ``(status, body)``."""
        self.writer.write(
            f"{method} {path} HTTP/1.1\r\n".encode()
            + self.prefix
            + f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        lower = head.lower()
        at = lower.find(b"\r\ncontent-length:")
        if at >= 0:
            length = int(lower[at + 17 : lower.index(b"\r\n", at + 2)])
            return status, await self.reader.readexactly(length)
        if b"transfer-encoding: chunked" not in lower:
            return status, b""
        data = b""
        while size := int((await self.reader.readuntil(b"\r\n"))[:-2].split(b";")[0], 16):
            data += (await self.reader.readexactly(size + 2))[:-2]
        await self.reader.readuntil(b"\r\n")
        return status, data

    async def json(self, method: str, path: str, payload: Any = None) -> tuple[int, Any]:
        status, data = await self.request(
            method, path, b"" if payload is None else json.dumps(payload).encode()
        )
        return status, json.loads(data) if data else None

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(OSError):
            await self.writer.wait_closed()


def _ok(status: int, body: Any, what: str) -> Any:
    if not 200 <= status < 300:
        raise RuntimeError(f"{what} answered {status}: {body}")
    return body


MULTIPART = (
    (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="files"; filename="result.txt"\r\n'
        "Content-Type: text/plain\r\n\r\n"
    ).encode()
    + RESULT_BYTES
    + f"\r\n--{BOUNDARY}--\r\n".encode()
)


async def create_job(buyer: Http, prompt: str) -> dict[str, Any]:
    status, job = await buyer.json("POST", "/v1/jobs", {"agent_id": AGENT_ID, "prompt": prompt})
    return dict(_ok(status, job, "POST /v1/jobs"))


async def claim(executor: Http, wait: float) -> tuple[int, list[dict[str, Any]]]:
    """One claim of at most one job: ``(status, jobs)``."""
    status, body = await executor.json(
        "POST", "/v1/executor/claims", {"max": 1, "agent_ids": [AGENT_ID], "wait": wait}
    )
    return status, (body["items"] if status == 200 else [])


async def report_running(executor: Http, job_id: str) -> None:
    status, body = await executor.json(
        "POST", f"/v1/executor/jobs/{job_id}/status", {"status": "running"}
    )
    _ok(status, body, "POST status running")


async def complete(executor: Http, job_id: str) -> None:
    status, body = await executor.request(
        "POST",
        f"/v1/executor/jobs/{job_id}/complete",
        MULTIPART,
        f"multipart/form-data; boundary={BOUNDARY}",
    )
    _ok(status, body, "POST complete")


# --- What a run measures ----------------------------------------------------------------


@dataclass
class Sample:
    """One timed run: count, wall time, CPU of the server's processes and of this one."""

    count: int
    seconds: float
    server_cpu: float
    client_cpu: float
    conflicts: int = 0
    latencies: list[float] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.count / self.seconds

    @property
    def server_ms(self) -> float:
        return 1000 * self.server_cpu / max(self.count, 1)

    @property
    def client_share(self) -> float:
        return self.client_cpu / self.seconds


class Meter:
    """CPU and wall clock between ``start`` and ``stop``."""

    def __init__(self, pids: list[int]) -> None:
        self.pids = pids

    def start(self) -> None:
        self.started = time.perf_counter()
        self.server = cpu_seconds(self.pids)
        self.client = time.process_time()

    def stop(self, count: int, conflicts: int = 0) -> Sample:
        seconds = time.perf_counter() - self.started
        return Sample(
            count,
            seconds,
            cpu_seconds(self.pids) - self.server,
            time.process_time() - self.client,
            conflicts,
        )


@dataclass
class Target:
    """A running server under test."""

    label: str
    kind: str  # "ceiling" or "agnt"
    workers: int
    url: str
    keys: Keys
    pid: int

    def meter(self) -> Meter:
        return Meter(process_tree(self.pid))


async def _connections(url: str, key: str, count: int) -> list[Http]:
    return list(await asyncio.gather(*(Http.open(url, key) for _ in range(count))))


async def _close(connections: list[Http]) -> None:
    await asyncio.gather(*(c.close() for c in connections))


async def _precreate(target: Target, count: int, run: str) -> None:
    buyers = await _connections(target.url, target.keys.buyer, 8)
    numbers = iter(range(count))

    async def creator(buyer: Http) -> None:
        for number in numbers:
            await create_job(buyer, f"{run} {number}")

    await asyncio.gather(*(creator(b) for b in buyers))
    await _close(buyers)


async def get_agent(target: Target, requests: int, concurrency: int) -> Sample:
    clients = await _connections(target.url, target.keys.buyer, concurrency)
    remaining = iter(range(requests))

    async def worker(client: Http) -> None:
        for _ in remaining:
            status, body = await client.request("GET", f"/v1/agents/{AGENT_ID}")
            _ok(status, body, "GET agent")

    meter = target.meter()
    meter.start()
    await asyncio.gather(*(worker(c) for c in clients))
    sample = meter.stop(requests)
    await _close(clients)
    return sample


async def claims(
    target: Target, jobs: int, executors: int, profile_to: Path | None = None
) -> tuple[Sample, list[tuple[Http, list[str]]]]:
    """``jobs`` pre-created jobs claimed one per request by ``executors`` executors; the
    sample and each executor's connection with the ids it claimed (still open). With
    ``profile_to``, py-spy samples the server during the claims (not the set-up)."""
    await _precreate(target, jobs, f"claims {executors}")
    connections = await _connections(target.url, target.keys.executor, executors)
    claimed: list[list[str]] = [[] for _ in connections]
    conflicts = 0
    total = 0

    async def executor(index: int) -> None:
        nonlocal conflicts, total
        while total < jobs:
            status, items = await claim(connections[index], 0)
            if status == 409:
                conflicts += 1
            elif status != 200:
                raise RuntimeError(f"claim answered {status}")
            claimed[index] += [item["id"] for item in items]
            total += len(items)

    meter = target.meter()
    with sampled(target.pid, profile_to) if profile_to else contextlib.nullcontext():
        meter.start()
        await asyncio.gather(*(executor(i) for i in range(executors)))
        sample = meter.stop(total, conflicts)
    return sample, list(zip(connections, claimed, strict=True))


async def per_job(
    target: Target, held: list[tuple[Http, list[str]]], step: Callable[[Http, str], Awaitable[None]]
) -> Sample:
    """``step`` for every held job, each executor over its own jobs."""

    async def executor(connection: Http, ids: list[str]) -> None:
        for job_id in ids:
            await step(connection, job_id)

    meter = target.meter()
    meter.start()
    await asyncio.gather(*(executor(c, ids) for c, ids in held))
    return meter.stop(sum(len(ids) for _, ids in held))


async def lifecycle(target: Target, jobs: int, executors: int) -> Sample:
    """Buyers create ``jobs`` while executors claim (long-poll), run and complete them."""
    workers = await _connections(target.url, target.keys.executor, executors)
    buyers = await _connections(target.url, target.keys.buyer, max(executors // 2, 1))
    done = 0
    finished = asyncio.Event()
    meter = target.meter()
    result: list[Sample] = []

    async def executor(connection: Http) -> None:
        nonlocal done
        while not finished.is_set():
            status, items = await claim(connection, 1)
            _ok(status, items, "claim")
            for item in items:
                await report_running(connection, item["id"])
                await complete(connection, item["id"])
                done += 1
                if done == jobs:
                    result.append(meter.stop(jobs))  # to the last completion
                    finished.set()

    numbers = iter(range(jobs))

    async def buyer(connection: Http) -> None:
        for number in numbers:
            await create_job(connection, f"lifecycle {number}")

    meter.start()
    running = [asyncio.create_task(executor(c)) for c in workers]
    await asyncio.gather(*(buyer(b) for b in buyers))
    await asyncio.wait_for(finished.wait(), timeout=600)
    # Not canceled: a long-poll cut on our side would still claim, on the server, a job of
    # the next run and answer a closed connection.
    await asyncio.gather(*running)
    await _close(workers + buyers)
    return result[0]


async def dispatch(target: Target, samples: int, executors: int) -> Sample:
    """From a job's POST sent to the claim answer holding it, with executors idle-polling."""
    workers = await _connections(target.url, target.keys.executor, executors)
    (buyer,) = await _connections(target.url, target.keys.buyer, 1)
    sent: dict[str, float] = {}
    arrived: dict[str, asyncio.Event] = {}
    latencies: list[float] = []

    async def executor(connection: Http) -> None:
        while True:
            status, items = await claim(connection, 5)
            _ok(status, items, "claim")
            now = time.perf_counter()
            for item in items:
                if item["prompt"] not in sent:
                    # A job an earlier run claimed and left: requeued when its lease ran
                    # out, it is not a sample.
                    continue
                latencies.append(now - sent[item["prompt"]])
                arrived[item["prompt"]].set()

    polling = [asyncio.create_task(executor(c)) for c in workers]
    await asyncio.sleep(0.3)  # every executor is inside its long-poll
    meter = target.meter()
    meter.start()
    for number in range(samples):
        prompt = f"dispatch {number} {uuid.uuid4().hex[:6]}"
        arrived[prompt] = asyncio.Event()
        sent[prompt] = time.perf_counter()
        await create_job(buyer, prompt)
        await asyncio.wait_for(arrived[prompt].wait(), timeout=30)
        await asyncio.sleep(0.01)
    sample = meter.stop(samples)
    sample.latencies = latencies
    for task in polling:
        task.cancel()
    await asyncio.gather(*polling, return_exceptions=True)
    await _close(workers + [buyer])
    return sample


# --- The servers ------------------------------------------------------------------------


@contextlib.contextmanager
def ceiling_server(database_url: str, workdir: Path, mode: str, workers: int) -> Iterator[Any]:
    """bench/ceiling_app.py on a free port; ``(url, pid)``."""
    port = free_port()
    workdir.mkdir(parents=True, exist_ok=True)
    log = (workdir / "ceiling.log").open("ab")
    process = subprocess.Popen(
        [sys.executable, str(BENCH / "ceiling_app.py"), "--database-url", database_url]
        + ["--data-dir", str(workdir), "--port", str(port), "--mode", mode]
        + ["--workers", str(workers)],
        stdout=log,
        stderr=log,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"ceiling app did not start; see {workdir / 'ceiling.log'}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            time.sleep(0.05)
        if workers > 1:
            time.sleep(1.0)  # every worker up, not only the first
        yield url, process.pid
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def publish_agent_in_database(database_url: str, keys: Keys) -> None:
    """The ceiling has no publish route: the executor's agent row, written directly."""
    with psycopg.connect(database_url, autocommit=True) as connection:
        owner = connection.execute(
            "SELECT principal_id FROM api_keys WHERE prefix = %s", (keys.executor[:13],)
        ).fetchone()
        assert owner is not None
        connection.execute(
            "INSERT INTO agents (id, owner_id, name, description, tags, tags_text, pricing,"
            " input_schema, output_schema, created_at, updated_at) VALUES (%s, %s, %s, %s,"
            " '[\"bench\"]', 'bench', '{}', '{}', '{}', now(), now()) ON CONFLICT (id) DO NOTHING",
            (AGENT_ID, owner[0], "Bench agent", "bench agent"),
        )


@dataclass
class Plan:
    """Sizes of one run."""

    requests: int
    claims: int
    executor_counts: list[int]
    jobs: int
    dispatch: int


def measure(target: Target, plan: Plan, profile_to: Path | None) -> dict[str, Sample]:
    """Every row on one server."""
    results: dict[str, Sample] = {}

    def run(work: Callable[[], Coroutine[Any, Any, Any]]) -> Any:
        return uvloop.run(work())

    results["get"] = run(lambda: get_agent(target, plan.requests, 8))
    for executors in plan.executor_counts:
        if executors != 8:
            results[f"claims {executors}"] = run(
                functools.partial(_claims_closed, target, plan.claims, executors)
            )
            continue

        async def claims_then_report() -> None:
            sample, held = await claims(target, plan.claims, 8, profile_to)
            results["claims 8"] = sample
            results["status"] = await per_job(target, held, report_running)
            results["complete"] = await per_job(target, held, complete)
            await _close([c for c, _ in held])

        run(claims_then_report)
    results["lifecycle"] = run(lambda: lifecycle(target, plan.jobs, 8))
    results["dispatch"] = run(lambda: dispatch(target, plan.dispatch, 8))
    return results


async def _claims_closed(target: Target, jobs: int, executors: int) -> Sample:
    sample, held = await claims(target, jobs, executors)
    await _close([c for c, _ in held])
    return sample


# --- The report ---------------------------------------------------------------------------


def _ratio(value: float, reference: float | None) -> str:
    return "" if not reference else f" ({value / reference:.2f}×)"


def table(
    columns: list[Target], results: dict[str, dict[str, Sample]], plan: Plan
) -> tuple[str, dict[str, dict[str, float]]]:
    """The markdown table and, per agnt column, its ratios to the ceiling."""

    def reference(target: Target) -> Target | None:
        if target.kind == "ceiling":
            return None
        ceilings = [c for c in columns if c.label.startswith("ceiling, async")]
        same = [c for c in ceilings if c.workers == target.workers]
        return (same or ceilings)[0] if ceilings else None

    ratios: dict[str, dict[str, float]] = {}
    rows: list[list[str]] = []

    def add(
        name: str, key: str, value: Callable[[Sample], float], fmt: str, ratio_key: str = ""
    ) -> None:
        row = [name]
        for target in columns:
            sample = results[target.label].get(key)
            if sample is None:
                row.append("–")
                continue
            ref = reference(target)
            ref_sample = results[ref.label].get(key) if ref else None
            ref_value = value(ref_sample) if ref_sample else None
            row.append(format(value(sample), fmt) + _ratio(value(sample), ref_value))
            if ratio_key and ref_value:
                ratios.setdefault(target.label, {})[ratio_key] = value(sample) / ref_value
        rows.append(row)

    add("GET /v1/agents/{id}, req/s", "get", lambda s: s.rate, ",.0f")
    add("… server CPU ms per request", "get", lambda s: s.server_ms, ".2f", "get cpu")
    for executors in plan.executor_counts:
        add(
            f"claims/s, {executors} executor{'s' * (executors > 1)}",
            f"claims {executors}",
            lambda s: s.rate,
            ",.0f",
            f"claims {executors}",
        )
    conflicts_row = ["409s (all claim runs)"]
    for target in columns:
        conflicts_row.append(
            str(
                sum(s.conflicts for k, s in results[target.label].items() if k.startswith("claims"))
            )
        )
    rows.append(conflicts_row)
    add("… server CPU ms per claim (8 executors)", "claims 8", lambda s: s.server_ms, ".2f")
    add(
        "POST status (running): server CPU ms", "status", lambda s: s.server_ms, ".2f", "status cpu"
    )
    add("POST complete (1 kB file): server CPU ms", "complete", lambda s: s.server_ms, ".2f")
    add("full lifecycle, jobs/s (8 executors)", "lifecycle", lambda s: s.rate, ",.0f", "lifecycle")
    add("… server CPU ms per job", "lifecycle", lambda s: s.server_ms, ".2f")
    add(
        "dispatch p50, ms (from POST sent)",
        "dispatch",
        lambda s: 1000 * percentile(s.latencies, 0.5),
        ".1f",
    )
    add(
        "dispatch p99, ms",
        "dispatch",
        lambda s: 1000 * percentile(s.latencies, 0.99),
        ".1f",
        "dispatch p99",
    )
    load_row = ["load generator CPU, max of runs"]
    for target in columns:
        load_row.append(
            f"{100 * max(s.client_share for s in results[target.label].values()):.0f} %"
        )
    rows.append(load_row)
    server_row = ["server CPU, full lifecycle (100 % = a core)"]
    for target in columns:
        sample = results[target.label]["lifecycle"]
        server_row.append(f"{100 * sample.server_cpu / sample.seconds:.0f} %")
    rows.append(server_row)
    return markdown_table(["row", *(c.label for c in columns)], rows), ratios


def verdict(
    columns: list[Target],
    results: dict[str, dict[str, Sample]],
    ratios: dict[str, dict[str, float]],
) -> str:
    """The issue's targets, met or not, for each agnt column on Postgres."""
    lines = []
    for target in columns:
        ratio = ratios.get(target.label, {})
        if target.kind != "agnt" or "SQLite" in target.label:
            continue

        def check(
            name: str, key: str, bound: float, at_least: bool, ratio: dict[str, float] = ratio
        ) -> str:
            value = ratio.get(key)
            if value is None:
                return f"{name} –"
            met = value >= bound if at_least else value <= bound
            return f"{name} {value:.2f}× ({'≥' if at_least else '≤'} {bound}: {'met' if met else 'NOT met'})"

        checks = [
            check("claims (8 executors)", "claims 8", TARGET_RATIO, True),
            check("full lifecycle", "lifecycle", TARGET_RATIO, True),
            check("dispatch p99", "dispatch p99", TARGET_LATENCY_RATIO, False),
            check("CPU per status report", "status cpu", TARGET_LATENCY_RATIO, False),
            check("CPU per read", "get cpu", TARGET_LATENCY_RATIO, False),
        ]
        mine = results[target.label]
        if "claims 32" in mine:
            change = mine["claims 32"].rate / mine["claims 8"].rate
            checks.append(f"claims/s 32 vs 8 executors {change:.2f} (no drop: ≥ 1)")
        lines.append(f"- {target.label}: " + "; ".join(checks))
    return "\n".join(lines)


def _label(kind: str, mode: str, database: str, workers: int) -> str:
    plural = "s" * (workers > 1)
    if kind == "ceiling":
        return f"ceiling, {mode} pool, {workers} worker{plural}"
    return f"agnt, {database}, {workers} worker{plural}"


def main() -> None:
    """Start each server in turn, measure every row, print (and record) the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, to catch breakage")
    parser.add_argument("--profile", action="store_true", help="py-spy agnt's claims on Postgres")
    parser.add_argument("--no-record", action="store_true", help="do not append to RESULTS.md")
    parser.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="TEXT",
        help="run only the columns whose label contains TEXT (repeatable), e.g. 'agnt, SQLite'",
    )
    args = parser.parse_args()
    plan = (
        Plan(requests=100, claims=40, executor_counts=[8], jobs=20, dispatch=5)
        if args.quick
        else Plan(requests=2000, claims=600, executor_counts=[1, 8, 32], jobs=600, dispatch=200)
    )
    workers = [1, 2] if serve_supports_workers() else [1]
    configs: list[tuple[str, str, str, int]] = [("agnt", "", "Postgres", w) for w in workers]
    configs += [("ceiling", "async", "Postgres", w) for w in workers]
    configs += [("ceiling", "sync", "Postgres", 1), ("agnt", "", "SQLite", 1)]
    if args.quick:
        # To catch breakage: one of each kind, and the Postgres ones share a database
        # (agnt publishes the agent first) to save a migration.
        configs = [c for c in configs if c[3] == 1 and c[1] != "sync"]
    if args.only:
        configs = [c for c in configs if any(text in _label(*c) for text in args.only)]

    began = time.monotonic()
    columns: list[Target] = []
    results: dict[str, dict[str, Sample]] = {}
    profile = None
    with (
        tempfile.TemporaryDirectory(prefix="agnt-bench-throughput-") as tmp,
        contextlib.ExitStack() as shared,
    ):
        work = Path(tmp)
        shared_deployment: tuple[Deployment, Keys] | None = None
        for number, (kind, mode, database, count) in enumerate(configs):
            name = f"{kind}{number}"
            label = _label(kind, mode, database, count)
            print(f"-- {label} ({time.monotonic() - began:.0f}s)", flush=True)
            with contextlib.ExitStack() as stack:
                if database == "SQLite":
                    deployment = sqlite_deployment(work / name)
                    keys = deployment.prepare()
                elif shared_deployment is not None:
                    deployment, keys = shared_deployment
                else:
                    # A fresh database for each server (migrated by agnt-server migrate).
                    url = (shared if args.quick else stack).enter_context(
                        postgres_database(f"throughput_{number}")
                    )
                    deployment = Deployment(work / name, url, (work / name / "objects").as_uri())
                    keys = deployment.prepare()
                    if args.quick:
                        shared_deployment = deployment, keys
                if kind == "ceiling":
                    publish_agent_in_database(deployment.database_url, keys)
                    server_url, pid = stack.enter_context(
                        ceiling_server(deployment.database_url, work / name, mode, count)
                    )
                else:
                    server = stack.enter_context(
                        deployment.server(name, workers=count if len(workers) > 1 else None)
                    )
                    publish_agent(server.url, keys, AGENT_ID)
                    server_url, pid = server.url, server.pid
                target = Target(label, kind, count, server_url, keys, pid)
                profile_to = (
                    work / "claims.pyspy"
                    if args.profile and kind == "agnt" and database == "Postgres" and count == 1
                    else None
                )
                print(f"   ready ({time.monotonic() - began:.0f}s)", flush=True)
                results[label] = measure(target, plan, profile_to)
                if profile_to:
                    profile = summary(profile_to)
                columns.append(target)
    # Ceilings first, then agnt on Postgres, then SQLite.
    columns.sort(key=lambda t: (t.kind != "ceiling", "SQLite" in t.label, t.label))

    body, ratios = table(columns, results, plan)
    notes = (
        f"Each cell: the value, and for agnt its ratio to the async ceiling with as many "
        f"workers (SQLite: to the Postgres ceiling). Sizes: {plan.requests} reads, "
        f"{plan.claims} claims per executor count, {plan.jobs} full jobs, {plan.dispatch} "
        "dispatch samples. Server CPU is the whole process tree's (/proc), the load "
        "generator's is this process's (hand-written HTTP/1.1 on uvloop, one connection per "
        "executor or buyer).\n\nTargets (issue 14), agnt on Postgres:\n\n"
        + verdict(columns, results, ratios)
    )
    text = f"{body}\n\n{notes}"
    if profile:
        text += f"\n\nagnt's server (1 worker, Postgres) while 8 executors claim:\n\n{profile}"
    report(
        "Lifecycle throughput against the ceiling",
        text,
        record=not args.no_record,
        quick=args.quick,
    )


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
