"""Input files on S3 storage (the real S3-compatible server): reads redirect to presigned
URLs, an oversize stream leaves no object, and the expiry sweep deletes objects."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from agnt_api.app import create_app
from agnt_api.services.input_files import sweep_expired_inputs
from agnt_api.settings import Settings
from agnt_models import Role

from .conftest import Api

pytestmark = pytest.mark.s3


def bucket_keys(s3_client: Any, bucket: str) -> list[str]:
    """Every object key in ``bucket``."""
    listed = s3_client.list_objects_v2(Bucket=bucket)
    return [item["Key"] for item in listed.get("Contents", [])]


@pytest.fixture
async def s3_api(
    migrated_url: str, tmp_path: Path, s3_endpoint: str, s3_bucket: str
) -> AsyncIterator[Api]:
    """The app over ASGI on S3 storage, with a buyer, an executor and agent ``reader``."""
    settings = Settings(
        data_dir=tmp_path / "data",
        database_url=migrated_url,
        storage_url=f"s3://{s3_bucket}/objects",
        s3_endpoint_url=s3_endpoint,
        max_input_bytes=6 * 1024 * 1024,
        input_file_ttl_seconds=1,
    )
    app = create_app(settings)
    client = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver", timeout=60
    )
    api = Api(app, client, app.state.runtime)
    api.make_key("buyer", Role.BUYER)
    api.make_key("executor", Role.EXECUTOR)
    await api.publish("executor", "reader")
    yield api
    await client.aclose()
    await api.runtime.close()


async def test_input_reads_redirect_to_presigned_s3_urls(
    s3_api: Api, s3_endpoint: str, s3_bucket: str
) -> None:
    data = b"s3 input " * 1000
    ordered = await s3_api.client.post(
        "/v1/jobs",
        headers=s3_api.auth("buyer"),
        files=[
            (
                "order",
                (None, json.dumps({"agent_id": "reader", "prompt": "x"}), "application/json"),
            ),
            ("files", ("in.txt", data, "text/plain")),
        ],
    )
    assert ordered.status_code == 201, ordered.text
    job_id = ordered.json()["id"]
    got = await s3_api.client.get(f"/v1/jobs/{job_id}/inputs/in.txt", headers=s3_api.auth("buyer"))
    assert got.status_code == 307
    location = got.headers["location"]
    assert location.startswith(f"{s3_endpoint}/{s3_bucket}/objects/inputs/")
    async with httpx.AsyncClient() as plain:  # no API key: the URL is its own credential
        fetched = await plain.get(location)
    assert fetched.content == data
    listed = await s3_api.client.get(f"/v1/jobs/{job_id}/inputs", headers=s3_api.auth("buyer"))
    assert listed.json()["files"][0]["download_url"].startswith(s3_endpoint)


async def test_oversize_stream_on_s3_leaves_no_object_and_sweep_deletes_objects(
    s3_api: Api, s3_client: Any, s3_bucket: str
) -> None:
    boundary = "s3b0undary"

    async def body() -> Any:  # chunked: past the multipart threshold, then past the limit
        yield (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
            'filename="big.bin"\r\nContent-Type: application/octet-stream\r\n\r\n'
        ).encode()
        for _ in range(7):
            yield b"z" * (1024 * 1024)
        yield f"\r\n--{boundary}--\r\n".encode()

    refused = await s3_api.client.post(
        "/v1/files",
        headers={
            **s3_api.auth("buyer"),
            "Content-Type": f"multipart/form-data; boundary={boundary}",
        },
        content=body(),
    )
    assert refused.status_code == 413
    assert refused.json()["code"] == "input_too_large"
    assert bucket_keys(s3_client, s3_bucket) == []
    uploads = s3_client.list_multipart_uploads(Bucket=s3_bucket).get("Uploads", [])
    assert uploads == []
    kept = await s3_api.client.post(
        "/v1/files", headers=s3_api.auth("buyer"), files={"file": ("a.txt", b"a", "text/plain")}
    )
    assert kept.status_code == 201
    assert len(bucket_keys(s3_client, s3_bucket)) == 1
    await anyio.sleep(1.1)
    assert await sweep_expired_inputs(s3_api.runtime) == 1
    assert bucket_keys(s3_client, s3_bucket) == []
