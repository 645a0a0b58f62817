"""Downloading result files from the API: Range, ETag, Content-Length, ownership."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

DATA = bytes(range(256)) * 40


@pytest.fixture
async def finished(api: Any, echo: Any) -> dict[str, Any]:
    """A completed job of buyer A with ``data.bin`` (DATA) and ``notes é.txt``."""
    job = await api.order("buyer-a", "echo")
    await api.run_to_running("executor-x", job["id"])
    done = await api.complete("executor-x", job["id"], [("data.bin", DATA), ("notes é.txt", b"hi")])
    assert done.status_code == 200
    return job


async def test_download_streams_the_whole_file_with_etag_and_length(
    api: Any, finished: Any
) -> None:
    response = await api.client.get(
        f"/v1/jobs/{finished['id']}/files/data.bin", headers=api.auth("buyer-a")
    )
    assert response.status_code == 200
    assert response.content == DATA
    assert response.headers["content-length"] == str(len(DATA))
    assert response.headers["etag"] == f'"{hashlib.sha256(DATA).hexdigest()}"'
    assert response.headers["accept-ranges"] == "bytes"
    assert response.headers["content-disposition"].startswith("attachment;")


async def test_download_of_a_non_ascii_name_follows_the_result_url(api: Any, finished: Any) -> None:
    result = await api.client.get(f"/v1/jobs/{finished['id']}/result", headers=api.auth("buyer-a"))
    url = next(f["download_url"] for f in result.json()["files"] if f["name"] == "notes é.txt")
    response = await api.client.get(url, headers=api.auth("buyer-a"))
    assert response.content == b"hi"
    assert "filename*=UTF-8''notes%20%C3%A9.txt" in response.headers["content-disposition"]


@pytest.mark.parametrize(
    ("header", "start", "end"),
    [
        ("bytes=0-9", 0, 9),
        ("bytes=10000-", 10000, len(DATA) - 1),
        ("bytes=-5", len(DATA) - 5, len(DATA) - 1),
        ("bytes=100-999999", 100, len(DATA) - 1),
    ],
)
async def test_range_requests_get_206_with_content_range(
    api: Any, finished: Any, header: str, start: int, end: int
) -> None:
    response = await api.client.get(
        f"/v1/jobs/{finished['id']}/files/data.bin",
        headers={**api.auth("buyer-a"), "Range": header},
    )
    assert response.status_code == 206
    assert response.content == DATA[start : end + 1]
    assert response.headers["content-range"] == f"bytes {start}-{end}/{len(DATA)}"
    assert response.headers["content-length"] == str(end - start + 1)


async def test_range_past_the_end_gets_416(api: Any, finished: Any) -> None:
    response = await api.client.get(
        f"/v1/jobs/{finished['id']}/files/data.bin",
        headers={**api.auth("buyer-a"), "Range": f"bytes={len(DATA)}-"},
    )
    assert response.status_code == 416
    assert response.json()["code"] == "range_not_satisfiable"
    assert response.headers["content-range"] == f"bytes */{len(DATA)}"


async def test_if_none_match_gets_304_and_stale_if_range_gets_the_whole_file(
    api: Any, finished: Any
) -> None:
    url = f"/v1/jobs/{finished['id']}/files/data.bin"
    etag = (await api.client.get(url, headers=api.auth("buyer-a"))).headers["etag"]
    cached = await api.client.get(url, headers={**api.auth("buyer-a"), "If-None-Match": etag})
    assert cached.status_code == 304
    stale = await api.client.get(
        url, headers={**api.auth("buyer-a"), "Range": "bytes=0-1", "If-Range": '"other"'}
    )
    assert stale.status_code == 200
    assert stale.content == DATA


async def test_unknown_file_is_404_and_another_buyer_cannot_download(
    api: Any, finished: Any
) -> None:
    missing = await api.client.get(
        f"/v1/jobs/{finished['id']}/files/nope.txt", headers=api.auth("buyer-a")
    )
    assert missing.status_code == 404
    assert missing.json()["code"] == "file_not_found"
    stranger = await api.client.get(
        f"/v1/jobs/{finished['id']}/files/data.bin", headers=api.auth("buyer-b")
    )
    assert stranger.status_code == 404
    assert stranger.json()["code"] == "job_not_found"
    anonymous = await api.client.get(f"/v1/jobs/{finished['id']}/files/data.bin")
    assert anonymous.status_code == 401
