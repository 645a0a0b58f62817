"""Input files through both clients against the real API: upload (paths, bytes, file
objects), order with ``files=``, verified downloads as the buyer and as the executor."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path
from typing import Any

import pytest

from agnt_client import ChecksumMismatchError, NotFoundError
from agnt_models import AgentPublish, InputFilesRule


def test_upload_file_from_a_path_bytes_and_a_file_object(connect: Any, tmp_path: Path) -> None:
    buyer = connect("buyer")
    path = tmp_path / "table.csv"
    path.write_bytes(b"a,b\n1,2\n")
    from_path = buyer.upload_file(path)
    assert from_path.name == "table.csv"
    assert from_path.sha256 == hashlib.sha256(b"a,b\n1,2\n").hexdigest()
    assert from_path.media_type == "text/csv"
    from_bytes = buyer.upload_file(("notes.txt", b"hello"))
    assert (from_bytes.name, from_bytes.size) == ("notes.txt", 5)
    from_stream = buyer.upload_file(("blob.bin", io.BytesIO(b"\x00" * 1000)))
    assert from_stream.size == 1000
    assert buyer.get_file(from_stream.id) == from_stream
    buyer.delete_file(from_stream.id)
    with pytest.raises(NotFoundError) as caught:
        buyer.get_file(from_stream.id)
    assert caught.value.code == "input_file_not_found"


def test_order_with_files_reaches_the_executor_byte_identical(
    connect: Any, agent_id: str, tmp_path: Path
) -> None:
    executor, buyer, other = connect("executor"), connect("buyer"), connect("other_buyer")
    executor.publish_agent(
        agent_id, AgentPublish(name="Reads", input_files=InputFilesRule(min=1, max=3))
    )
    body = bytes(range(256)) * 300
    source = tmp_path / "data.bin"
    source.write_bytes(body)
    job = buyer.create_job(agent_id, "read", files=[source, ("extra.txt", b"x")])
    listed = buyer.job_inputs(job.id)
    assert [entry.name for entry in listed.files] == ["data.bin", "extra.txt"]
    with pytest.raises(NotFoundError):
        other.job_inputs(job.id)
    [claimed] = executor.claim_jobs(max=1, agent_ids=[agent_id])
    assert claimed.id == job.id
    got = executor.download_inputs(job.id, tmp_path / "in", as_executor=True)
    assert [(f.name, f.path.read_bytes()) for f in got] == [
        ("data.bin", body),
        ("extra.txt", b"x"),
    ]


def test_corrupted_input_raises_checksum_mismatch(
    api: Any, connect: Any, agent_id: str, tmp_path: Path
) -> None:
    executor, buyer = connect("executor"), connect("buyer")
    executor.publish_agent(agent_id, AgentPublish(name="Reads"))
    body = b"original bytes " * 100
    job = buyer.create_job(agent_id, "read", files=[("in.txt", body)])
    stored = next(
        p for p in (api.data_dir / "objects").rglob("*") if p.is_file() and p.read_bytes() == body
    )
    stored.write_bytes(body.replace(b"original", b"tampered"))
    with pytest.raises(ChecksumMismatchError):
        buyer.download_inputs(job.id, tmp_path / "in")
    assert not (tmp_path / "in" / "in.txt").exists()
