"""End to end with real processes: a file ordered with ``agnt order --file`` reaches a
command handler byte-identical (``{inputs}``, ``$AGNT_INPUT_DIR``) and its output comes
back; an oversize input gets 413 and leaves nothing; a corrupted input fails the job with a
clear reason. On SQLite with file storage, and on Postgres with S3 (presigned downloads)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from agnt_client import Client
from agnt_models import AgentPublish, InputRef, JobStatus

pytestmark = pytest.mark.slow

AGNT = Path(sys.executable).with_name("agnt")
if not AGNT.exists():
    AGNT = Path(shutil.which("agnt") or "agnt")

COPY_INPUTS = """
# Copies each input (from the {inputs} argument) to the output, and lists $AGNT_INPUT_DIR.
import os, shutil, sys
from pathlib import Path
out = Path(os.environ["AGNT_OUTPUT_DIR"])
for path in sorted(Path(sys.argv[1]).iterdir()):
    shutil.copyfile(path, out / path.name)
listing = sorted(os.listdir(os.environ["AGNT_INPUT_DIR"]))
(out / "listing.txt").write_text("\\n".join(listing))
"""

MANIFEST = """
[[agents]]
id = "copier"
name = "Copier"
input_files = {{ min = 1, max = 3 }}
handler = {{ type = "command", argv = ["{script}", "{{inputs}}"], stdout_file = false, stderr_file = false }}
"""


def agnt(api: Any, *args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    """Run the real ``agnt`` binary as the buyer of ``api``."""
    env = {"PATH": "/usr/bin:/bin", "AGNT_API_URL": api.url, "AGNT_API_KEY": api.buyer_key}
    return subprocess.run(
        [str(AGNT), *args], env=env, input=stdin, capture_output=True, timeout=120, check=False
    )


def order_and_check(
    api: Any,
    start_executor: Callable[..., Any],
    write_manifest: Callable[[str], Path],
    write_script: Callable[[str, str], Path],
    tmp_path: Path,
) -> None:
    script = write_script("copy-inputs", COPY_INPUTS)
    manifest = write_manifest(MANIFEST.format(script=script))
    start_executor(
        "run", str(manifest), env={"AGNT_API_URL": api.url, "AGNT_API_KEY": api.executor_key}
    )
    body = bytes(range(256)) * 4096 + b"tail"
    source = tmp_path / "data.bin"
    source.write_bytes(body)
    ordered = agnt(
        api,
        "order",
        "copier",
        "-p",
        "copy",
        "--file",
        str(source),
        "--file",
        "-",
        "--wait",
        stdin=b"from stdin\n",
    )
    assert ordered.returncode == 0, ordered.stderr.decode()
    job = json.loads(ordered.stdout)
    assert job["status"] == "completed", job
    with Client(base_url=api.url, api_key=api.buyer_key) as buyer:
        files = buyer.download_result(job["id"], tmp_path / "out")
    got = {f.name: f.path.read_bytes() for f in files}
    assert got["data.bin"] == body
    assert got["stdin"] == b"from stdin\n"
    assert got["listing.txt"].split() == [b"data.bin", b"stdin"]


def test_ordered_file_reaches_the_handler_byte_identical_on_sqlite(
    live_api: Any,
    start_executor: Callable[..., Any],
    write_manifest: Callable[[str], Path],
    write_script: Callable[[str, str], Path],
    tmp_path: Path,
) -> None:
    order_and_check(live_api, start_executor, write_manifest, write_script, tmp_path)


@pytest.mark.postgres
@pytest.mark.s3
def test_ordered_file_reaches_the_handler_byte_identical_on_postgres_and_s3(
    live_api_factory: Callable[..., Any],
    make_postgres_database: Callable[[], str],
    s3_endpoint: str,
    s3_bucket: str,
    start_executor: Callable[..., Any],
    write_manifest: Callable[[str], Path],
    write_script: Callable[[str, str], Path],
    tmp_path: Path,
) -> None:
    api = live_api_factory(
        database_url=make_postgres_database(),
        storage_url=f"s3://{s3_bucket}/inputs-e2e",
        env={"AGNT_S3_ENDPOINT_URL": s3_endpoint},
    )
    order_and_check(api, start_executor, write_manifest, write_script, tmp_path)


def test_oversize_file_is_413_exit_2_and_leaves_nothing(
    live_api_factory: Callable[..., Any], tmp_path: Path
) -> None:
    api = live_api_factory(env={"AGNT_MAX_INPUT_BYTES": "1000"})
    with Client(base_url=api.url, api_key=api.executor_key) as executor:
        executor.publish_agent("copier", AgentPublish(name="Copier"))
    big = tmp_path / "big.bin"
    big.write_bytes(b"x" * 5000)
    refused = agnt(api, "order", "copier", "-p", "x", "--file", str(big))
    assert refused.returncode == 2, refused.stderr.decode()
    error = json.loads(refused.stderr.decode().strip().splitlines()[-1])
    assert error["error"]["code"] == "input_too_large"
    objects = api.data_dir / "objects"
    assert not objects.exists() or [p for p in objects.rglob("*") if p.is_file()] == []
    with Client(base_url=api.url, api_key=api.buyer_key) as buyer:
        assert buyer.list_jobs().items == []
    missing = agnt(api, "order", "copier", "-p", "x", "--file", str(tmp_path / "nope"))
    assert missing.returncode == 2
    assert json.loads(missing.stderr.decode().strip().splitlines()[-1])["error"]["code"] == (
        "invalid_file"
    )


def test_corrupted_input_fails_the_job_with_a_clear_reason(
    live_api: Any,
    start_executor: Callable[..., Any],
    write_manifest: Callable[[str], Path],
    write_script: Callable[[str, str], Path],
    tmp_path: Path,
) -> None:
    script = write_script("copy-inputs", COPY_INPUTS)
    manifest = write_manifest(MANIFEST.format(script=script).replace("copier", "copier-2"))
    with Client(base_url=live_api.url, api_key=live_api.buyer_key) as buyer:
        uploaded = buyer.upload_file(("in.txt", b"original content"))
        stored = next(
            p
            for p in (live_api.data_dir / "objects").rglob("*")
            if p.is_file() and p.read_bytes() == b"original content"
        )
        stored.write_bytes(b"tampered content")
        start_executor(
            "run",
            str(manifest),
            env={"AGNT_API_URL": live_api.url, "AGNT_API_KEY": live_api.executor_key},
        )
        job = buyer.create_job("copier-2", "x", inputs=[InputRef(file_id=uploaded.id)])
        done = buyer.wait_for_job(job.id, timeout=60)
    assert done.status is JobStatus.FAILED
    assert "in.txt" in (done.decision_reason or "")
    assert "integrity" in (done.decision_reason or "")
