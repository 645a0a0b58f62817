"""What needs real sockets and real files: corrupted storage, a connection killed halfway
through a download, long-polls woken by another process's change."""

from __future__ import annotations

import hashlib
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agnt_client import APIConnectionError, ChecksumMismatchError, Client, WaitTimeoutError
from agnt_models import AgentPublish, JobStatus

live_only = pytest.mark.parametrize("api", ["live"], indirect=True)


def completed_job(
    executor: Any, buyer: Any, agent_id: str, files: dict[str, bytes], workdir: Path
) -> str:
    """Order a job and complete it with ``files``; its id."""
    executor.publish_agent(agent_id, AgentPublish(name=agent_id))
    job = buyer.create_job(agent_id, "make files")
    executor.report_status(job.id, "accepted")
    executor.report_status(job.id, "running")
    workdir.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, body in files.items():
        (workdir / name).write_bytes(body)
        paths.append(workdir / name)
    executor.complete_job(job.id, paths)
    return str(job.id)


def stored_object(data_dir: Path, body: bytes) -> Path:
    """The file under the API's storage that holds ``body``."""
    for path in (data_dir / "objects").rglob("*"):
        if path.is_file() and path.stat().st_size == len(body) and path.read_bytes() == body:
            return path
    raise AssertionError("stored object not found")


def test_corrupted_stored_file_raises_checksum_mismatch_and_leaves_no_file(
    api: Any, connect: Any, agent_id: str, tmp_path: Path
) -> None:
    good, body = b"good file\n", bytes(range(256)) * 800
    buyer = connect("buyer")
    job_id = completed_job(
        connect("executor"),
        buyer,
        agent_id,
        {"good.txt": good, "report.bin": body},
        tmp_path / "work",
    )
    stored = stored_object(api.data_dir, body)
    corrupted = bytearray(body)
    corrupted[1000] ^= 0xFF
    stored.write_bytes(bytes(corrupted))

    dest = tmp_path / "dest"
    with pytest.raises(ChecksumMismatchError) as caught:
        buyer.download_result(job_id, dest)
    assert caught.value.name == "report.bin"
    assert caught.value.expected_sha256 == hashlib.sha256(body).hexdigest()
    assert caught.value.actual_sha256 == hashlib.sha256(corrupted).hexdigest()
    assert list(dest.iterdir()) == []


class CuttingProxy:
    """A loopback proxy in front of the API that kills file downloads halfway through.

    One request per connection (it forces ``Connection: close``). The first ``cuts`` file
    downloads get their headers and half their body, then the connection is closed.
    """

    def __init__(self, upstream_port: int, cuts: int, name: str) -> None:
        self.upstream_port = upstream_port
        self.cuts = cuts
        self.name = name
        self.cut_paths: list[str] = []
        self.ranges: list[str | None] = []
        self.server = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.server.getsockname()[1]}"
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            threading.Thread(target=self._relay, args=(conn,), daemon=True).start()

    def _relay(self, conn: socket.socket) -> None:
        with conn, socket.create_connection(("127.0.0.1", self.upstream_port)) as upstream:
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                data += chunk
            head, rest = data.split(b"\r\n\r\n", 1)
            lines = [ln for ln in head.split(b"\r\n") if not ln.lower().startswith(b"connection:")]
            path = lines[0].split()[1].decode()
            ranges = [
                ln.split(b":", 1)[1].strip().decode()
                for ln in lines
                if ln.lower().startswith(b"range:")
            ]
            upstream.sendall(b"\r\n".join([*lines, b"Connection: close"]) + b"\r\n\r\n" + rest)
            with self._lock:
                if path.endswith(f"/files/{self.name}"):
                    self.ranges.append(ranges[0] if ranges else None)
                cut = path.endswith(f"/files/{self.name}") and self.cuts > 0
                if cut:
                    self.cuts -= 1
                    self.cut_paths.append(path)
            answer = b""
            while True:
                chunk = upstream.recv(65536)
                if not chunk:
                    break
                if not cut:
                    conn.sendall(chunk)
                    continue
                answer += chunk
                if b"\r\n\r\n" in answer:
                    response_head, body = answer.split(b"\r\n\r\n", 1)
                    length = next(
                        int(ln.split(b":", 1)[1])
                        for ln in response_head.split(b"\r\n")
                        if ln.lower().startswith(b"content-length:")
                    )
                    if len(body) >= length // 2:
                        conn.sendall(response_head + b"\r\n\r\n" + body[: length // 2])
                        conn.shutdown(socket.SHUT_RDWR)
                        return

    def close(self) -> None:
        self.server.close()


@pytest.fixture
def make_proxy(live_server: Any) -> Iterator[Any]:
    """Factory: ``make_proxy(cuts, name)`` -> a ``CuttingProxy`` in front of the live API."""
    proxies: list[CuttingProxy] = []

    def make(cuts: int, name: str) -> CuttingProxy:
        proxy = CuttingProxy(int(live_server.url.rsplit(":", 1)[1]), cuts, name)
        proxies.append(proxy)
        return proxy

    yield make
    for proxy in proxies:
        proxy.close()


@live_only
def test_killed_connection_mid_download_leaves_no_file(
    connect: Any, make_proxy: Any, agent_id: str, tmp_path: Path
) -> None:
    body = bytes(range(256)) * 4096  # 1 MiB
    job_id = completed_job(
        connect("executor"),
        connect("buyer"),
        agent_id,
        {"a.txt": b"a", "big.bin": body},
        tmp_path / "work",
    )
    proxy = make_proxy(cuts=99, name="big.bin")
    buyer = connect("buyer", base_url=proxy.url, max_retries=1)
    dest = tmp_path / "dest"
    with pytest.raises(APIConnectionError):
        buyer.download_result(job_id, dest)
    assert proxy.cut_paths == [f"/v1/jobs/{job_id}/files/big.bin"] * 2
    # a.txt arrived whole, but a download is all or nothing: it was not kept either
    assert list(dest.iterdir()) == []


@live_only
def test_download_killed_once_resumes_and_verifies(
    connect: Any, make_proxy: Any, agent_id: str, tmp_path: Path
) -> None:
    body = bytes(range(256)) * 4096
    job_id = completed_job(
        connect("executor"), connect("buyer"), agent_id, {"big.bin": body}, tmp_path / "work"
    )
    proxy = make_proxy(cuts=1, name="big.bin")
    buyer = connect("buyer", base_url=proxy.url, max_retries=2)
    files = buyer.download_result(job_id, tmp_path / "dest")
    assert len(proxy.cut_paths) == 1
    assert proxy.ranges == [None, f"bytes={len(body) // 2}-"]
    assert files[0].path.read_bytes() == body
    assert [p.name for p in (tmp_path / "dest").iterdir()] == ["big.bin"]


@live_only
def test_wait_for_job_follows_another_process_until_done(
    live_server: Any, connect: Any, agent_id: str, tmp_path: Path
) -> None:
    buyer = connect("buyer")
    with Client(live_server.url, live_server.keys["executor"]) as executor:
        executor.publish_agent(agent_id, AgentPublish(name=agent_id))
        job = buyer.create_job(agent_id, "slow work")
        (tmp_path / "out.txt").write_text("done")

        def work() -> None:
            executor.report_status(job.id, "accepted")
            for progress in (20, 60):
                time.sleep(0.3)
                executor.report_status(job.id, "running", progress=progress)
            time.sleep(0.3)
            executor.complete_job(job.id, [tmp_path / "out.txt"])

        worker = threading.Thread(target=work)
        worker.start()
        try:
            finished = buyer.wait_for_job(job.id, timeout=30)
        finally:
            worker.join()
    assert (finished.status, finished.progress) == (JobStatus.COMPLETED, 100)


@live_only
def test_wait_for_job_timeout_raises_with_the_last_job_seen(connect: Any, agent_id: str) -> None:
    connect("executor").publish_agent(agent_id, AgentPublish(name=agent_id))
    buyer = connect("buyer")
    job = buyer.create_job(agent_id, "nobody takes this")
    started = time.monotonic()
    with pytest.raises(WaitTimeoutError) as caught:
        buyer.wait_for_job(job.id, timeout=1.5)
    elapsed = time.monotonic() - started
    assert caught.value.job.id == job.id
    assert caught.value.job.status == JobStatus.PENDING
    assert 1.5 <= elapsed < 30  # not a whole 60 s server long-poll


@live_only
def test_claim_jobs_long_poll_returns_when_a_job_arrives(
    live_server: Any, connect: Any, agent_id: str
) -> None:
    executor = connect("executor")
    executor.publish_agent(agent_id, AgentPublish(name=agent_id))
    assert executor.claim_jobs(agent_ids=[agent_id], wait=0.2) == []
    with Client(live_server.url, live_server.keys["buyer"]) as buyer:
        ordered: list[Any] = []
        timer = threading.Timer(0.5, lambda: ordered.append(buyer.create_job(agent_id, "wake up")))
        timer.start()
        started = time.monotonic()
        try:
            claimed = executor.claim_jobs(agent_ids=[agent_id], wait=60)
        finally:
            timer.join()
    assert [(j.id, j.status) for j in claimed] == [(ordered[0].id, JobStatus.ACCEPTED)]
    assert time.monotonic() - started < 30  # woken by the order, not by the 60 s deadline


@live_only
def test_large_files_stream_through_without_being_held_in_memory(
    connect: Any, agent_id: str, tmp_path: Path
) -> None:
    import tracemalloc

    size = 32 * 1024 * 1024
    source = tmp_path / "big.bin"
    with source.open("wb") as out:
        for n in range(size // (1024 * 1024)):
            out.write(bytes([n % 256]) * (1024 * 1024))
    executor, buyer = connect("executor"), connect("buyer")
    executor.publish_agent(agent_id, AgentPublish(name=agent_id))
    job = buyer.create_job(agent_id, "big")
    executor.report_status(job.id, "accepted")
    executor.report_status(job.id, "running")

    tracemalloc.start()
    try:
        executor.complete_job(job.id, [source])
        _, upload_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        files = buyer.download_result(job.id, tmp_path / "dest")
        _, download_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert files[0].size == size
    assert files[0].sha256 == hashlib.sha256(source.read_bytes()).hexdigest()
    assert upload_peak < size // 8, upload_peak
    assert download_peak < size // 8, download_peak


@pytest.mark.parametrize(
    ("how", "database"),
    [
        ("sigterm", "sqlite"),
        ("sigkill", "sqlite"),
        pytest.param("sigterm", "postgres", marks=pytest.mark.postgres),
    ],
)
async def test_wait_for_job_rides_out_a_restart_of_the_api(
    how: str,
    database: str,
    request: pytest.FixtureRequest,
    live_api_factory: Any,
    tmp_path: Path,
) -> None:
    """Sync and async followers of one job: the API dies under their long-polls (SIGTERM
    answers them or drops them; SIGKILL drops them, then connections are refused)."""
    import asyncio
    import os
    import signal

    from agnt_client import AsyncClient

    database_url = None
    if database == "postgres":
        database_url = request.getfixturevalue("make_postgres_database")()
    live_api = live_api_factory(database_url=database_url)

    agent_id = "restart-agent"
    (tmp_path / "out.txt").write_text("done")
    with (
        Client(live_api.url, live_api.executor_key) as executor,
        Client(live_api.url, live_api.buyer_key) as buyer,
    ):
        executor.publish_agent(agent_id, AgentPublish(name=agent_id))
        job = buyer.create_job(agent_id, "outlive a restart")
        async with AsyncClient(live_api.url, live_api.buyer_key) as async_buyer:
            sync_wait = asyncio.create_task(
                asyncio.to_thread(buyer.wait_for_job, job.id, timeout=90)
            )
            async_wait = asyncio.create_task(async_buyer.wait_for_job(job.id, timeout=90))
            await asyncio.sleep(1.0)  # both long-polls in flight
            if how == "sigkill":
                os.kill(live_api.pid, signal.SIGKILL)
            live_api.stop()
            await asyncio.sleep(2.0)  # connections refused meanwhile
            assert not sync_wait.done() and not async_wait.done()
            await asyncio.to_thread(live_api.start)
            claimed = executor.claim_jobs(agent_ids=[agent_id], wait=30)
            assert [j.id for j in claimed] == [job.id]
            executor.report_status(job.id, "running")
            executor.complete_job(job.id, [tmp_path / "out.txt"])
            finished = await asyncio.wait_for(asyncio.gather(sync_wait, async_wait), 60)
    assert [(j.id, j.status) for j in finished] == [(job.id, JobStatus.COMPLETED)] * 2
