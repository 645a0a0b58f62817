"""Result files through the real API (issue 13): portable names, a cap on files per
completion, Range headers that cannot crash, and downloads that a browser never runs."""

from __future__ import annotations

import os
import stat
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from agnt_api.storage.files import FileStorage
from agnt_client import Client, PayloadTooLargeError
from agnt_models import AgentPublish, JobStatus

NFC_E = "\u00e9"
NFD_E = "e\u0301"
BOUNDARY = "agntresultfilesboundary"
MULTIPART = {"content-type": f"multipart/form-data; boundary={BOUNDARY}"}


@pytest.fixture
async def running(api: Any, echo: Any) -> str:
    """A job of buyer A that executor X is running."""
    job = await api.order("buyer-a", "echo")
    await api.run_to_running("executor-x", job["id"])
    return str(job["id"])


def stored_files(api: Any) -> list[Path]:
    """Every file under the test app's storage root."""
    root = Path(api.runtime.storage.root)
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


async def job_status(api: Any, job_id: str) -> str:
    response = await api.client.get(f"/v1/jobs/{job_id}", headers=api.auth("buyer-a"))
    return str(response.json()["status"])


def part(name: str, content: bytes) -> bytes:
    """One ``files`` part with its file name sent as raw UTF-8 (as a browser does)."""
    return (
        f"--{BOUNDARY}\r\n".encode()
        + b'Content-Disposition: form-data; name="files"; filename="'
        + name.encode()
        + b'"\r\nContent-Type: text/plain\r\n\r\n'
        + content
        + b"\r\n"
    )


def body(*parts: bytes) -> bytes:
    return b"".join(parts) + f"--{BOUNDARY}--\r\n".encode()


@pytest.mark.parametrize(
    "name",
    [
        "D:evil.bat",
        "C:x",
        "CON",
        "con.txt",
        "x.txt. ",
        "a.txt:stream",
        NFD_E + ".txt",
        "a" * 252 + ".txt",
        NFC_E * 126 + ".txt",
    ],
)
async def test_a_name_unsafe_on_some_platform_is_refused_and_nothing_is_stored(
    api: Any, running: str, name: str
) -> None:
    response = await api.client.post(
        f"/v1/executor/jobs/{running}/complete",
        headers={**api.auth("executor-x"), **MULTIPART},
        content=body(part("good.txt", b"fine"), part(name, b"evil")),
    )
    assert response.status_code == 422, response.text
    problem = response.json()
    assert problem["code"] == "validation_error"
    assert repr(name) in problem["detail"]
    assert problem["errors"][0]["loc"] == "files"
    assert stored_files(api) == []
    assert await job_status(api, running) == "running"


@pytest.mark.parametrize(
    ("first", "second"),
    [("A.txt", "a.txt"), ("report.md", "report.md"), (NFC_E + ".txt", NFC_E.upper() + ".txt")],
)
async def test_two_names_of_one_file_on_a_case_insensitive_disk_are_refused(
    api: Any, running: str, first: str, second: str
) -> None:
    response = await api.complete("executor-x", running, [(first, b"1"), (second, b"2")])
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "validation_error"
    assert repr(second) in response.json()["detail"]
    assert stored_files(api) == []


async def test_two_normalizations_of_one_name_are_refused(api: Any, running: str) -> None:
    response = await api.client.post(
        f"/v1/executor/jobs/{running}/complete",
        headers={**api.auth("executor-x"), **MULTIPART},
        content=body(part(NFC_E + ".txt", b"1"), part(NFD_E + ".txt", b"2")),
    )
    assert response.status_code == 422, response.text
    assert "NFC" in response.json()["detail"]
    assert stored_files(api) == []


@pytest.mark.parametrize("name", ["a" * 251 + ".txt", NFC_E * 125 + "a.txt"])
async def test_a_255_byte_name_stores_and_downloads(api: Any, running: str, name: str) -> None:
    assert len(name.encode()) == 255
    done = await api.complete("executor-x", running, [(name, b"long name")])
    assert done.status_code == 200, done.text
    result = await api.client.get(f"/v1/jobs/{running}/result", headers=api.auth("buyer-a"))
    [listed] = result.json()["files"]
    assert listed["name"] == name
    download = await api.client.get(listed["download_url"], headers=api.auth("buyer-a"))
    assert download.status_code == 200
    assert download.content == b"long name"


async def test_more_files_than_the_cap_are_refused_before_the_rest_is_read(
    api: Any, running: str
) -> None:
    sent = 0

    async def parts() -> AsyncIterator[bytes]:
        nonlocal sent
        # 1,001 files (the default cap is 1,000), then 2,000 more that must never be read.
        for number in range(3_001):
            sent += 1
            yield part(f"f{number:04}.txt", b"x")
        yield f"--{BOUNDARY}--\r\n".encode()

    response = await api.client.post(
        f"/v1/executor/jobs/{running}/complete",
        headers={**api.auth("executor-x"), **MULTIPART},
        content=parts(),
    )
    assert response.status_code == 413, response.text
    assert response.json()["code"] == "payload_too_large"
    assert "1000" in response.json()["detail"]
    assert sent < 1_100
    assert stored_files(api) == []
    assert await job_status(api, running) == "running"


async def test_a_completion_at_the_configured_cap_is_accepted(
    make_api: Any, api: Any, running: str
) -> None:
    capped = await make_api(max_result_files=3)
    capped.keys = api.keys
    four = [(f"{n}.txt", b"x") for n in range(4)]
    refused = await capped.complete("executor-x", running, four)
    assert refused.status_code == 413
    assert refused.json()["code"] == "payload_too_large"
    assert "at most 3" in refused.json()["detail"]
    assert (await capped.complete("executor-x", running, four[:3])).status_code == 200


async def test_result_files_are_private_to_the_service_whatever_the_umask(
    api: Any, running: str
) -> None:
    previous = os.umask(0o022)
    try:
        done = await api.complete("executor-x", running, [("a.txt", b"a"), ("b.txt", b"b")])
    finally:
        os.umask(previous)
    assert done.status_code == 200
    root = Path(api.runtime.storage.root)
    files = stored_files(api)
    assert len(files) == 2
    for path in files:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    directory = files[0].parent
    while directory != root.parent:
        assert stat.S_IMODE(directory.stat().st_mode) == 0o700, directory
        directory = directory.parent


async def test_temp_files_of_a_save_are_private_too(tmp_path: Path) -> None:
    storage = FileStorage(tmp_path / "objects")
    modes: list[int] = []

    async def chunks() -> AsyncIterator[bytes]:
        yield b"x" * (2 * 1024 * 1024)  # past the write buffer: the temp file exists now
        for temp in (tmp_path / "objects" / "jobs").iterdir():
            modes.append(stat.S_IMODE(temp.stat().st_mode))
        yield b"y"

    previous = os.umask(0o022)
    try:
        await storage.save("jobs/" + "n" * 255, chunks(), content_type="text/plain")
    finally:
        os.umask(previous)
    assert modes == [0o600]
    assert stat.S_IMODE((tmp_path / "objects").stat().st_mode) == 0o700


@pytest.fixture
async def finished(api: Any, running: str) -> str:
    """Buyer A's completed job whose executor declared HTML, SVG and a non-ASCII name."""
    response = await api.client.post(
        f"/v1/executor/jobs/{running}/complete",
        headers=api.auth("executor-x"),
        files=[
            ("files", ("page.html", b"<script>alert(1)</script>", "text/html")),
            ("files", ("logo.svg", b"<svg onload='alert(1)'/>", "image/svg+xml")),
            ("files", (f"r{NFC_E}sum{NFC_E}.txt", b"cv", "text/plain")),
        ],
    )
    assert response.status_code == 200, response.text
    return running


def assert_served_as_attachment(headers: Any, name: str) -> None:
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["content-security-policy"] == "sandbox"
    disposition = headers["content-disposition"]
    assert disposition.startswith('attachment; filename="')
    assert disposition.endswith("filename*=UTF-8''" + _encoded(name))


def _encoded(name: str) -> str:
    return quote(name, safe="")


@pytest.mark.parametrize("name", ["page.html", "logo.svg", f"r{NFC_E}sum{NFC_E}.txt"])
async def test_every_download_is_an_attachment_the_browser_may_not_sniff_or_run(
    api: Any, finished: str, name: str
) -> None:
    url = f"/v1/jobs/{finished}/files/{_encoded(name)}"
    whole = await api.client.get(url, headers=api.auth("buyer-a"))
    assert whole.status_code == 200
    assert_served_as_attachment(whole.headers, name)
    ranged = await api.client.get(url, headers={**api.auth("buyer-a"), "Range": "bytes=1-"})
    assert ranged.status_code == 206
    assert_served_as_attachment(ranged.headers, name)


def huge(digits: int) -> str:
    return "9" * digits


@pytest.mark.parametrize(
    ("header", "status"),
    [
        (f"bytes=0-{huge(5_000)}", 206),
        (f"bytes=-{huge(5_000)}", 206),
        (f"bytes={huge(5_000)}-", 416),
        (f"bytes={huge(5_000)}-{huge(5_001)}", 416),
        (f"bytes=1-{'0' * 5_000}", 416),
        (f"bytes={'0' * 5_000}1-", 206),
    ],
)
async def test_a_range_of_thousands_of_digits_is_answered_never_500(
    api: Any, finished: str, header: str, status: int
) -> None:
    response = await api.client.get(
        f"/v1/jobs/{finished}/files/page.html", headers={**api.auth("buyer-a"), "Range": header}
    )
    assert response.status_code == status, response.text
    if status == 416:
        assert response.json()["code"] == "range_not_satisfiable"
        assert response.headers["content-range"] == "bytes */25"


def test_a_live_server_answers_an_executor_over_the_cap_413_while_it_still_uploads(
    live_api_factory: Any, tmp_path: Path
) -> None:
    # The server answers before the body ends: the executor must see the 413, not a broken
    # connection that it would retry as a network error.
    api = live_api_factory(env={"AGNT_MAX_RESULT_FILES": "5"})
    with (
        Client(base_url=api.url, api_key=api.buyer_key) as buyer,
        Client(base_url=api.url, api_key=api.executor_key) as executor,
    ):
        executor.publish_agent("capped", AgentPublish(name="Capped"))
        job = buyer.create_job("capped", "many files")
        executor.report_status(job.id, JobStatus.ACCEPTED)
        executor.report_status(job.id, JobStatus.RUNNING)
        outputs = []
        for number in range(40):
            path = tmp_path / f"out{number:02}.bin"
            path.write_bytes(os.urandom(256 * 1024))
            outputs.append(path)
        with pytest.raises(PayloadTooLargeError) as refused:
            executor.complete_job(job.id, outputs)
        assert refused.value.code == "payload_too_large"
        assert buyer.get_job(job.id).status is JobStatus.RUNNING
    objects = api.data_dir / "objects"
    assert [p for p in objects.rglob("*") if p.is_file()] == []
