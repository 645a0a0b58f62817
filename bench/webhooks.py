"""Webhooks: delivery throughput to a loopback receiver, and the delay added to a job's end.

One real ``agnt-server serve`` on SQLite (and one on Postgres when
``AGNT_TEST_POSTGRES_URL`` is set), a threaded HTTP receiver on loopback answering 204.

- throughput: N orders, each with a webhook for its ``created`` event; deliveries per
  second from the first to the last arrival (queued on a replica with
  ``AGNT_WEBHOOK_WORKERS=false``, then delivered by a fresh one: orders do not pace it).
- completion: accept + running + complete of a job, with no webhook (baseline), with a
  webhook to the fast receiver, and with one to a receiver that sleeps 2 s per request.

    uv run python bench/webhooks.py [--quick] [--no-record]
"""

from __future__ import annotations

import argparse
import contextlib
import tempfile
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
from harness import (
    Deployment,
    auth,
    markdown_table,
    percentile,
    postgres_database,
    publish_agent,
    report,
    sqlite_deployment,
)

ENV = {"AGNT_WEBHOOK_ALLOW_PRIVATE": "1", "AGNT_RATE_LIMITS": "false"}


class Arrivals:
    """Monotonic arrival times of the receiver's requests."""

    def __init__(self) -> None:
        self.times: list[float] = []
        self.lock = threading.Lock()

    def add(self) -> None:
        with self.lock:
            self.times.append(time.monotonic())

    def wait_for(self, count: int, timeout: float = 300.0) -> None:
        deadline = time.monotonic() + timeout
        while len(self.times) < count and time.monotonic() < deadline:
            time.sleep(0.01)


@contextlib.contextmanager
def receiver(delay: float = 0.0) -> Iterator[tuple[str, Arrivals]]:
    """A loopback receiver answering 204 after ``delay`` seconds; its URL and arrivals."""
    arrivals = Arrivals()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", "0")))
            arrivals.add()
            if delay:
                time.sleep(delay)
            self.send_response(204)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook", arrivals
    finally:
        server.shutdown()
        server.server_close()


def order(client: httpx.Client, buyer: str, webhook: dict[str, Any] | None) -> str:
    body: dict[str, Any] = {"agent_id": "bench", "prompt": "hi"}
    if webhook is not None:
        body["webhook"] = webhook
    response = client.post("/v1/jobs", headers=auth(buyer), json=body)
    response.raise_for_status()
    return str(response.json()["id"])


def run_job(client: httpx.Client, executor: str, job_id: str) -> float:
    """Seconds for accepted + running + complete."""
    started = time.perf_counter()
    for status in ("accepted", "running"):
        client.post(
            f"/v1/executor/jobs/{job_id}/status", headers=auth(executor), json={"status": status}
        ).raise_for_status()
    client.post(
        f"/v1/executor/jobs/{job_id}/complete",
        headers=auth(executor),
        files=[("files", ("out.txt", b"x"))],
    ).raise_for_status()
    return time.perf_counter() - started


def measure(deployment: Deployment, label: str, jobs: int) -> list[list[object]]:
    keys = deployment.prepare()
    rows: list[list[object]] = []
    with receiver() as (url, arrivals):
        # Queue every delivery on a replica that delivers nothing, then time one that does.
        deployment.extra_env["AGNT_WEBHOOK_WORKERS"] = "false"
        with (
            deployment.server("queue") as api,
            httpx.Client(base_url=api.url, timeout=60) as client,
        ):
            publish_agent(api.url, keys, "bench")
            for _ in range(jobs):
                order(client, keys.buyer, {"url": url, "events": ["created"]})
        deployment.extra_env["AGNT_WEBHOOK_WORKERS"] = "true"
        with deployment.server() as api, httpx.Client(base_url=api.url, timeout=60) as client:
            arrivals.wait_for(jobs)
            span = arrivals.times[-1] - arrivals.times[0] if len(arrivals.times) > 1 else 0
            rate = (len(arrivals.times) - 1) / span if span else float("nan")
            rows.append(
                [label, "throughput", f"{len(arrivals.times)}/{jobs} delivered", f"{rate:.0f}/s"]
            )
            cases: list[tuple[str, dict[str, Any] | None]] = [
                ("no webhook", None),
                ("fast receiver", {"url": url}),
            ]
            with receiver(delay=2.0) as (slow_url, _):
                cases.append(("receiver sleeping 2 s", {"url": slow_url}))
                for name, webhook in cases:
                    seconds = [
                        run_job(client, keys.executor, order(client, keys.buyer, webhook))
                        for _ in range(max(jobs // 10, 10))
                    ]
                    rows.append(
                        [
                            label,
                            f"completion, {name}",
                            f"p50 {percentile(seconds, 0.5) * 1000:.1f} ms",
                            f"p99 {percentile(seconds, 0.99) * 1000:.1f} ms",
                        ]
                    )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args()
    jobs = 100 if args.quick else 500
    rows: list[list[object]] = []
    with tempfile.TemporaryDirectory() as workdir:
        rows += measure(sqlite_deployment(Path(workdir) / "sqlite", ENV), "sqlite", jobs)
        with contextlib.suppress(RuntimeError), postgres_database("webhooks") as url:
            deployment = Deployment(
                workdir=Path(workdir) / "pg",
                database_url=url,
                storage_url=(Path(workdir) / "pg-objects").as_uri(),
                extra_env=ENV,
            )
            rows += measure(deployment, "postgres", jobs)
    body = markdown_table(["database", "what", "count", "result"], rows)
    report("Webhooks", body, record=not args.no_record, quick=args.quick)


if __name__ == "__main__":
    main()
