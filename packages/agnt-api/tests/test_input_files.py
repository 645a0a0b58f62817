"""Input files over the real app (SQLite and Postgres, file storage): upload, order, read,
limits that leave nothing behind, owners only, the expiry sweep, every error code."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
import sqlalchemy as sa

from agnt_api.db.tables import input_files, job_inputs, jobs
from agnt_api.services.input_files import sweep_expired_inputs
from agnt_models import Role

from .conftest import Api

DATA = b"col1,col2\n1,2\n" * 1000


def stored_objects(tmp_path: Path) -> list[Path]:
    """Every file the test's file storage holds (temp parts included)."""
    root = tmp_path / "objects"
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def count_rows(api: Api, table: sa.Table) -> int:
    """Rows in ``table``."""
    return int(
        api.runtime.database.transact(
            lambda c: c.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()
        )
    )


async def upload(
    api: Api, who: str, name: str, data: bytes, mime: str = "text/csv"
) -> httpx.Response:
    """``POST /v1/files`` as ``who``."""
    return await api.client.post(
        "/v1/files", headers=api.auth(who), files={"file": (name, data, mime)}
    )


async def order_multipart(
    api: Api, who: str, order: dict[str, Any], files: list[tuple[str, bytes, str]]
) -> httpx.Response:
    """A multipart ``POST /v1/jobs``: the order part, then the file parts."""
    parts: list[tuple[str, Any]] = [("order", (None, json.dumps(order), "application/json"))]
    parts += [("files", (name, data, mime)) for name, data, mime in files]
    return await api.client.post("/v1/jobs", headers=api.auth(who), files=parts)


@pytest.fixture
async def reader(api: Api) -> dict[str, Any]:
    """Agent ``reader`` (executor X) that takes 1 to 2 CSV or text files."""
    return await api.publish(
        "executor-x",
        "reader",
        input_files={"min": 1, "max": 2, "media_types": ["text/csv", "text/*"]},
    )


async def test_upload_records_size_sha256_type_and_an_expiry(api: Api) -> None:
    response = await upload(api, "buyer-a", "data.csv", DATA)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["size"] == len(DATA)
    assert body["sha256"] == hashlib.sha256(DATA).hexdigest()
    assert body["media_type"] == "text/csv"
    assert body["name"] == "data.csv"
    assert body["expires_at"] is not None
    got = await api.client.get(f"/v1/files/{body['id']}", headers=api.auth("buyer-a"))
    assert got.status_code == 200
    assert got.json() == body


async def test_another_buyers_file_is_404(api: Api) -> None:
    file_id = (await upload(api, "buyer-a", "a.csv", DATA)).json()["id"]
    got = await api.client.get(f"/v1/files/{file_id}", headers=api.auth("buyer-b"))
    assert got.status_code == 404
    assert got.json()["code"] == "input_file_not_found"
    deleted = await api.client.delete(f"/v1/files/{file_id}", headers=api.auth("buyer-b"))
    assert deleted.status_code == 404


async def test_order_referencing_another_buyers_file_is_404(api: Api, reader: Any) -> None:
    file_id = (await upload(api, "buyer-a", "a.csv", DATA)).json()["id"]
    response = await api.client.post(
        "/v1/jobs",
        headers=api.auth("buyer-b"),
        json={"agent_id": "reader", "prompt": "x", "inputs": [{"file_id": file_id}]},
    )
    assert response.status_code == 404
    assert response.json()["code"] == "input_file_not_found"
    assert count_rows(api, jobs) == 0


async def test_delete_unused_file_removes_row_and_object(api: Api, tmp_path: Path) -> None:
    file_id = (await upload(api, "buyer-a", "a.csv", DATA)).json()["id"]
    assert stored_objects(tmp_path)
    deleted = await api.client.delete(f"/v1/files/{file_id}", headers=api.auth("buyer-a"))
    assert deleted.status_code == 204
    assert stored_objects(tmp_path) == []
    assert count_rows(api, input_files) == 0


async def test_order_by_reference_and_read_inputs_as_buyer_and_executor(
    api: Api, reader: Any
) -> None:
    file_id = (await upload(api, "buyer-a", "a.csv", DATA)).json()["id"]
    response = await api.client.post(
        "/v1/jobs",
        headers=api.auth("buyer-a"),
        json={
            "agent_id": "reader",
            "prompt": "x",
            "inputs": [{"file_id": file_id, "name": "table.csv"}],
        },
    )
    assert response.status_code == 201, response.text
    job_id = response.json()["id"]
    listed = await api.client.get(f"/v1/jobs/{job_id}/inputs", headers=api.auth("buyer-a"))
    assert listed.status_code == 200
    [entry] = listed.json()["files"]
    assert entry["name"] == "table.csv"
    assert entry["sha256"] == hashlib.sha256(DATA).hexdigest()
    got = await api.client.get(entry["download_url"], headers=api.auth("buyer-a"))
    assert got.status_code == 200
    assert got.content == DATA
    # Used by a job: it no longer expires, and cannot be deleted.
    meta = await api.client.get(f"/v1/files/{file_id}", headers=api.auth("buyer-a"))
    assert meta.json()["expires_at"] is None
    deleted = await api.client.delete(f"/v1/files/{file_id}", headers=api.auth("buyer-a"))
    assert deleted.status_code == 409
    assert deleted.json()["code"] == "input_file_in_use"
    # The executor reads them only while it holds the job.
    route = f"/v1/executor/jobs/{job_id}/inputs/table.csv"
    pending = await api.client.get(route, headers=api.auth("executor-x"))
    assert pending.status_code == 404
    claim = await api.client.post(
        "/v1/executor/claims", headers=api.auth("executor-x"), json={"max": 1}
    )
    assert [j["id"] for j in claim.json()["items"]] == [job_id]
    held = await api.client.get(route, headers=api.auth("executor-x"))
    assert held.status_code == 200
    assert held.content == DATA
    listed_x = await api.client.get(
        f"/v1/executor/jobs/{job_id}/inputs", headers=api.auth("executor-x")
    )
    assert listed_x.json()["files"][0]["download_url"].endswith(route)
    other_executor = await api.client.get(route, headers=api.auth("executor-y"))
    assert other_executor.status_code == 404


async def test_another_buyer_cannot_read_a_jobs_inputs(api: Api, reader: Any) -> None:
    response = await order_multipart(
        api, "buyer-a", {"agent_id": "reader", "prompt": "x"}, [("a.csv", DATA, "text/csv")]
    )
    assert response.status_code == 201, response.text
    job_id = response.json()["id"]
    for path in (f"/v1/jobs/{job_id}/inputs", f"/v1/jobs/{job_id}/inputs/a.csv"):
        got = await api.client.get(path, headers=api.auth("buyer-b"))
        assert got.status_code == 404
        assert got.json()["code"] == "job_not_found"
    missing = await api.client.get(f"/v1/jobs/{job_id}/inputs/b.csv", headers=api.auth("buyer-a"))
    assert missing.status_code == 404
    assert missing.json()["code"] == "input_file_not_found"


async def test_multipart_order_uploads_and_attaches_the_files(api: Api, reader: Any) -> None:
    response = await order_multipart(
        api,
        "buyer-a",
        {"agent_id": "reader", "prompt": "sum it"},
        [("a.csv", DATA, "text/csv"), ("notes.txt", b"hi", "text/plain")],
    )
    assert response.status_code == 201, response.text
    job_id = response.json()["id"]
    listed = await api.client.get(f"/v1/jobs/{job_id}/inputs", headers=api.auth("buyer-a"))
    assert [f["name"] for f in listed.json()["files"]] == ["a.csv", "notes.txt"]
    assert count_rows(api, job_inputs) == 2


async def test_json_orders_still_reach_the_json_route(api: Api, echo: Any) -> None:
    job = await api.order("buyer-a", "echo", count=2)
    assert job["status"] == "pending"


async def test_oversize_upload_with_content_length_is_413_before_storing(
    make_api: Callable[..., Any], tmp_path: Path
) -> None:
    api: Api = await make_api(max_input_bytes=1000)
    api.make_key("buyer", Role.BUYER)
    response = await upload(api, "buyer", "big.bin", b"x" * 5000)
    assert response.status_code == 413
    assert response.json()["code"] == "input_too_large"
    assert stored_objects(tmp_path) == []
    assert count_rows(api, input_files) == 0
    await api.client.aclose()
    await api.runtime.close()


async def test_oversize_streamed_upload_is_cut_off_and_leaves_nothing(
    make_api: Callable[..., Any], tmp_path: Path
) -> None:
    api: Api = await make_api(max_input_bytes=200_000)
    api.make_key("buyer", Role.BUYER)
    boundary = "b0undary"

    async def body() -> AsyncIterator[bytes]:  # no Content-Length: chunked
        yield (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
            f'filename="big.bin"\r\nContent-Type: application/octet-stream\r\n\r\n'
        ).encode()
        for _ in range(100):
            yield b"y" * 10_000
        yield f"\r\n--{boundary}--\r\n".encode()

    response = await api.client.post(
        "/v1/files",
        headers={**api.auth("buyer"), "Content-Type": f"multipart/form-data; boundary={boundary}"},
        content=body(),
    )
    assert response.status_code == 413
    assert response.json()["code"] == "input_too_large"
    assert stored_objects(tmp_path) == []
    assert count_rows(api, input_files) == 0
    await api.client.aclose()
    await api.runtime.close()


async def test_oversize_multipart_order_is_413_and_keeps_no_file(
    make_api: Callable[..., Any], tmp_path: Path
) -> None:
    api: Api = await make_api(max_input_bytes=30_000)
    api.make_key("buyer", Role.BUYER)
    api.make_key("executor", Role.EXECUTOR)
    await api.publish("executor", "reader")
    response = await order_multipart(
        api,
        "buyer",
        {"agent_id": "reader", "prompt": "x"},
        [("a.bin", b"a" * 20_000, "application/octet-stream")]
        + [("b.bin", b"b" * 20_000, "application/octet-stream")],
    )
    assert response.status_code == 413
    assert response.json()["code"] == "input_too_large"
    assert stored_objects(tmp_path) == []
    assert count_rows(api, input_files) == 0
    assert count_rows(api, jobs) == 0
    await api.client.aclose()
    await api.runtime.close()


async def test_too_many_input_files_is_413(make_api: Callable[..., Any], tmp_path: Path) -> None:
    api: Api = await make_api(max_input_files=2)
    api.make_key("buyer", Role.BUYER)
    api.make_key("executor", Role.EXECUTOR)
    await api.publish("executor", "reader")
    files = [(f"{n}.txt", b"x", "text/plain") for n in range(3)]
    response = await order_multipart(api, "buyer", {"agent_id": "reader", "prompt": "x"}, files)
    assert response.status_code == 413
    assert response.json()["code"] == "too_many_input_files"
    assert stored_objects(tmp_path) == []
    ids = [(await upload(api, "buyer", f"{n}.txt", b"x")).json()["id"] for n in range(3)]
    by_reference = await api.client.post(
        "/v1/jobs",
        headers=api.auth("buyer"),
        json={"agent_id": "reader", "prompt": "x", "inputs": [{"file_id": i} for i in ids]},
    )
    assert by_reference.status_code == 413
    assert by_reference.json()["code"] == "too_many_input_files"
    assert count_rows(api, jobs) == 0
    await api.client.aclose()
    await api.runtime.close()


async def test_agent_rule_is_checked_at_order_time(api: Api, reader: Any, tmp_path: Path) -> None:
    # Too few: the rule wants at least one file.
    none = await api.client.post(
        "/v1/jobs", headers=api.auth("buyer-a"), json={"agent_id": "reader", "prompt": "x"}
    )
    assert none.status_code == 422
    assert none.json()["code"] == "input_files_not_accepted"
    assert "at least 1" in none.json()["detail"]
    # A type the agent does not take, uploaded in the order: refused before it is stored.
    pdf = await order_multipart(
        api,
        "buyer-a",
        {"agent_id": "reader", "prompt": "x"},
        [("a.pdf", b"%PDF", "application/pdf")],
    )
    assert pdf.status_code == 422
    assert pdf.json()["code"] == "input_files_not_accepted"
    assert "application/pdf" in pdf.json()["detail"]
    # Too many: the rule takes at most two.
    three = await order_multipart(
        api,
        "buyer-a",
        {"agent_id": "reader", "prompt": "x"},
        [(f"{n}.csv", DATA, "text/csv") for n in range(3)],
    )
    assert three.status_code == 422
    assert three.json()["code"] == "input_files_not_accepted"
    assert stored_objects(tmp_path) == []
    assert count_rows(api, input_files) == 0
    assert count_rows(api, jobs) == 0


async def test_publish_refuses_a_rule_with_min_above_max(api: Api) -> None:
    response = await api.client.put(
        "/v1/executor/agents/bad-rule",
        headers=api.auth("executor-x"),
        json={"name": "Bad", "input_files": {"min": 3, "max": 1}},
    )
    assert response.status_code == 422
    assert response.json()["code"] == "validation_error"
    agent = await api.publish("executor-x", "good-rule", input_files={"media_types": ["IMAGE/*"]})
    assert agent["input_files"] == {"min": 0, "max": 10, "media_types": ["image/*"]}


async def test_input_names_follow_the_result_file_rule(api: Api, reader: Any) -> None:
    bad = await upload(api, "buyer-a", "con.txt", b"x", "text/plain")
    assert bad.status_code == 422
    assert bad.json()["code"] == "validation_error"
    file_id = (await upload(api, "buyer-a", "a.csv", DATA)).json()["id"]
    twice = await api.client.post(
        "/v1/jobs",
        headers=api.auth("buyer-a"),
        json={
            "agent_id": "reader",
            "prompt": "x",
            "inputs": [{"file_id": file_id}, {"file_id": file_id, "name": "A.csv"}],
        },
    )
    assert twice.status_code == 422
    assert twice.json()["code"] == "validation_error"


async def test_upload_needs_exactly_one_file_part(api: Api) -> None:
    none = await api.client.post(
        "/v1/files", headers=api.auth("buyer-a"), files={"other": (None, "x")}
    )
    assert none.status_code == 422
    two = await api.client.post(
        "/v1/files",
        headers=api.auth("buyer-a"),
        files=[("file", ("a.txt", b"a")), ("file", ("b.txt", b"b"))],
    )
    assert two.status_code == 422
    assert two.json()["code"] == "validation_error"
    not_multipart = await api.client.post("/v1/files", headers=api.auth("buyer-a"), content=b"raw")
    assert not_multipart.status_code == 415


async def test_multipart_order_with_a_bad_order_part_is_422(api: Api, reader: Any) -> None:
    response = await order_multipart(api, "buyer-a", {"agent_id": "reader"}, [])
    assert response.status_code == 422
    assert response.json()["code"] == "validation_error"
    assert any(e["loc"].startswith("order") for e in response.json()["errors"])
    files_first = await api.client.post(
        "/v1/jobs", headers=api.auth("buyer-a"), files=[("files", ("a.csv", DATA, "text/csv"))]
    )
    assert files_first.status_code == 422


async def test_expiry_sweep_deletes_unused_files_and_objects(
    make_api: Callable[..., Any], tmp_path: Path
) -> None:
    api: Api = await make_api(input_file_ttl_seconds=1)
    api.make_key("buyer", Role.BUYER)
    api.make_key("executor", Role.EXECUTOR)
    await api.publish("executor", "reader")
    used = await order_multipart(
        api, "buyer", {"agent_id": "reader", "prompt": "x"}, [("kept.csv", DATA, "text/csv")]
    )
    assert used.status_code == 201, used.text
    unused = (await upload(api, "buyer", "gone.csv", DATA)).json()["id"]
    assert len(stored_objects(tmp_path)) == 2
    assert await sweep_expired_inputs(api.runtime) == 0
    await anyio.sleep(1.1)
    assert await sweep_expired_inputs(api.runtime) == 1
    assert len(stored_objects(tmp_path)) == 1
    assert count_rows(api, input_files) == 1
    gone = await api.client.get(f"/v1/files/{unused}", headers=api.auth("buyer"))
    assert gone.status_code == 404
    # An expired file (not yet swept) cannot be ordered either.
    late = (await upload(api, "buyer", "late.csv", DATA)).json()["id"]
    await anyio.sleep(1.1)
    refused = await api.client.post(
        "/v1/jobs",
        headers=api.auth("buyer"),
        json={"agent_id": "reader", "prompt": "x", "inputs": [{"file_id": late}]},
    )
    assert refused.status_code == 404
    assert refused.json()["code"] == "input_file_not_found"
    await api.client.aclose()
    await api.runtime.close()


async def test_unknown_file_id_is_404(api: Api) -> None:
    got = await api.client.get(f"/v1/files/{uuid.uuid4()}", headers=api.auth("buyer-a"))
    assert got.status_code == 404
    assert got.json()["code"] == "input_file_not_found"
