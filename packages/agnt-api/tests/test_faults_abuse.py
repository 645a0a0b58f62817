"""Abuse: oversized, deep, malformed and forged input gets a clear 4xx and writes nothing.

Each test drives a real ``agnt-server serve`` on Postgres, sends a batch of bad requests,
and checks every answer (status, problem+json, code) before checking that no row and no
stored file appeared. All mismatches are reported together.
"""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest

pytestmark = [pytest.mark.postgres, pytest.mark.slow, pytest.mark.timeout(180)]

AGENT_ID = "abuse-agent"
PROBLEM = "application/problem+json"
MAX_UPLOAD_BYTES = 1024 * 1024
TABLES = (
    "principals",
    "api_keys",
    "agents",
    "agent_tags",
    "jobs",
    "job_results",
    "idempotency_keys",
)


def _auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def _row_counts(database_url: str) -> dict[str, int]:
    with psycopg.connect(database_url) as connection:
        return {
            table: connection.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            for table in TABLES
        }


def _stored_files(storage_root: Path) -> list[Path]:
    return [path for path in storage_root.rglob("*") if path.is_file()]


class Expectations:
    """Collects every answer that is not the expected problem, to report them all at once."""

    def __init__(self) -> None:
        self.mismatches: list[str] = []

    def problem(self, label: str, response: httpx.Response, status: int, code: str) -> None:
        """Expect ``status`` with a problem+json body carrying ``code``."""
        content_type = response.headers.get("content-type", "")
        body_code = None
        if content_type.startswith(PROBLEM):
            body_code = response.json().get("code")
        if response.status_code != status or body_code != code:
            self.mismatches.append(
                f"{label}: expected {status} {code}, got {response.status_code} "
                f"{content_type} {response.text[:200]!r}"
            )

    def check(self) -> None:
        """Fail with the list of mismatches, if any."""
        assert not self.mismatches, "\n".join(self.mismatches)


@pytest.fixture
def abused_api(live_api_factory, make_postgres_database):
    """A live API on Postgres (uploads capped at 1 MiB) with one published agent."""
    api = live_api_factory(
        database_url=make_postgres_database(),
        env={"AGNT_MAX_UPLOAD_BYTES": str(MAX_UPLOAD_BYTES)},
    )
    published = httpx.put(
        f"{api.url}/v1/executor/agents/{AGENT_ID}",
        headers=_auth(api.executor_key),
        json={"name": "Abuse target", "input_schema": {"type": "object"}},
        timeout=30,
    )
    assert published.status_code == 201, published.text
    return api


def _deep_object(depth: int) -> str:
    return '{"a":' * depth + "1" + "}" * depth


def _deep_array(depth: int) -> str:
    return "[" * depth + "]" * depth


def test_oversized_deep_and_malformed_bodies_get_4xx_and_write_nothing(abused_api) -> None:
    api = abused_api
    before = _row_counts(api.database_url)
    expect = Expectations()
    json_type = {"content-type": "application/json"}
    with (
        httpx.Client(base_url=api.url, headers=_auth(api.buyer_key), timeout=60) as buyer,
        httpx.Client(base_url=api.url, headers=_auth(api.executor_key), timeout=60) as executor,
    ):
        huge_prompt = {"agent_id": AGENT_ID, "prompt": "x" * (3 * 1024 * 1024)}
        expect.problem(
            "3 MiB JSON body", buyer.post("/v1/jobs", json=huge_prompt), 413, "payload_too_large"
        )

        def chunked_body() -> Iterator[bytes]:
            yield b'{"agent_id":"abuse-agent","prompt":"'
            for _ in range(40):
                yield b"x" * 100_000
            yield b'"}'

        expect.problem(
            "4 MB chunked body without Content-Length",
            buyer.post("/v1/jobs", content=chunked_body(), headers=json_type),
            413,
            "payload_too_large",
        )
        for depth in (100_000, 5_000):
            deep_params = (
                f'{{"agent_id":"{AGENT_ID}","prompt":"deep","params":{_deep_object(depth)}}}'
            )
            expect.problem(
                f"params nested {depth} objects deep",
                buyer.post("/v1/jobs", content=deep_params, headers=json_type),
                400,
                "bad_request",
            )
            deep_list = (
                f'{{"agent_id":"{AGENT_ID}","prompt":"deep","params":{{"a":{_deep_array(depth)}}}}}'
            )
            expect.problem(
                f"params nested {depth} arrays deep",
                buyer.post("/v1/jobs", content=deep_list, headers=json_type),
                400,
                "bad_request",
            )
            deep_schema = f'{{"name":"Deep","input_schema":{{"not":{_deep_object(depth)}}}}}'
            expect.problem(
                f"input_schema nested {depth} deep",
                executor.put(
                    "/v1/executor/agents/deep-agent", content=deep_schema, headers=json_type
                ),
                400,
                "bad_request",
            )
        expect.problem(
            "invalid UTF-8 in a JSON string",
            buyer.post(
                "/v1/jobs",
                content=b'{"agent_id":"abuse-agent","prompt":"\xff\xfe broken"}',
                headers=json_type,
            ),
            400,
            "bad_request",
        )
        expect.problem(
            "invalid UTF-8 in an agent id",
            buyer.get("/v1/agents/%FF%FEagent"),
            422,
            "validation_error",
        )
        # Postgres cannot store U+0000 in text or jsonb: it must be refused, not crash.
        # (A fresh connection each: after a 500 the server drops the connection.)
        nul = "nul\u0000char"
        for label, body in (
            ("NUL in a prompt", {"agent_id": AGENT_ID, "prompt": nul}),
            ("NUL in params", {"agent_id": AGENT_ID, "prompt": "p", "params": {"k": nul}}),
            ("NUL in a params key", {"agent_id": AGENT_ID, "prompt": "p", "params": {nul: 1}}),
        ):
            response = httpx.post(
                f"{api.url}/v1/jobs", headers=_auth(api.buyer_key), json=body, timeout=60
            )
            expect.problem(label, response, 422, "validation_error")
        for label, body in (
            ("NUL in an agent name", {"name": nul}),
            ("NUL in a tag", {"name": "Tagged", "tags": [nul]}),
            ("NUL in an input_schema", {"name": "Schema", "input_schema": {"title": nul}}),
        ):
            response = httpx.put(
                f"{api.url}/v1/executor/agents/nul-agent",
                headers=_auth(api.executor_key),
                json=body,
                timeout=60,
            )
            expect.problem(label, response, 422, "validation_error")
        expect.problem(
            "JSON that is not an object",
            buyer.post("/v1/jobs", content=b"[1, 2, 3]", headers=json_type),
            422,
            "validation_error",
        )
        expect.problem(
            "truncated JSON",
            buyer.post("/v1/jobs", content=b'{"agent_id": "abuse-', headers=json_type),
            400,
            "bad_request",
        )
    expect.check()
    assert _row_counts(api.database_url) == before


def _fingerprint(*parts: object) -> str:
    # Cursors are unsigned base64 JSON, so a client can rebuild the filter fingerprint too.
    return hashlib.sha256(json.dumps([str(p) for p in parts]).encode()).hexdigest()[:16]


def _forged_positions(path: str) -> list[str]:
    """Cursors of the right listing and filters whose position is nonsense."""

    def encoded(document: object) -> str:
        return base64.urlsafe_b64encode(json.dumps(document).encode()).decode().rstrip("=")

    if path == "/v1/agents/search":
        query = _fingerprint([], None)
        return [
            encoded({"k": "agents", "q": query, "p": {"offset": offset}})
            for offset in (-1, "10", True, None, 10**30)
        ]
    kind, query = (
        ("jobs", _fingerprint(None, None, True))
        if path == "/v1/jobs"
        else ("executor-jobs", _fingerprint("pending", None, False))
    )
    return [
        encoded({"k": kind, "q": query, "p": position})
        for position in (
            {"t": "not a time", "i": str(uuid.uuid4())},
            {"t": "2026-01-01T00:00:00+00:00", "i": "not-a-uuid"},
            {"t": "99999-01-01T00:00:00", "i": str(uuid.uuid4())},
            {"t": 12, "i": 34},
            {},
        )
    ]


def test_huge_limits_and_forged_cursors_get_4xx(abused_api) -> None:
    api = abused_api
    expect = Expectations()

    def forged(document: object) -> str:
        return base64.urlsafe_b64encode(json.dumps(document).encode()).decode().rstrip("=")

    with (
        httpx.Client(base_url=api.url, headers=_auth(api.buyer_key), timeout=60) as buyer,
        httpx.Client(base_url=api.url, headers=_auth(api.executor_key), timeout=60) as executor,
    ):
        listings = {
            "/v1/jobs": buyer,
            "/v1/agents/search": buyer,
            "/v1/executor/jobs": executor,
        }
        for path, client in listings.items():
            for limit in ("1000000000000", "9" * 400, "-1", "0", "ten", "1e3"):
                expect.problem(
                    f"{path}?limit={limit[:20]}",
                    client.get(path, params={"limit": limit}),
                    422,
                    "validation_error",
                )
            expect.problem(
                f"{path} with a 3000-character cursor",
                client.get(path, params={"cursor": "A" * 3000}),
                422,
                "validation_error",
            )
            for cursor in (
                "!!!not-base64!!!",
                "abc",
                base64.urlsafe_b64encode(b"\xff\xfe\xfd").decode(),
                forged([1, 2, 3]),
                forged({"k": "another-listing", "q": "x", "p": {}}),
                forged({"k": "jobs", "q": "0" * 16, "p": {"t": "not a time", "i": "x"}}),
                forged({"k": "agents", "q": "0" * 16, "p": {"offset": -5}}),
                *_forged_positions(path),
            ):
                expect.problem(
                    f"{path} with forged cursor {cursor[:24]}",
                    client.get(path, params={"cursor": cursor}),
                    400,
                    "invalid_cursor",
                )
        for wait in ("1e308", "inf", "nan", "-1", "61"):
            expect.problem(
                f"/v1/executor/jobs?wait={wait}",
                executor.get("/v1/executor/jobs", params={"wait": wait}),
                422,
                "validation_error",
            )
            expect.problem(
                f"/v1/jobs/<id>?wait={wait}",
                buyer.get(f"/v1/jobs/{uuid.uuid4()}", params={"wait": wait}),
                422,
                "validation_error",
            )
    expect.check()
    # Cursors that a listing handed out still work (the forged ones were not just "all bad").
    with httpx.Client(base_url=api.url, headers=_auth(api.buyer_key), timeout=60) as buyer:
        for number in range(3):
            created = buyer.post("/v1/jobs", json={"agent_id": AGENT_ID, "prompt": f"p{number}"})
            assert created.status_code == 201
        first = buyer.get("/v1/jobs", params={"limit": 2}).json()
        second = buyer.get("/v1/jobs", params={"limit": 2, "cursor": first["next_cursor"]})
        assert second.status_code == 200
        assert len(second.json()["items"]) == 1


def _multipart(filename: bytes, content: bytes, boundary: str = "agntabuseboundary") -> bytes:
    """A multipart body with one ``files`` part, its filename sent as raw bytes."""
    return (
        f"--{boundary}\r\n".encode()
        + b'Content-Disposition: form-data; name="files"; filename="'
        + filename
        + b'"\r\nContent-Type: text/plain\r\n\r\n'
        + content
        + f"\r\n--{boundary}--\r\n".encode()
    )


def test_result_uploads_with_paths_or_bad_bodies_get_4xx_and_store_nothing(abused_api) -> None:
    api = abused_api
    storage_root = api.data_dir / "objects"
    expect = Expectations()
    multipart_type = {"content-type": "multipart/form-data; boundary=agntabuseboundary"}
    with (
        httpx.Client(base_url=api.url, headers=_auth(api.buyer_key), timeout=60) as buyer,
        httpx.Client(base_url=api.url, headers=_auth(api.executor_key), timeout=60) as executor,
    ):
        job_id = buyer.post("/v1/jobs", json={"agent_id": AGENT_ID, "prompt": "upload"}).json()[
            "id"
        ]
        for status in ("accepted", "running"):
            moved = executor.post(f"/v1/executor/jobs/{job_id}/status", json={"status": status})
            assert moved.status_code == 200, moved.text
        complete = f"/v1/executor/jobs/{job_id}/complete"
        before = _row_counts(api.database_url)
        for name in (
            b"../escape.txt",
            b"../../../../tmp/escape.txt",
            b"..",
            b".",
            b"",
            b"nested/escape.txt",
            b"/etc/passwd",
            b"..\\escape.txt",
            b"nul\x00byte.txt",
            b"line\nbreak.txt",
            b"a" * 300,
        ):
            expect.problem(
                f"result file named {name[:40]!r}",
                executor.post(complete, content=_multipart(name, b"data"), headers=multipart_type),
                422,
                "validation_error",
            )
        # A good file followed by a bad one: the good one must not be kept either.
        mixed = _multipart(b"good.txt", b"fine")[: -len(b"--agntabuseboundary--\r\n")] + _multipart(
            b"../bad.txt", b"evil"
        )
        expect.problem(
            "a good file, then a traversing one",
            executor.post(complete, content=mixed, headers=multipart_type),
            422,
            "validation_error",
        )
        oversized = _multipart(b"big.bin", b"x" * (2 * MAX_UPLOAD_BYTES))
        expect.problem(
            "2 MiB upload over a 1 MiB limit",
            executor.post(complete, content=oversized, headers=multipart_type),
            413,
            "payload_too_large",
        )

        def streamed() -> Iterator[bytes]:
            yield oversized[: 64 * 1024]
            for start in range(64 * 1024, len(oversized), 64 * 1024):
                yield oversized[start : start + 64 * 1024]

        expect.problem(
            "2 MiB upload over a 1 MiB limit, chunked",
            executor.post(complete, content=streamed(), headers=multipart_type),
            413,
            "payload_too_large",
        )
        expect.problem(
            "no part named files",
            executor.post(complete, files={"other": ("x.txt", b"x", "text/plain")}),
            422,
            "validation_error",
        )
        expect.problem(
            "JSON instead of multipart",
            executor.post(complete, json={"files": []}),
            415,
            "unsupported_media_type",
        )
        expect.problem(
            "multipart without a boundary",
            executor.post(complete, content=b"x", headers={"content-type": "multipart/form-data"}),
            400,
            "bad_request",
        )
        expect.problem(
            "multipart cut off inside a part",
            executor.post(
                complete,
                content=_multipart(b"cut.txt", b"data")[:-30],
                headers=multipart_type,
            ),
            400,
            "bad_request",
        )
        # Last: an API that mangles the name instead of refusing it completes the job here.
        expect.problem(
            "result file name that is not UTF-8",
            executor.post(
                complete,
                content=_multipart(b"invalid-utf8-\xff\xfe.txt", b"data"),
                headers=multipart_type,
            ),
            422,
            "validation_error",
        )
        job = buyer.get(f"/v1/jobs/{job_id}").json()
    expect.check()
    assert job["status"] == "running"
    assert _row_counts(api.database_url) == before
    assert _stored_files(storage_root) == []
    assert not (api.data_dir / "escape.txt").exists()
    assert not Path("/tmp/escape.txt").exists()
