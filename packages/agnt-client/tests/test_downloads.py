"""download_result over a faked network: verified, all or nothing, key only to the API's origin."""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from agnt_client import (
    APIConnectionError,
    ChecksumMismatchError,
    DownloadedFile,
    FileConflictError,
    NotFoundError,
    UnsafeFileNameError,
)

JOB_ID = str(uuid.uuid4())


class BrokenStream(httpx.SyncByteStream, httpx.AsyncByteStream):
    """A body that sends its first half, then the connection drops."""

    def __init__(self, body: bytes) -> None:
        self.half = body[: len(body) // 2]

    def __iter__(self) -> Iterator[bytes]:
        yield self.half
        raise httpx.ReadError("connection reset by peer")

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield self.half
        raise httpx.ReadError("connection reset by peer")


class FakeResultServer:
    """Answers ``/result`` with the given files and serves their bytes at ``download_url``.

    ``bodies`` may differ from the promised content (to fake corruption); ``breaks`` counts
    how many downloads of each file drop the connection halfway.
    """

    def __init__(
        self, files: dict[str, bytes], *, url_for: Callable[[str], str] | None = None
    ) -> None:
        self.files = files
        self.bodies = dict(files)
        self.breaks: dict[str, int] = {}
        self.url_for = url_for or (lambda name: f"http://api.test/v1/jobs/{JOB_ID}/files/{name}")
        self.requests: list[httpx.Request] = []

    def result(self) -> dict[str, Any]:
        return {
            "job_id": JOB_ID,
            "created_at": "2026-01-01T00:00:00Z",
            "files": [
                {
                    "name": name,
                    "size": len(body),
                    "mime": "application/octet-stream",
                    "sha256": hashlib.sha256(body).hexdigest(),
                    "download_url": self.url_for(name),
                }
                for name, body in self.files.items()
            ],
        }

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if request.url.path.endswith("/result"):
            return httpx.Response(200, json=self.result())
        name = request.url.path.rsplit("/", 1)[-1]
        body = self.bodies[name]
        etag = f'"{hashlib.sha256(body).hexdigest()}"'
        headers = {"ETag": etag, "Content-Length": str(len(body))}
        status = 200
        wanted = request.headers.get("range", "")
        if wanted and request.headers.get("if-range") == etag:
            start = int(wanted.removeprefix("bytes=").rstrip("-"))
            headers["Content-Range"] = f"bytes {start}-{len(body) - 1}/{len(body)}"
            headers["Content-Length"] = str(len(body) - start)
            body, status = body[start:], 206
        if self.breaks.get(name, 0) > 0:
            self.breaks[name] -= 1
            return httpx.Response(status, headers=headers, stream=BrokenStream(body))
        return httpx.Response(status, headers=headers, content=body)

    def downloads(self) -> list[httpx.Request]:
        return [r for r in self.requests if "/files/" in r.url.path or "bucket" in r.url.host]


def listing(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir()) if directory.exists() else []


def test_download_writes_every_file_verified(make_client: Any, tmp_path: Path) -> None:
    server = FakeResultServer({"out.txt": b"HELLO\n", "data.bin": bytes(range(256)) * 3000})
    files = make_client(server).download_result(JOB_ID, tmp_path / "out")
    assert [f.name for f in files] == ["out.txt", "data.bin"]
    for downloaded in files:
        assert isinstance(downloaded, DownloadedFile)
        assert downloaded.path.read_bytes() == server.files[downloaded.name]
        assert downloaded.size == len(server.files[downloaded.name])
        assert downloaded.sha256 == hashlib.sha256(server.files[downloaded.name]).hexdigest()
    assert listing(tmp_path / "out") == ["data.bin", "out.txt"]


def test_hash_mismatch_raises_and_leaves_no_file(make_client: Any, tmp_path: Path) -> None:
    server = FakeResultServer({"good.txt": b"good", "bad.txt": b"promised", "later.txt": b"later"})
    server.bodies["bad.txt"] = b"tampered"
    with pytest.raises(ChecksumMismatchError) as caught:
        make_client(server).download_result(JOB_ID, tmp_path)
    assert [r.url.path.rsplit("/", 1)[-1] for r in server.downloads()] == ["good.txt", "bad.txt"]
    assert caught.value.name == "bad.txt"
    assert caught.value.expected_sha256 == hashlib.sha256(b"promised").hexdigest()
    assert caught.value.actual_sha256 == hashlib.sha256(b"tampered").hexdigest()
    assert listing(tmp_path) == []


def test_size_mismatch_raises_and_leaves_no_file(make_client: Any, tmp_path: Path) -> None:
    server = FakeResultServer({"a.txt": b"abc"})
    server.bodies["a.txt"] = b"abcd"
    with pytest.raises(ChecksumMismatchError) as caught:
        make_client(server).download_result(JOB_ID, tmp_path)
    assert (caught.value.expected_size, caught.value.actual_size) == (3, 4)
    assert listing(tmp_path) == []


def test_broken_connection_every_time_raises_and_leaves_no_file(
    make_client: Any, tmp_path: Path
) -> None:
    server = FakeResultServer({"first.txt": b"1" * 10, "big.bin": b"x" * 100_000})
    server.breaks["big.bin"] = 99
    with pytest.raises(APIConnectionError):
        make_client(server, max_retries=1).download_result(JOB_ID, tmp_path)
    assert len([r for r in server.downloads() if r.url.path.endswith("big.bin")]) == 2
    assert listing(tmp_path) == []


def test_broken_connection_once_is_retried_from_the_start(make_client: Any, tmp_path: Path) -> None:
    server = FakeResultServer({"big.bin": b"x" * 100_000})
    server.breaks["big.bin"] = 1
    files = make_client(server, max_retries=1).download_result(JOB_ID, tmp_path)
    assert files[0].path.read_bytes() == server.files["big.bin"]
    assert listing(tmp_path) == ["big.bin"]


def test_broken_download_resumes_with_a_range_request(make_client: Any, tmp_path: Path) -> None:
    body = bytes(range(256)) * 400
    server = FakeResultServer({"big.bin": body})
    server.breaks["big.bin"] = 2
    files = make_client(server, max_retries=2).download_result(JOB_ID, tmp_path)
    assert files[0].path.read_bytes() == body
    ranges = [r.headers.get("range") for r in server.downloads()]
    assert ranges == [None, f"bytes={len(body) // 2}-", f"bytes={len(body) // 2 + len(body) // 4}-"]


def test_file_changed_between_attempts_is_downloaded_whole_again(
    make_client: Any, tmp_path: Path
) -> None:
    server = FakeResultServer({"big.bin": b"a" * 10_000})
    server.breaks["big.bin"] = 1
    server.bodies["big.bin"] = b"b" * 10_000
    server.breaks["big.bin"] = 1
    original = server.__call__

    def handler(request: httpx.Request) -> httpx.Response:
        response = original(request)
        if "/files/" in request.url.path:
            server.bodies["big.bin"] = server.files["big.bin"]
        return response

    files = make_client(handler, max_retries=1).download_result(JOB_ID, tmp_path)
    assert files[0].path.read_bytes() == b"a" * 10_000
    assert server.downloads()[1].headers["range"] == "bytes=5000-"


def test_key_is_sent_to_the_api_origin_only(make_client: Any, tmp_path: Path) -> None:
    def url_for(name: str) -> str:
        if name == "own.txt":
            return f"http://api.test/v1/jobs/{JOB_ID}/files/{name}"
        return f"http://bucket.s3.test/results/{name}?X-Amz-Signature=abc"

    server = FakeResultServer({"own.txt": b"own", "s3.txt": b"s3"}, url_for=url_for)
    make_client(server).download_result(JOB_ID, tmp_path)
    auth = {r.url.host: r.headers.get("authorization") for r in server.downloads()}
    assert auth == {"api.test": "Bearer agnt_test_key", "bucket.s3.test": None}


def test_key_is_dropped_when_the_api_redirects_a_download_elsewhere(
    make_client: Any, tmp_path: Path
) -> None:
    server = FakeResultServer({"out.txt": b"from the bucket"})

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.host == "api.test" and "/files/" in request.url.path:
            server.requests.append(request)
            return httpx.Response(302, headers={"Location": "http://bucket.s3.test/out.txt?sig=1"})
        return server(request)

    files = make_client(handler).download_result(JOB_ID, tmp_path)
    assert files[0].path.read_bytes() == b"from the bucket"
    auth = [(r.url.host, r.headers.get("authorization")) for r in server.downloads()]
    assert auth == [("api.test", "Bearer agnt_test_key"), ("bucket.s3.test", None)]


def test_existing_identical_file_is_kept_without_downloading(
    make_client: Any, tmp_path: Path
) -> None:
    server = FakeResultServer({"out.txt": b"same"})
    (tmp_path / "out.txt").write_bytes(b"same")
    files = make_client(server).download_result(JOB_ID, tmp_path)
    assert files[0].path == tmp_path / "out.txt"
    assert server.downloads() == []


def test_existing_different_file_conflicts_before_anything_is_fetched(
    make_client: Any, tmp_path: Path
) -> None:
    server = FakeResultServer({"new.txt": b"new", "out.txt": b"theirs"})
    (tmp_path / "out.txt").write_bytes(b"mine")
    with pytest.raises(FileConflictError) as caught:
        make_client(server).download_result(JOB_ID, tmp_path)
    assert caught.value.path == tmp_path / "out.txt"
    assert server.downloads() == []
    assert listing(tmp_path) == ["out.txt"]
    assert (tmp_path / "out.txt").read_bytes() == b"mine"


def test_overwrite_replaces_a_different_file(make_client: Any, tmp_path: Path) -> None:
    server = FakeResultServer({"out.txt": b"theirs"})
    (tmp_path / "out.txt").write_bytes(b"mine")
    make_client(server).download_result(JOB_ID, tmp_path, overwrite=True)
    assert (tmp_path / "out.txt").read_bytes() == b"theirs"


@pytest.mark.parametrize("name", ["../escape.txt", "sub/file.txt", "..", "", "a\\b"])
def test_result_file_name_with_a_path_is_refused(
    make_client: Any, tmp_path: Path, name: str
) -> None:
    server = FakeResultServer({name: b"x"})
    with pytest.raises(UnsafeFileNameError):
        make_client(server).download_result(JOB_ID, tmp_path / "dest")
    assert listing(tmp_path / "dest") == []
    assert not (tmp_path / "escape.txt").exists()


@pytest.mark.parametrize(
    "name",
    ["D:evil.bat", "C:x", "CON", "con.txt", "x.txt. ", "a.txt:stream", "e\u0301.txt", "a" * 256],
)
def test_result_file_name_unsafe_on_some_platform_is_refused(
    make_client: Any, tmp_path: Path, name: str
) -> None:
    # Under Windows path rules "dest" + "D:evil.bat" is "D:evil.bat": outside dest.
    server = FakeResultServer({"fine.txt": b"ok", name: b"x"})
    with pytest.raises(UnsafeFileNameError) as caught:
        make_client(server).download_result(JOB_ID, tmp_path / "dest")
    assert caught.value.name == name
    assert listing(tmp_path / "dest") == []
    assert server.downloads() == []


@pytest.mark.parametrize(("first", "second"), [("A.txt", "a.txt"), ("\u00c9.md", "\u00e9.md")])
def test_two_names_of_one_file_on_a_case_insensitive_disk_are_refused(
    make_client: Any, tmp_path: Path, first: str, second: str
) -> None:
    server = FakeResultServer({first: b"one", second: b"two"})
    with pytest.raises(UnsafeFileNameError, match="one file"):
        make_client(server).download_result(JOB_ID, tmp_path)
    assert listing(tmp_path) == []
    assert server.downloads() == []


def test_a_255_byte_name_downloads(make_client: Any, tmp_path: Path) -> None:
    name = "\u00e9" * 126 + "abc"
    assert len(name.encode()) == 255
    files = make_client(FakeResultServer({name: b"long"})).download_result(JOB_ID, tmp_path)
    assert files[0].path == tmp_path / name
    assert listing(tmp_path) == [name]


def test_missing_file_on_the_server_raises_not_found_and_leaves_nothing(
    make_client: Any, tmp_path: Path, payloads: Any
) -> None:
    server = FakeResultServer({"a.txt": b"a", "b.txt": b"b"})

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("b.txt"):
            return payloads.problem(404, "file_not_found")
        return server(request)

    with pytest.raises(NotFoundError) as caught:
        make_client(handler).download_result(JOB_ID, tmp_path)
    assert caught.value.code == "file_not_found"
    assert listing(tmp_path) == []


def test_downloaded_files_get_the_usual_permissions(make_client: Any, tmp_path: Path) -> None:
    umask = os.umask(0o022)
    os.umask(umask)
    files = make_client(FakeResultServer({"out.txt": b"x"})).download_result(JOB_ID, tmp_path)
    assert files[0].path.stat().st_mode & 0o777 == 0o666 & ~umask


class EndlessStream(httpx.SyncByteStream, httpx.AsyncByteStream):
    """A body that never ends, counting the chunks it was asked for."""

    def __init__(self) -> None:
        self.sent = 0

    def __iter__(self) -> Iterator[bytes]:
        while True:
            self.sent += 1
            yield b"y" * 1024

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for chunk in self:
            yield chunk


def test_a_body_longer_than_promised_is_cut_off_early(make_client: Any, tmp_path: Path) -> None:
    server = FakeResultServer({"small.txt": b"x" * 4000})
    endless = EndlessStream()

    def handler(request: httpx.Request) -> httpx.Response:
        if "/files/" in request.url.path:
            return httpx.Response(200, stream=endless)
        return server(request)

    with pytest.raises(ChecksumMismatchError) as caught:
        make_client(handler).download_result(JOB_ID, tmp_path)
    assert (caught.value.expected_size, caught.value.actual_size) == (4000, 4096)
    assert endless.sent == 4
    assert listing(tmp_path) == []


def test_read_result_file_returns_the_verified_bytes_after_a_broken_connection(
    make_client: Any,
) -> None:
    from agnt_models import JobResult

    server = FakeResultServer({"report.json": b'{"ok": true}', "big.bin": bytes(5000)})
    server.breaks["report.json"] = 1
    client = make_client(server)
    entry = JobResult.model_validate(server.result()).files[0]
    assert client.read_result_file(entry) == b'{"ok": true}'
    # Only the asked-for file is fetched (resumed once after the break).
    assert {r.url.path.rsplit("/", 1)[-1] for r in server.downloads()} == {"report.json"}


def test_read_result_file_refuses_bytes_that_do_not_match(make_client: Any) -> None:
    from agnt_models import JobResult

    server = FakeResultServer({"report.json": b"promised"})
    server.bodies["report.json"] = b"tampered"
    entry = JobResult.model_validate(server.result()).files[0]
    with pytest.raises(ChecksumMismatchError):
        make_client(server).read_result_file(entry)
