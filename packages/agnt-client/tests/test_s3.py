"""Downloads from presigned S3 URLs: the API on real S3 storage, the key kept off S3."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import httpx
import pytest

from agnt_models import AgentPublish


class RecordingTransport(httpx.BaseTransport, httpx.AsyncBaseTransport):
    """Real HTTP, sync or async, remembering every request sent."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self._sync = httpx.HTTPTransport()
        self._async = httpx.AsyncHTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self._sync.handle_request(request)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return await self._async.handle_async_request(request)

    def close(self) -> None:
        self._sync.close()

    async def aclose(self) -> None:
        await self._async.aclose()


@pytest.mark.s3
def test_download_from_presigned_s3_urls_never_sends_the_api_key(
    start_live_api: Any, s3_endpoint: str, s3_bucket: str, make_client: Any, tmp_path: Path
) -> None:
    aws = {
        name: os.environ.get(name, "testing")
        for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
    }
    api = start_live_api(
        storage_url=f"s3://{s3_bucket}/results",
        env={"AGNT_S3_ENDPOINT_URL": s3_endpoint, "AWS_DEFAULT_REGION": "us-east-1", **aws},
    )
    executor = make_client(base_url=api.url, api_key=api.keys["executor"])
    transport = RecordingTransport()
    buyer = make_client(base_url=api.url, api_key=api.keys["buyer"], transport=transport)

    executor.publish_agent("s3-agent", AgentPublish(name="S3"))
    job = buyer.create_job("s3-agent", "to the bucket")
    executor.report_status(job.id, "accepted")
    executor.report_status(job.id, "running")
    body = os.urandom(300_000)
    (tmp_path / "blob.bin").write_bytes(body)
    executor.complete_job(job.id, [tmp_path / "blob.bin"])

    files = buyer.download_result(job.id, tmp_path / "dest")
    assert files[0].path.read_bytes() == body
    assert files[0].sha256 == hashlib.sha256(body).hexdigest()
    s3 = [r for r in transport.requests if str(r.url).startswith(s3_endpoint)]
    api_calls = [r for r in transport.requests if str(r.url).startswith(api.url)]
    assert len(s3) == 1 and "X-Amz-Signature" in str(s3[0].url)
    assert "authorization" not in s3[0].headers
    assert all(r.headers["authorization"] == f"Bearer {api.keys['buyer']}" for r in api_calls)
