"""Lost answers: every executor POST's first answer is dropped, and every job still
completes exactly once.

A loopback TCP proxy (asyncio, in a thread) sits between a real ``agnt-executor`` and a
live API. It forwards each request and waits for the API's whole answer, so the API has
acted; the first time it sees a POST (same path and body), it then closes the connection
instead of relaying the answer. Claims lose their jobs' answer (adopted as orphans),
status reports and watches are retried (answered alike when repeated), completions are
retried with their ``Idempotency-Key``.
"""

from __future__ import annotations

import asyncio
import hashlib
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from agnt_client import Client
from agnt_models import JobStatus

pytestmark = pytest.mark.slow

JOBS = 6


class LossyProxy:
    """Forwards HTTP/1.1 to ``upstream``; drops the first answer of each distinct POST."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.dropped: Counter[str] = Counter()
        self._seen: set[tuple[str, bytes]] = set()
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self.port = 0

    def start(self) -> None:
        self._thread.start()
        assert self._ready.wait(10)

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(asyncio.start_server(self._client, "127.0.0.1", 0))
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        self._loop.run_forever()
        server.close()
        tasks = asyncio.all_tasks(self._loop)
        for task in tasks:
            task.cancel()
        self._loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
        self._loop.close()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        try:
            while True:
                request = await _read_message(reader)
                if request is None:
                    return
                if upstream is None:
                    upstream = await asyncio.open_connection("127.0.0.1", self.upstream_port)
                upstream[1].write(request)
                await upstream[1].drain()
                answer = await _read_message(upstream[0])
                if answer is None:
                    return
                if self._first_post(request):
                    # The API acted; its answer is lost on the way back.
                    return
                writer.write(answer)
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            return
        finally:
            writer.close()
            if upstream is not None:
                upstream[1].close()

    def _first_post(self, request: bytes) -> bool:
        head, _, body = request.partition(b"\r\n\r\n")
        method, path = head.split(b" ", 2)[:2]
        if method != b"POST":
            return False
        key = (path.decode(), hashlib.sha256(body).digest())
        if key in self._seen:
            return False
        self._seen.add(key)
        self.dropped[path.decode().rsplit("/", 1)[-1]] += 1
        return True


async def _read_message(stream: asyncio.StreamReader) -> bytes | None:
    """One HTTP/1.1 message (head and body: Content-Length or chunked); None at EOF."""
    try:
        head = await stream.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        return None
    headers = {
        name.strip().lower(): value.strip()
        for name, _, value in (line.partition(b":") for line in head.split(b"\r\n")[1:] if line)
    }
    if headers.get(b"transfer-encoding", b"").lower() == b"chunked":
        body = b""
        while True:
            size_line = await stream.readuntil(b"\r\n")
            chunk = await stream.readexactly(int(size_line.split(b";")[0], 16) + 2)
            body += size_line + chunk
            if size_line.strip() == b"0":
                return head + body
    return head + await stream.readexactly(int(headers.get(b"content-length", b"0")))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def lossy_proxy(
    request: pytest.FixtureRequest, live_api_factory: Callable[..., Any]
) -> Iterator[tuple[Any, LossyProxy]]:
    """A live API (6 s leases: orphans confirmed after 2 s) behind a ``LossyProxy``, on
    SQLite or Postgres."""
    database_url = None
    if request.param == "postgres":
        database_url = request.getfixturevalue("make_postgres_database")()
    api = live_api_factory(
        database_url=database_url,
        env={"AGNT_LEASE_SECONDS": "6", "AGNT_REAPER_INTERVAL_SECONDS": "0.5"},
    )
    proxy = LossyProxy(api.port)
    proxy.start()
    yield api, proxy
    proxy.stop()


def test_every_job_completes_exactly_once_when_first_answers_are_lost(
    lossy_proxy: tuple[Any, LossyProxy],
    start_executor: Callable[..., Any],
    write_script: Callable[[str, str], Path],
    write_manifest: Callable[[str], Path],
    tmp_path: Path,
) -> None:
    api, proxy = lossy_proxy
    runs_log = tmp_path / "runs.log"
    script = write_script(
        "once",
        "import os\n"
        f"with open({str(runs_log)!r}, 'a') as log:\n"
        "    log.write(os.environ['AGNT_JOB_ID'] + '\\n')\n"
        "out = os.path.join(os.environ['AGNT_OUTPUT_DIR'], 'out.txt')\n"
        "open(out, 'w').write(os.environ['AGNT_JOB_ID'])\n",
    )
    manifest = write_manifest(
        "[executor]\nconcurrency = 3\nretry_seconds = 60\n"
        '[[agents]]\nid = "once"\nname = "Runs once"\n'
        f'handler = {{ type = "command", argv = ["{script}"] }}\n'
    )
    with Client(api.url, api.buyer_key) as buyer:
        # Publish first (PUT: never dropped), then order, so the first claim takes jobs.
        publisher = start_executor(
            "publish",
            str(manifest),
            env={"AGNT_API_URL": api.url, "AGNT_API_KEY": api.executor_key},
        )
        assert publisher.wait(timeout=60) == 0
        jobs = [buyer.create_job("once", f"job {n}") for n in range(JOBS)]
        executor = start_executor(
            "run",
            str(manifest),
            "--no-publish",
            env={
                "AGNT_API_URL": f"http://127.0.0.1:{proxy.port}",
                "AGNT_API_KEY": api.executor_key,
            },
        )
        done = [buyer.wait_for_job(job.id, timeout=90) for job in jobs]
        assert [job.status for job in done] == [JobStatus.COMPLETED] * JOBS, [
            (job.status, job.decision_reason) for job in done
        ]
        for job in jobs:
            files = {f.name: f for f in buyer.get_result(job.id).files}
            assert files["out.txt"].size == len(str(job.id))
    runs = Counter(runs_log.read_text().split())
    assert runs == Counter({str(job.id): 1 for job in jobs})
    # Each kind of executor POST lost an answer, and none cost a job.
    assert proxy.dropped["claims"] >= 1
    assert proxy.dropped["status"] >= JOBS
    assert proxy.dropped["complete"] == JOBS
    assert proxy.dropped["watch"] >= 1
    assert executor.events("job_adopted")
    assert executor.events("job_gone") == []
    assert executor.events("job_run_crashed") == []
