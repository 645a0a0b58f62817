"""Job events: cross-replica event latency, and many SSE subscribers on one API process.

Real ``agnt-server serve`` processes on one Postgres database (``AGNT_TEST_POSTGRES_URL``).

- latency: an executor reports progress on replica A
  (``POST /v1/executor/jobs/{id}/status``); a Server-Sent Events subscriber on replica B
  (``GET /v1/jobs/{id}/events``) and a buyer long-polling the same job on B
  (``GET /v1/jobs/{id}?wait=30``) are woken by the same report. One report at a time,
  rotating over a few jobs so each job's reports are >= 0.65 s apart (progress events
  are coalesced to one per 0.5 s per job). Latency is measured from the report's answer
  (and, second column, from sending it) to the subscriber having the event.
- subscribers: N SSE streams (one job each) held open on replica A (B stopped): its RSS,
  threads (``/proc/<pid>/status``) and Postgres connections (``pg_stat_activity`` of
  the bench database), before and while they are connected, and ``/healthz`` latency
  meanwhile; then every job is canceled and each stream must end with ``canceled``.

The subscribers are raw asyncio streams with a hand-written HTTP/1.1 GET (no httpx), so
the load generator stays light.

    uv run python bench/events.py [--quick] [--no-record]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import resource
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import httpx
from harness import (
    ApiServer,
    Deployment,
    Keys,
    auth,
    markdown_table,
    percentile,
    postgres_database,
    process_tree,
    publish_agent,
    report,
    require_env,
)

AGENT = "bench-events"
ENV = {"AGNT_RATE_LIMITS": "false"}
TARGET_P99_MS = 50.0
PROGRESS_SPACING_SECONDS = 0.65
LONG_POLL_SETTLE_SECONDS = 0.15


# --- a light SSE client ---------------------------------------------------------------


@dataclass
class SseEvent:
    """One message of the stream (``kind`` is ``comment`` for a ``:`` line) and when its
    chunk arrived (``time.perf_counter``)."""

    kind: str
    data: str
    arrived: float


async def open_stream(
    url: str, path: str, key: str
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A raw HTTP/1.1 ``GET path`` with ``Accept: text/event-stream``; the body follows."""
    parts = urlsplit(url)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    writer.write(
        (
            f"GET {path} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
            f"Authorization: Bearer {key}\r\nAccept: text/event-stream\r\n\r\n"
        ).encode()
    )
    await writer.drain()
    status = await reader.readline()
    if b" 200 " not in status:
        raise RuntimeError(f"GET {path}: {status.decode(errors='replace').strip()}")
    chunked = False
    while (line := await reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.decode().partition(":")
        if name.strip().lower() == "transfer-encoding" and "chunked" in value.lower():
            chunked = True
    if not chunked:
        raise RuntimeError(f"GET {path}: expected a chunked stream")
    return reader, writer


async def read_events(reader: asyncio.StreamReader) -> AsyncIterator[SseEvent]:
    """The stream's messages until the server ends the chunked body."""
    buffer = b""
    while True:
        size_line = await reader.readline()
        if not size_line:
            return
        size = int(size_line.split(b";")[0].strip(), 16)
        if size == 0:
            return
        chunk = await reader.readexactly(size + 2)
        arrived = time.perf_counter()
        buffer += chunk[:-2]
        while b"\n\n" in buffer:
            block, buffer = buffer.split(b"\n\n", 1)
            kind, data = "message", ""
            for line in block.decode().splitlines():
                if line.startswith(":"):
                    kind = "comment"
                elif line.startswith("event:"):
                    kind = line[6:].strip()
                elif line.startswith("data:"):
                    data = line[5:].strip()
            yield SseEvent(kind, data, arrived)


# --- shared helpers -------------------------------------------------------------------


async def create_jobs(client: httpx.AsyncClient, buyer: str, count: int) -> list[str]:
    """``count`` new jobs for the bench agent, 16 orders at a time."""
    gate = asyncio.Semaphore(16)

    async def one(number: int) -> str:
        async with gate:
            response = await client.post(
                "/v1/jobs",
                headers=auth(buyer),
                json={"agent_id": AGENT, "prompt": f"events {number}"},
            )
            response.raise_for_status()
            return str(response.json()["id"])

    return list(await asyncio.gather(*(one(number) for number in range(count))))


_STARTED = time.monotonic()


def step(what: str) -> None:
    """A progress line on stderr (the table goes to stdout)."""
    print(f"[events {time.monotonic() - _STARTED:5.1f}s] {what}", file=sys.stderr, flush=True)


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f}"


# --- 1. latency across replicas -------------------------------------------------------


@dataclass
class Latencies:
    """Per path, seconds from the report's answer and from sending it."""

    from_answer: list[float] = field(default_factory=list)
    from_send: list[float] = field(default_factory=list)

    def add(self, arrived: float, sent: float, answered: float) -> None:
        self.from_answer.append(max(arrived - answered, 0.0))
        self.from_send.append(max(arrived - sent, 0.0))

    def row(self, name: str) -> list[str]:
        a = self.from_answer
        return [
            name,
            str(len(a)),
            ms(percentile(a, 0.5)),
            ms(percentile(a, 0.95)),
            ms(percentile(a, 0.99)),
            ms(max(a)),
            f"{ms(percentile(self.from_send, 0.5))} / {ms(percentile(self.from_send, 0.99))}",
        ]


async def measure_latency(
    a: ApiServer, b: ApiServer, keys: Keys, samples: int
) -> tuple[Latencies, Latencies]:
    """SSE and long-poll latencies on B of ``samples`` progress reports made on A."""
    job_count = max(4, math.ceil(samples / 99))
    arrivals: dict[tuple[str, int], asyncio.Future[float]] = {}
    loop = asyncio.get_running_loop()

    def arrival(job_id: str, progress: int) -> asyncio.Future[float]:
        return arrivals.setdefault((job_id, progress), loop.create_future())

    async with (
        httpx.AsyncClient(base_url=a.url, timeout=30) as on_a,
        httpx.AsyncClient(base_url=b.url, headers=auth(keys.buyer), timeout=60) as buyer_b,
    ):
        jobs = await create_jobs(on_a, keys.buyer, job_count)
        claimed = await on_a.post(
            "/v1/executor/claims",
            headers=auth(keys.executor),
            json={"job_ids": jobs, "max": job_count},
        )
        claimed.raise_for_status()
        for job_id in jobs:
            started = await on_a.post(
                f"/v1/executor/jobs/{job_id}/status",
                headers=auth(keys.executor),
                json={"status": "running"},
            )
            started.raise_for_status()

        running: list[asyncio.Future[None]] = [loop.create_future() for _ in jobs]
        writers: list[asyncio.StreamWriter] = []

        async def subscribe(job_id: str, ready: asyncio.Future[None]) -> None:
            reader, writer = await open_stream(b.url, f"/v1/jobs/{job_id}/events", keys.buyer)
            writers.append(writer)
            async for event in read_events(reader):
                if event.kind == "running" and not ready.done():
                    ready.set_result(None)
                elif event.kind == "progress":
                    progress = int(json.loads(event.data)["data"]["progress"])
                    future = arrival(job_id, progress)
                    if not future.done():
                        future.set_result(event.arrived)

        readers = [
            asyncio.create_task(subscribe(job_id, ready))
            for job_id, ready in zip(jobs, running, strict=True)
        ]
        sse, long_poll = Latencies(), Latencies()
        try:
            await asyncio.wait_for(asyncio.gather(*running), timeout=30)
            await asyncio.sleep(0.2)
            last_report = dict.fromkeys(jobs, 0.0)
            for number in range(samples):
                job_id = jobs[number % job_count]
                progress = number // job_count + 1
                await asyncio.sleep(
                    max(last_report[job_id] + PROGRESS_SPACING_SECONDS - time.perf_counter(), 0)
                )

                async def poll(job_id: str = job_id) -> tuple[float, int]:
                    response = await buyer_b.get(f"/v1/jobs/{job_id}", params={"wait": 30})
                    arrived = time.perf_counter()
                    response.raise_for_status()
                    return arrived, int(response.json()["progress"])

                polling = asyncio.create_task(poll())
                await asyncio.sleep(LONG_POLL_SETTLE_SECONDS)  # B holds the poll by now
                sent = time.perf_counter()
                reported = await on_a.post(
                    f"/v1/executor/jobs/{job_id}/status",
                    headers=auth(keys.executor),
                    json={"status": "running", "progress": progress},
                )
                answered = time.perf_counter()
                reported.raise_for_status()
                last_report[job_id] = sent
                sse_at = await asyncio.wait_for(
                    asyncio.shield(arrival(job_id, progress)), timeout=10
                )
                poll_at, seen = await asyncio.wait_for(polling, timeout=40)
                if seen != progress:
                    raise RuntimeError(f"long-poll saw progress {seen}, expected {progress}")
                sse.add(sse_at, sent, answered)
                long_poll.add(poll_at, sent, answered)
        finally:
            for task in readers:
                task.cancel()
            for writer in writers:
                writer.close()
    return sse, long_poll


# --- 2. many subscribers on one process -----------------------------------------------


@dataclass(frozen=True)
class Footprint:
    """The server's RSS (MiB) and threads, and the database's client connections."""

    rss_mib: float
    threads: int
    connections: int


def footprint(pid: int, admin_url: str, database: str) -> Footprint:
    import psycopg

    rss_kib, threads = 0, 0
    for process in process_tree(pid):
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{process}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    rss_kib += int(line.split()[1])
                elif line.startswith("Threads:"):
                    threads += int(line.split()[1])
    with psycopg.connect(admin_url, autocommit=True) as connection:
        row = connection.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = %s", (database,)
        ).fetchone()
    return Footprint(rss_kib / 1024, threads, int(row[0]) if row else 0)


async def healthz_latencies(url: str, count: int) -> list[float]:
    """``count`` sequential ``GET /healthz`` on one kept-alive connection; seconds."""
    seconds: list[float] = []
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        await client.get("/healthz")
        for _ in range(count):
            started = time.perf_counter()
            (await client.get("/healthz")).raise_for_status()
            seconds.append(time.perf_counter() - started)
            await asyncio.sleep(0.005)
    return seconds


async def measure_subscribers(
    api: ApiServer, keys: Keys, admin_url: str, database: str, subscribers: int
) -> list[list[str]]:
    """Rows of the subscribers table."""
    probes = 100 if subscribers <= 100 else 300
    async with httpx.AsyncClient(base_url=api.url, timeout=60) as client:
        jobs = await create_jobs(client, keys.buyer, subscribers)
        await asyncio.sleep(1.0)
        before = await asyncio.to_thread(footprint, api.pid, admin_url, database)
        health_before = await healthz_latencies(api.url, probes)

        connected = 0
        everyone = asyncio.Event()
        ended: list[float] = []
        writers: list[asyncio.StreamWriter] = []

        async def subscribe(job_id: str) -> None:
            nonlocal connected
            reader, writer = await open_stream(api.url, f"/v1/jobs/{job_id}/events", keys.buyer)
            writers.append(writer)
            async for event in read_events(reader):
                if event.kind == "created":
                    connected += 1
                    if connected == subscribers:
                        everyone.set()
                elif event.kind == "canceled":
                    ended.append(event.arrived)

        started = time.perf_counter()
        tasks: list[asyncio.Task[None]] = []
        for offset in range(0, subscribers, 100):  # not all in one burst: the listen backlog
            tasks += [asyncio.create_task(subscribe(job)) for job in jobs[offset : offset + 100]]
            await asyncio.sleep(0.05)
        peak = before
        try:
            await asyncio.wait_for(everyone.wait(), timeout=120)
            ramp = time.perf_counter() - started
            await asyncio.sleep(1.0)
            during = await asyncio.to_thread(footprint, api.pid, admin_url, database)
            health_during = await healthz_latencies(api.url, probes)
            after_probes = await asyncio.to_thread(footprint, api.pid, admin_url, database)
            peak = Footprint(
                max(during.rss_mib, after_probes.rss_mib),
                max(during.threads, after_probes.threads),
                max(during.connections, after_probes.connections),
            )

            gate = asyncio.Semaphore(16)

            async def cancel(job_id: str) -> None:
                async with gate:
                    response = await client.post(
                        f"/v1/jobs/{job_id}/cancel", headers=auth(keys.buyer)
                    )
                    response.raise_for_status()

            cancel_started = time.perf_counter()
            await asyncio.gather(*(cancel(job) for job in jobs))
            cancels_done = time.perf_counter()
            await asyncio.wait(tasks, timeout=60)
            last_end = max(ended, default=float("nan"))
        finally:
            for task in tasks:
                task.cancel()
            for writer in writers:
                writer.close()

    def health(seconds: Sequence[float]) -> str:
        return f"{ms(percentile(seconds, 0.5))} / {ms(percentile(seconds, 0.99))}"

    return [
        ["SSE streams open", "0", f"{connected}/{subscribers} (all open in {ramp:.1f} s)"],
        ["RSS, MiB", f"{before.rss_mib:.0f}", f"{peak.rss_mib:.0f}"],
        [
            "RSS per stream, KiB",
            "—",
            f"{(peak.rss_mib - before.rss_mib) * 1024 / max(subscribers, 1):.0f}",
        ],
        ["threads", str(before.threads), str(peak.threads)],
        ["Postgres connections", str(before.connections), str(peak.connections)],
        ["/healthz p50 / p99 ms", health(health_before), health(health_during)],
        [
            "streams ended with `canceled` after canceling every job",
            "—",
            f"{len(ended)}/{subscribers}; cancels took {cancels_done - cancel_started:.1f} s, "
            f"last stream ended {last_end - cancel_started:.1f} s after the first cancel",
        ],
    ]


# --- main -----------------------------------------------------------------------------


def raise_open_files(needed: int) -> None:
    """Raise the soft file-descriptor limit (inherited by the servers) to cover ``needed``."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        target = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, to catch breakage")
    parser.add_argument("--samples", type=int, help="progress reports timed (default 300)")
    parser.add_argument("--subscribers", type=int, help="SSE streams held (default 1000)")
    parser.add_argument("--no-record", action="store_true", help="do not append to RESULTS.md")
    args = parser.parse_args()
    samples = args.samples or (20 if args.quick else 300)
    subscribers = args.subscribers or (100 if args.quick else 1000)
    raise_open_files(2 * subscribers + 1024)
    admin_url = require_env("AGNT_TEST_POSTGRES_URL")
    load_at_start = ", ".join(f"{value:.1f}" for value in os.getloadavg())

    with (
        tempfile.TemporaryDirectory(prefix="agnt-bench-events-") as tmp,
        postgres_database("events") as url,
    ):
        work = Path(tmp)
        deployment = Deployment(work, url, (work / "objects").as_uri(), extra_env=dict(ENV))
        keys = deployment.prepare()
        step("database migrated, keys created")
        first, second = ApiServer(deployment, work / "api-a"), ApiServer(deployment, work / "api-b")
        try:
            with ThreadPoolExecutor(2) as pool:  # both start at once: startup is most of --quick
                list(pool.map(ApiServer.start, (first, second)))
            publish_agent(first.url, keys, AGENT)
            step(f"replicas up; timing {samples} progress reports")
            sse, long_poll = asyncio.run(measure_latency(first, second, keys, samples))
            second.stop()  # only replica A's threads and connections count from here
            step(f"replica B stopped; {subscribers} subscribers on A")
            crowd_rows = asyncio.run(
                measure_subscribers(first, keys, admin_url, url.rsplit("/", 1)[1], subscribers)
            )
        finally:
            first.stop()
            second.stop()

    latency_table = markdown_table(
        [
            "path (report on A, read on B)",
            "samples",
            "p50 ms",
            "p95 ms",
            "p99 ms",
            "max ms",
            "from send p50 / p99 ms",
        ],
        [
            sse.row("SSE `GET /v1/jobs/{id}/events`"),
            long_poll.row("long-poll `GET /v1/jobs/{id}?wait=30`"),
        ],
    )
    met = percentile(sse.from_answer, 0.99) * 1000 <= TARGET_P99_MS
    crowd_table = markdown_table(
        ["one API process, Postgres", "before", f"{subscribers} SSE subscribers connected"],
        crowd_rows,
    )
    body = (
        f"{latency_table}\n\nTarget SSE p99 ≤ {TARGET_P99_MS:.0f} ms on Postgres: "
        f"{'met' if met else 'NOT met'}. Latency = subscriber on B has the progress event − "
        "the report's answer on A (last column: − the report sent); client clock, loopback, "
        "the wake-up crosses processes through Postgres LISTEN/NOTIFY. SSE read with a raw "
        "asyncio client, long-poll with httpx.\n\n"
        f"{crowd_table}\n\nThreads and RSS summed over the server's process tree "
        "(/proc/<pid>/status); connections = `pg_stat_activity` rows of the bench database. "
        "/healthz = sequential requests on one connection. Machine load average when the "
        f"bench started: {load_at_start} (the header line has it at the end; 2 shared cores)."
    )
    report("Job events (SSE)", body, record=not args.no_record, quick=args.quick)


if __name__ == "__main__":
    main()
