"""The API on S3 storage, as a live ``agnt-server serve`` process against the real S3 server:
results download by presigned URL, a cut upload leaves nothing behind, and ``/readyz``
answers 503 while the bucket or the endpoint is gone.
"""

from __future__ import annotations

import hashlib
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from agnt_client import Client, ConflictError
from agnt_models import AgentPublish

pytestmark = pytest.mark.s3

MIB = 1024 * 1024


class TcpRelay:
    """Forwards a loopback port to the S3 server; ``cut()`` is the network failing.

    The fault is outside the project (the network), so a relay stands in for it; the
    API and the S3 server on either side are the real ones.
    """

    def __init__(self, target: tuple[str, int], port: int = 0) -> None:
        self.target = target
        self._sockets: list[socket.socket] = []
        self._stopped = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", port))
        self._listener.settimeout(0.1)
        self.port = int(self._listener.getsockname()[1])
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self._stopped.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            client.settimeout(None)
            upstream = socket.create_connection(self.target)
            self._sockets += [client, upstream]
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
            sink.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def cut(self) -> None:
        """Stop listening and drop every relayed connection."""
        self._stopped.set()
        self._thread.join()
        self._listener.close()
        for sock in self._sockets:
            sock.close()


@pytest.fixture
def start_s3_api(
    live_api_factory: Callable[..., Any], s3_endpoint: str, s3_bucket: str
) -> Callable[..., Any]:
    """Factory: a live API storing results in this test's bucket under ``results/``."""

    def start(endpoint: str = s3_endpoint, **env: str) -> Any:
        aws = {
            k: os.environ.get(k, "testing") for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
        }
        return live_api_factory(
            storage_url=f"s3://{s3_bucket}/results",
            env={"AGNT_S3_ENDPOINT_URL": endpoint, "AWS_DEFAULT_REGION": "us-east-1", **aws, **env},
        )

    return start


@pytest.fixture
def running_job(tmp_path: Path) -> Iterator[Callable[[Any], tuple[Client, Client, Any]]]:
    """Factory: buyer and executor clients for a live API and a job of theirs, running."""
    clients: list[Client] = []

    def make(api: Any) -> tuple[Client, Client, Any]:
        buyer = Client(api.url, api.buyer_key)
        executor = Client(api.url, api.executor_key)
        clients.extend([buyer, executor])
        agent_id = f"s3-{uuid.uuid4().hex[:8]}"
        executor.publish_agent(agent_id, AgentPublish(name="Writes to S3"))
        job = buyer.create_job(agent_id, "store my files")
        executor.report_status(job.id, "accepted")
        executor.report_status(job.id, "running")
        return buyer, executor, job

    yield make
    for client in clients:
        client.close()


def test_result_download_urls_are_short_lived_presigned_s3_urls(
    start_s3_api: Callable[..., Any],
    running_job: Callable[[Any], tuple[Client, Client, Any]],
    s3_endpoint: str,
    s3_bucket: str,
    s3_client: Any,
    tmp_path: Path,
) -> None:
    api = start_s3_api(AGNT_DOWNLOAD_URL_SECONDS="120")
    buyer, executor, job = running_job(api)
    contents = {"notes.txt": b"small enough for one PUT\n", "big.bin": os.urandom(9 * MIB)}
    for name, data in contents.items():
        (tmp_path / name).write_bytes(data)
    executor.complete_job(job.id, [tmp_path / name for name in contents])

    result = buyer.get_result(job.id)
    assert {f.name for f in result.files} == set(contents)
    for file in result.files:
        url = file.download_url
        assert url.startswith(f"{s3_endpoint}/{s3_bucket}/results/jobs/{job.id}/")
        assert parse_qs(urlsplit(url).query)["X-Amz-Expires"] == ["120"]
        response = httpx.get(url)  # no API key: the signature is the authorization
        assert response.status_code == 200
        assert hashlib.sha256(response.content).hexdigest() == file.sha256
        assert response.content == contents[file.name]
        assert f'filename="{file.name}"' in response.headers["content-disposition"]
    big_key = next(f.download_url for f in result.files if f.name == "big.bin")
    head = s3_client.head_object(Bucket=s3_bucket, Key=urlsplit(big_key).path.split("/", 2)[2])
    assert head["ETag"].strip('"').endswith("-2")  # went up as a multipart upload (8 + 1 MiB)


def cut_upload(api: Any, job_id: Any, *, send_bytes: int, on_sent: Callable[[], None]) -> None:
    """POST a complete request that promises more body than it sends, then drop the socket."""
    boundary = uuid.uuid4().hex
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="cut.bin"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    declared = len(head) + 64 * MIB
    request = (
        f"POST /v1/executor/jobs/{job_id}/complete HTTP/1.1\r\n"
        f"Host: 127.0.0.1:{api.port}\r\nAuthorization: Bearer {api.executor_key}\r\n"
        f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
        f"Content-Length: {declared}\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", api.port)) as sock:
        sock.sendall(request + head)
        chunk = os.urandom(MIB)
        for _ in range(send_bytes // MIB):
            sock.sendall(chunk)
        on_sent()


def wait_until(condition: Callable[[], bool], timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return condition()


def test_upload_cut_midway_leaves_no_object_and_no_result(
    start_s3_api: Callable[..., Any],
    running_job: Callable[[Any], tuple[Client, Client, Any]],
    s3_bucket: str,
    s3_client: Any,
    tmp_path: Path,
) -> None:
    api = start_s3_api()
    buyer, executor, job = running_job(api)

    def uploads() -> list[Any]:
        return list(s3_client.list_multipart_uploads(Bucket=s3_bucket).get("Uploads", []))

    def multipart_started() -> None:
        # The cut must hit an upload in flight, or it would prove nothing about aborting.
        assert wait_until(lambda: len(uploads()) == 1), "no multipart upload began"

    cut_upload(api, job.id, send_bytes=20 * MIB, on_sent=multipart_started)

    assert wait_until(lambda: uploads() == []), "the multipart upload was not aborted"
    assert s3_client.list_objects_v2(Bucket=s3_bucket).get("KeyCount") == 0
    assert buyer.get_job(job.id).status == "running"
    with pytest.raises(ConflictError) as raised:
        buyer.get_result(job.id)
    assert raised.value.code == "job_not_completed"
    # The executor can still deliver the result.
    (tmp_path / "out.txt").write_bytes(b"second try")
    assert executor.complete_job(job.id, [tmp_path / "out.txt"]).status == "completed"


def readyz(api: Any) -> httpx.Response:
    return httpx.get(f"{api.url}/readyz", timeout=30)


def test_readyz_is_503_while_the_bucket_is_missing(
    start_s3_api: Callable[..., Any], s3_bucket: str, s3_client: Any
) -> None:
    api = start_s3_api()
    assert readyz(api).status_code == 200
    s3_client.delete_bucket(Bucket=s3_bucket)
    response = readyz(api)
    assert response.status_code == 503
    assert response.json()["checks"] == {"database": "ok", "storage": "unreachable"}
    assert httpx.get(f"{api.url}/healthz").status_code == 200  # alive, just not ready
    s3_client.create_bucket(Bucket=s3_bucket)
    assert readyz(api).status_code == 200


def test_readyz_is_503_while_the_s3_endpoint_is_unreachable(
    start_s3_api: Callable[..., Any], s3_endpoint: str
) -> None:
    target = urlsplit(s3_endpoint)
    relay = TcpRelay((str(target.hostname), int(target.port or 80)))
    api = start_s3_api(endpoint=f"http://127.0.0.1:{relay.port}")
    assert readyz(api).status_code == 200
    relay.cut()
    started = time.monotonic()
    response = readyz(api)
    assert response.status_code == 503
    assert response.json()["checks"]["storage"] == "unreachable"
    assert time.monotonic() - started < 10, "a readiness probe must answer quickly"
    relay = TcpRelay(relay.target, port=relay.port)
    try:
        assert readyz(api).status_code == 200
    finally:
        relay.cut()
