"""One behaviour suite for every ``Storage`` backend: files on disk and a real S3 server."""

from __future__ import annotations

import asyncio
import hashlib
import random
import socket
import time
import tracemalloc
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from agnt_api.storage.base import ObjectExists, ObjectNotFound, Storage, StorageError
from agnt_api.storage.files import FileStorage
from agnt_api.storage.s3 import MIB, S3Storage

PART_SIZE = 5 * MIB  # S3's minimum part size: keeps the multipart tests small


def payload(size: int, seed: int = 0) -> bytes:
    """Incompressible bytes, the same for the same seed."""
    return random.Random(seed).randbytes(size)


async def chunked(data: bytes, chunk_size: int = 256 * 1024) -> AsyncIterator[bytes]:
    """Feed ``data`` the way an upload arrives: in pieces, with the loop free in between."""
    for offset in range(0, len(data), chunk_size):
        yield data[offset : offset + chunk_size]
        await asyncio.sleep(0)


async def read_all(storage: Storage, key: str, start: int = 0, end: int | None = None) -> bytes:
    """Every byte ``read`` streams for the range."""
    return b"".join([chunk async for chunk in storage.read(key, start=start, end=end)])


async def plain_get(url: str) -> httpx.Response:
    """A GET with no credentials at all, as a browser following a download link sends it."""
    async with httpx.AsyncClient() as client:
        return await client.get(url)


def free_port() -> int:
    """A loopback port nothing listens on (bound then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def make_s3_storage(s3_endpoint: str, s3_bucket: str) -> Iterator[Callable[..., S3Storage]]:
    """Factory for S3Storage on this test's bucket (5 MiB parts); closes what it made."""
    made: list[S3Storage] = []

    def make(**options: Any) -> S3Storage:
        options.setdefault("endpoint_url", s3_endpoint)
        options.setdefault("part_size", PART_SIZE)
        storage = S3Storage(
            options.pop("bucket", s3_bucket), options.pop("prefix", "results"), **options
        )
        made.append(storage)
        return storage

    yield make
    for storage in made:
        asyncio.run(storage.close())


@pytest.fixture(params=["file", "s3"])
def backend(request: pytest.FixtureRequest) -> str:
    """Which backend this run of a test uses."""
    return str(request.param)


@pytest.fixture
async def storage(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[Storage]:
    """The backend under test, empty."""
    made: Storage
    if backend == "file":
        made = FileStorage(tmp_path / "files")
    else:
        made = request.getfixturevalue("make_s3_storage")()
    yield made
    await made.close()


async def test_saved_object_reads_back_with_its_size_and_sha256(storage: Storage) -> None:
    data = payload(300_000)
    stored = await storage.save(
        "jobs/j1/out.bin", chunked(data), content_type="application/octet-stream"
    )
    assert stored.key == "jobs/j1/out.bin"
    assert stored.size == len(data)
    assert stored.sha256 == hashlib.sha256(data).hexdigest()
    assert await storage.size("jobs/j1/out.bin") == len(data)
    assert await read_all(storage, "jobs/j1/out.bin") == data


async def test_empty_file_round_trips(storage: Storage) -> None:
    stored = await storage.save("jobs/j1/empty.txt", chunked(b""), content_type="text/plain")
    assert (stored.size, stored.sha256) == (0, hashlib.sha256(b"").hexdigest())
    assert await storage.size("jobs/j1/empty.txt") == 0
    assert await read_all(storage, "jobs/j1/empty.txt") == b""


async def test_file_larger_than_multipart_threshold_round_trips(storage: Storage) -> None:
    data = payload(2 * PART_SIZE + 12_345, seed=1)
    stored = await storage.save(
        "jobs/j2/big.bin", chunked(data, MIB), content_type="application/octet-stream"
    )
    assert stored.size == len(data)
    assert stored.sha256 == hashlib.sha256(data).hexdigest()
    assert hashlib.sha256(await read_all(storage, "jobs/j2/big.bin")).hexdigest() == stored.sha256


async def test_upload_memory_stays_within_a_few_chunks(storage: Storage) -> None:
    size = 10 * PART_SIZE

    async def generated() -> AsyncIterator[bytes]:
        # Made on the fly so the test itself holds one chunk at a time.
        for index in range(size // MIB):
            yield bytes([index % 256]) * MIB

    tracemalloc.start()
    try:
        stored = await storage.save(
            "jobs/j3/large.bin", generated(), content_type="application/octet-stream"
        )
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert stored.size == size
    assert peak < 4 * PART_SIZE, f"peak {peak / MIB:.1f} MiB for a {size / MIB:.0f} MiB upload"


@pytest.mark.parametrize("fail_after", [100_000, 2 * PART_SIZE + 1])
async def test_upload_failing_midway_leaves_no_object(storage: Storage, fail_after: int) -> None:
    class SourceBroke(Exception):
        pass

    async def breaking() -> AsyncIterator[bytes]:
        async for chunk in chunked(payload(fail_after, seed=2), MIB):
            yield chunk
        raise SourceBroke

    with pytest.raises(SourceBroke):
        await storage.save(
            "jobs/j4/partial.bin", breaking(), content_type="application/octet-stream"
        )
    with pytest.raises(ObjectNotFound):
        await storage.size("jobs/j4/partial.bin")
    # The key is still free for a complete upload.
    stored = await storage.save("jobs/j4/partial.bin", chunked(b"whole"), content_type="text/plain")
    assert stored.size == 5


async def test_saving_under_a_taken_key_raises_object_exists(storage: Storage) -> None:
    await storage.save("jobs/j5/a.txt", chunked(b"first"), content_type="text/plain")
    with pytest.raises(ObjectExists):
        await storage.save("jobs/j5/a.txt", chunked(b"second"), content_type="text/plain")
    assert await read_all(storage, "jobs/j5/a.txt") == b"first"


async def test_of_two_racing_saves_of_one_key_exactly_one_wins(storage: Storage) -> None:
    results = await asyncio.gather(
        *(
            storage.save(
                "jobs/j6/race.bin",
                chunked(payload(200_000, seed=n), 16_384),
                content_type="text/plain",
            )
            for n in range(2)
        ),
        return_exceptions=True,
    )
    winners = [r for r in results if not isinstance(r, BaseException)]
    losers = [r for r in results if isinstance(r, BaseException)]
    assert len(winners) == 1
    assert len(losers) == 1 and isinstance(losers[0], ObjectExists)
    assert (
        hashlib.sha256(await read_all(storage, "jobs/j6/race.bin")).hexdigest() == winners[0].sha256
    )


@pytest.mark.parametrize(
    ("start", "end"),
    [(0, 0), (5, 9), (10, None), (0, None), (999, 999), (0, 999), (500, 5000)],
)
async def test_range_read_returns_inclusive_byte_range(
    storage: Storage, start: int, end: int | None
) -> None:
    data = payload(1000, seed=3)
    await storage.save("jobs/j7/r.bin", chunked(data, 100), content_type="application/octet-stream")
    expected = data[start : None if end is None else end + 1]
    assert await read_all(storage, "jobs/j7/r.bin", start, end) == expected


async def test_range_read_across_multipart_parts(storage: Storage) -> None:
    data = payload(PART_SIZE + 1000, seed=4)
    await storage.save("jobs/j8/p.bin", chunked(data, MIB), content_type="application/octet-stream")
    start, end = PART_SIZE - 10, PART_SIZE + 10
    assert await read_all(storage, "jobs/j8/p.bin", start, end) == data[start : end + 1]


async def test_missing_object_raises_object_not_found(storage: Storage) -> None:
    with pytest.raises(ObjectNotFound):
        await storage.size("jobs/none/x.txt")
    with pytest.raises(ObjectNotFound):
        await read_all(storage, "jobs/none/x.txt")


async def test_delete_removes_object_and_ignores_a_missing_one(storage: Storage) -> None:
    await storage.save("jobs/j9/d.txt", chunked(b"bye"), content_type="text/plain")
    await storage.delete("jobs/j9/d.txt")
    with pytest.raises(ObjectNotFound):
        await storage.size("jobs/j9/d.txt")
    await storage.delete("jobs/j9/d.txt")


async def test_check_passes_for_a_working_backend(storage: Storage) -> None:
    await storage.check()


async def test_presigned_url_downloads_with_plain_get_or_is_absent(
    storage: Storage, backend: str
) -> None:
    data = payload(70_000, seed=5)
    await storage.save("jobs/j10/report.md", chunked(data), content_type="text/markdown")
    url = await storage.presigned_url(
        "jobs/j10/report.md", filename="report.md", content_type="text/markdown", expires_in=60
    )
    if backend == "file":
        # The API serves file-storage downloads itself, behind the buyer's key.
        assert url is None
        return
    assert url is not None
    response = await plain_get(url)
    assert response.status_code == 200
    assert response.content == data
    assert response.headers["content-type"].startswith("text/markdown")
    assert 'filename="report.md"' in response.headers["content-disposition"]


# S3-only behaviour


async def test_s3_large_upload_is_multipart_and_small_is_one_put(
    make_s3_storage: Callable[..., S3Storage], s3_client: Any, s3_bucket: str
) -> None:
    storage = make_s3_storage()
    await storage.save(
        "jobs/m/big.bin",
        chunked(payload(2 * PART_SIZE + 1), MIB),
        content_type="application/octet-stream",
    )
    await storage.save(
        "jobs/m/small.bin", chunked(payload(PART_SIZE - 1)), content_type="application/octet-stream"
    )
    big = s3_client.head_object(Bucket=s3_bucket, Key="results/jobs/m/big.bin")
    small = s3_client.head_object(Bucket=s3_bucket, Key="results/jobs/m/small.bin")
    assert big["ETag"].strip('"').endswith("-3")  # three parts: 5 MiB, 5 MiB, 1 byte
    assert "-" not in small["ETag"]
    assert big["ContentType"] == "application/octet-stream"


async def test_s3_aborted_multipart_upload_leaves_no_parts(
    make_s3_storage: Callable[..., S3Storage], s3_client: Any, s3_bucket: str
) -> None:
    storage = make_s3_storage()

    async def breaking() -> AsyncIterator[bytes]:
        async for chunk in chunked(payload(2 * PART_SIZE), MIB):
            yield chunk
        raise ConnectionResetError("executor went away")

    with pytest.raises(ConnectionResetError):
        await storage.save("jobs/a/x.bin", breaking(), content_type="application/octet-stream")
    assert s3_client.list_multipart_uploads(Bucket=s3_bucket).get("Uploads", []) == []
    assert s3_client.list_objects_v2(Bucket=s3_bucket).get("KeyCount") == 0


async def test_s3_keys_live_under_the_url_prefix(
    s3_endpoint: str, s3_bucket: str, s3_client: Any
) -> None:
    storage = S3Storage.from_url(
        f"s3://{s3_bucket}/agnt/prod/", endpoint_url=s3_endpoint, part_size=PART_SIZE
    )
    try:
        await storage.save("jobs/p/out.txt", chunked(b"hi"), content_type="text/plain")
    finally:
        await storage.close()
    keys = [o["Key"] for o in s3_client.list_objects_v2(Bucket=s3_bucket)["Contents"]]
    assert keys == ["agnt/prod/jobs/p/out.txt"]


@pytest.mark.parametrize("url", ["s3://", "file:///tmp/x", "bucket/prefix"])
def test_s3_storage_refuses_a_url_without_a_bucket(url: str) -> None:
    with pytest.raises(ValueError, match="s3://"):
        S3Storage.from_url(url)


def test_s3_storage_refuses_parts_below_s3_minimum() -> None:
    with pytest.raises(ValueError, match="part_size"):
        S3Storage("bucket", part_size=MIB)


async def test_s3_presigned_url_is_signed_for_the_requested_lifetime(
    make_s3_storage: Callable[..., S3Storage],
) -> None:
    storage = make_s3_storage()
    await storage.save("jobs/e/a.txt", chunked(b"soon gone"), content_type="text/plain")
    url = await storage.presigned_url(
        "jobs/e/a.txt", filename="a.txt", content_type="text/plain", expires_in=3
    )
    query = parse_qs(urlsplit(url).query)
    assert query["X-Amz-Expires"] == ["3"]
    assert query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"]
    signed_at = time.mktime(time.strptime(query["X-Amz-Date"][0], "%Y%m%dT%H%M%SZ")) - time.timezone
    assert abs(signed_at - time.time()) < 60
    assert (await plain_get(url)).content == b"soon gone"
    # The server (SeaweedFS in tests, like S3 and MinIO) refuses the URL once its window passed.
    await asyncio.sleep(max(0.0, signed_at + 3 + 1.5 - time.time()))
    expired = await plain_get(url)
    assert expired.status_code == 403
    assert b"expired" in expired.content


async def test_s3_presigned_url_works_only_as_signed(
    make_s3_storage: Callable[..., S3Storage], s3_client: Any, s3_bucket: str
) -> None:
    storage = make_s3_storage()
    await storage.save("jobs/s/a.txt", chunked(b"mine"), content_type="text/plain")
    s3_client.put_object(Bucket=s3_bucket, Key="results/jobs/s/b.txt", Body=b"not yours")
    url = await storage.presigned_url(
        "jobs/s/a.txt", filename="a.txt", content_type="text/plain", expires_in=30
    )
    assert (await plain_get(url)).status_code == 200
    other_key = url.replace("/jobs/s/a.txt?", "/jobs/s/b.txt?")
    assert other_key != url
    assert (await plain_get(other_key)).status_code == 403
    longer = url.replace("X-Amz-Expires=30", "X-Amz-Expires=3600")
    assert longer != url
    assert (await plain_get(longer)).status_code == 403


async def test_s3_check_fails_with_credentials_the_server_does_not_know(
    make_s3_storage: Callable[..., S3Storage], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret")
    storage = make_s3_storage()
    with pytest.raises(StorageError, match="403|SignatureDoesNotMatch|AccessDenied"):
        await storage.check()


@pytest.mark.parametrize("size", [1000, 2 * PART_SIZE + 1], ids=["one-put", "multipart"])
async def test_s3_object_written_while_an_upload_streams_is_not_overwritten(
    make_s3_storage: Callable[..., S3Storage], s3_client: Any, s3_bucket: str, size: int
) -> None:
    """The existence check before the upload cannot see this object: the server's
    conditional write (``If-None-Match: *``) is what refuses the second writer."""
    storage = make_s3_storage()

    async def racing() -> AsyncIterator[bytes]:
        s3_client.put_object(Bucket=s3_bucket, Key="results/jobs/r/out.bin", Body=b"first")
        async for chunk in chunked(payload(size, seed=7), MIB):
            yield chunk

    with pytest.raises(ObjectExists):
        await storage.save("jobs/r/out.bin", racing(), content_type="application/octet-stream")
    got = s3_client.get_object(Bucket=s3_bucket, Key="results/jobs/r/out.bin")["Body"].read()
    assert got == b"first"
    assert s3_client.list_multipart_uploads(Bucket=s3_bucket).get("Uploads", []) == []


async def test_s3_presigned_url_for_public_endpoint_names_that_host(
    make_s3_storage: Callable[..., S3Storage],
) -> None:
    storage = make_s3_storage(public_endpoint_url="http://files.example.test:9000")
    url = await storage.presigned_url(
        "jobs/x/a.txt", filename="a.txt", content_type="text/plain", expires_in=30
    )
    assert url.startswith("http://files.example.test:9000/")


async def test_s3_presigned_url_names_a_non_ascii_file(
    make_s3_storage: Callable[..., S3Storage],
) -> None:
    storage = make_s3_storage()
    await storage.save("jobs/u/r.txt", chunked(b"x"), content_type="text/plain")
    url = await storage.presigned_url(
        "jobs/u/r.txt", filename='résumé "v2".txt', content_type="text/plain", expires_in=30
    )
    disposition = (await plain_get(url)).headers["content-disposition"]
    assert "filename*=UTF-8''r%C3%A9sum%C3%A9%20%22v2%22.txt" in disposition


async def test_s3_check_fails_for_a_missing_bucket(
    make_s3_storage: Callable[..., S3Storage],
) -> None:
    storage = make_s3_storage(bucket="agnt-no-such-bucket")
    with pytest.raises(StorageError, match="agnt-no-such-bucket"):
        await storage.check()


async def test_s3_check_fails_for_an_unreachable_endpoint(
    make_s3_storage: Callable[..., S3Storage],
) -> None:
    storage = make_s3_storage(endpoint_url=f"http://127.0.0.1:{free_port()}")
    started = time.monotonic()
    with pytest.raises(StorageError, match="unreachable"):
        await storage.check()
    assert time.monotonic() - started < 10


async def test_storage_url_s3_selects_s3_storage(s3_endpoint: str, s3_bucket: str) -> None:
    from agnt_api.settings import Settings
    from agnt_api.storage import create_storage

    settings = Settings(
        storage_url=f"s3://{s3_bucket}/results",
        s3_endpoint_url=s3_endpoint,
        s3_public_endpoint_url="http://files.example.test:9000",
        s3_region="eu-west-1",
    )
    storage = create_storage(settings)
    try:
        assert isinstance(storage, S3Storage)
        assert (storage.bucket, storage.prefix) == (s3_bucket, "results")
        await storage.check()
        url = await storage.presigned_url(
            "jobs/a/b.txt", filename="b.txt", content_type="text/plain", expires_in=5
        )
        assert url.startswith("http://files.example.test:9000/")
        assert "eu-west-1" in parse_qs(urlsplit(url).query)["X-Amz-Credential"][0]
    finally:
        await storage.close()
