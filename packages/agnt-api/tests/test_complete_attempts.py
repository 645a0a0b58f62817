"""Completions are fenced by attempt: a run that lost its job cannot complete it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx

from agnt_api.services.leases import expire_leases

from .conftest import Api

BOUNDARY = "fence-boundary"


async def _claim(api: Api) -> list[dict[str, Any]]:
    response = await api.client.post(
        "/v1/executor/claims", headers=api.auth("executor-x"), json={"max": 10}
    )
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


async def _complete(
    api: Api,
    job_id: str,
    files: list[tuple[str, bytes]],
    *,
    attempt: int | None = None,
    key: str | None = None,
) -> httpx.Response:
    headers = api.auth("executor-x")
    if attempt is not None:
        headers["Agnt-Attempt"] = str(attempt)
    if key is not None:
        headers["Idempotency-Key"] = key
    return await api.client.post(
        f"/v1/executor/jobs/{job_id}/complete",
        headers=headers,
        files=[("files", (name, data)) for name, data in files],
    )


async def _job(api: Api, job_id: str) -> dict[str, Any]:
    response = await api.client.get(f"/v1/jobs/{job_id}", headers=api.auth("buyer-a"))
    return dict(response.json())


async def _result_names(api: Api, job_id: str) -> list[str]:
    response = await api.client.get(f"/v1/jobs/{job_id}/result", headers=api.auth("buyer-a"))
    assert response.status_code == 200, response.text
    return [f["name"] for f in response.json()["files"]]


def _stored(api: Api) -> list[Path]:
    root = Path(api.runtime.storage.root)  # type: ignore[attr-defined]
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


async def _lost_and_reclaimed(make_api: Any, api: Api) -> tuple[Api, str]:
    """A job whose first run lost its lease; executor X claimed and started it again."""
    short: Api = await make_api(lease_seconds=0.05)
    short.keys, short.principal_ids = api.keys, api.principal_ids
    await short.publish("executor-x", "echo")
    job = await short.order("buyer-a", "echo")
    assert [j["attempt"] for j in await _claim(short)] == [1]
    assert (await short.report("executor-x", job["id"], "running", attempt=1)).status_code == 200
    await asyncio.sleep(0.1)
    assert await expire_leases(short.runtime) == [job["id"]]
    # The same executor principal takes it again: only the attempt tells the runs apart.
    assert [j["attempt"] for j in await _claim(short)] == [2]
    assert (await short.report("executor-x", job["id"], "running", attempt=2)).status_code == 200
    return short, str(job["id"])


async def test_the_lost_attempts_completion_is_409_and_the_current_one_completes(
    make_api: Any, api: Api
) -> None:
    short, job_id = await _lost_and_reclaimed(make_api, api)
    stale = await _complete(short, job_id, [("old.txt", b"first run")], attempt=1, key="run-1")
    assert stale.status_code == 409, stale.text
    assert stale.json()["code"] == "stale_attempt"
    assert _stored(short) == []
    assert ((await _job(short, job_id))["status"], (await _job(short, job_id))["attempt"]) == (
        "running",
        2,
    )

    done = await _complete(short, job_id, [("new.txt", b"second run")], attempt=2, key="run-2")
    assert done.status_code == 200, done.text
    assert (done.json()["status"], done.json()["attempt"]) == ("completed", 2)
    assert await _result_names(short, job_id) == ["new.txt"]
    assert [p.read_bytes() for p in _stored(short)] == [b"second run"]

    # After the completion the first run still gets stale_attempt, not the stored result.
    late = await _complete(short, job_id, [("old.txt", b"first run")], attempt=1, key="run-1")
    assert late.status_code == 409 and late.json()["code"] == "stale_attempt"
    assert [p.read_bytes() for p in _stored(short)] == [b"second run"]


async def test_a_job_lost_while_its_files_upload_is_409_and_keeps_nothing(
    make_api: Any, api: Api
) -> None:
    short: Api = await make_api(lease_seconds=0.05)
    short.keys, short.principal_ids = api.keys, api.principal_ids
    await short.publish("executor-x", "echo")
    job_id = str((await short.order("buyer-a", "echo"))["id"])
    await _claim(short)
    assert (await short.report("executor-x", job_id, "running", attempt=1)).status_code == 200
    first_part_sent = asyncio.Event()
    go_on = asyncio.Event()

    async def body() -> AsyncIterator[bytes]:
        yield (
            f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=files; "
            f'filename="a.txt"\r\nContent-Type: text/plain\r\n\r\nfirst\r\n'
        ).encode()
        first_part_sent.set()
        await go_on.wait()
        yield (
            f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=files; "
            f'filename="b.txt"\r\nContent-Type: text/plain\r\n\r\nsecond\r\n--{BOUNDARY}--\r\n'
        ).encode()

    headers = {
        **short.auth("executor-x"),
        "Agnt-Attempt": "1",
        "Content-Type": f"multipart/form-data; boundary={BOUNDARY}",
    }
    upload = asyncio.create_task(
        short.client.post(f"/v1/executor/jobs/{job_id}/complete", headers=headers, content=body())
    )
    await asyncio.wait_for(first_part_sent.wait(), 10)
    # While the first run's files stream in, its lease ends and the job is claimed again.
    await asyncio.sleep(0.1)
    assert await expire_leases(short.runtime) == [job_id]
    assert [j["attempt"] for j in await _claim(short)] == [2]
    assert (await short.report("executor-x", job_id, "running", attempt=2)).status_code == 200
    go_on.set()
    stale = await asyncio.wait_for(upload, 10)
    assert stale.status_code == 409, stale.text
    assert stale.json()["code"] == "stale_attempt"
    assert _stored(short) == []
    assert (await _job(short, job_id))["status"] == "running"


async def test_a_completion_without_an_attempt_still_completes_a_held_job(
    api: Api, echo: Any
) -> None:
    job = await api.order("buyer-a", "echo")
    await _claim(api)
    assert (await api.report("executor-x", job["id"], "running")).status_code == 200
    done = await _complete(api, job["id"], [("out.txt", b"older client")])
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "completed"


async def test_a_repeated_completion_of_the_same_attempt_answers_the_stored_result(
    make_api: Any, api: Api
) -> None:
    short, job_id = await _lost_and_reclaimed(make_api, api)
    first = await _complete(short, job_id, [("out.txt", b"once")], attempt=2, key="same")
    assert first.status_code == 200, first.text
    again = await _complete(short, job_id, [("out.txt", b"twice")], attempt=2, key="same")
    assert again.status_code == 200, again.text
    assert again.json() == first.json()
    assert [p.read_bytes() for p in _stored(short)] == [b"once"]
    other = await _complete(short, job_id, [("out.txt", b"other")], attempt=2, key="other")
    assert other.status_code == 409 and other.json()["code"] == "invalid_transition"


async def test_a_bad_attempt_header_is_422(api: Api, echo: Any) -> None:
    job = await api.order("buyer-a", "echo")
    await _claim(api)
    for bad in ("0", "one"):
        response = await api.client.post(
            f"/v1/executor/jobs/{job['id']}/complete",
            headers={**api.auth("executor-x"), "Agnt-Attempt": bad},
            files=[("files", ("out.txt", b"x"))],
        )
        assert response.status_code == 422, response.text
    assert _stored(api) == []


async def test_log_lines_of_a_lost_attempt_are_409_and_not_logged(make_api: Any, api: Api) -> None:
    short, job_id = await _lost_and_reclaimed(make_api, api)

    async def send(attempt: int | None, text: str) -> httpx.Response:
        body: dict[str, Any] = {"lines": [{"stream": "stdout", "text": text}]}
        if attempt is not None:
            body["attempt"] = attempt
        return await short.client.post(
            f"/v1/executor/jobs/{job_id}/logs", headers=short.auth("executor-x"), json=body
        )

    stale = await send(1, "from the lost run")
    assert stale.status_code == 409 and stale.json()["code"] == "stale_attempt"
    assert (await send(2, "from the current run")).status_code == 202
    assert (await send(None, "from an older client")).status_code == 202
    events = await short.client.get(
        f"/v1/jobs/{job_id}/events",
        headers={**short.auth("buyer-a"), "Accept": "application/json"},
    )
    logged = [
        line["text"]
        for event in events.json()["items"]
        if event["kind"] == "log"
        for line in event["data"]["lines"]
    ]
    assert logged == ["from the current run", "from an older client"]


async def test_inputs_of_a_lost_attempt_are_409_for_that_run(api: Api) -> None:
    await api.publish("executor-x", "reader", input_files={"min": 1, "max": 1})
    ordered = await api.client.post(
        "/v1/jobs",
        headers=api.auth("buyer-a"),
        files=[
            ("order", (None, '{"agent_id": "reader", "prompt": "x"}', "application/json")),
            ("files", ("in.txt", b"input bytes", "text/plain")),
        ],
    )
    assert ordered.status_code == 201, ordered.text
    job_id = ordered.json()["id"]
    await _claim(api)
    released = await api.client.post(
        f"/v1/executor/jobs/{job_id}/release", headers=api.auth("executor-x"), json={"attempt": 1}
    )
    assert released.json()["attempt"] == 2
    assert [j["attempt"] for j in await _claim(api)] == [2]
    routes = [f"/v1/executor/jobs/{job_id}/inputs", f"/v1/executor/jobs/{job_id}/inputs/in.txt"]
    for route in routes:
        stale = await api.client.get(route, headers={**api.auth("executor-x"), "Agnt-Attempt": "1"})
        assert stale.status_code == 409 and stale.json()["code"] == "stale_attempt"
        current = await api.client.get(
            route, headers={**api.auth("executor-x"), "Agnt-Attempt": "2"}
        )
        assert current.status_code == 200, current.text
        assert (await api.client.get(route, headers=api.auth("executor-x"))).status_code == 200
    got = await api.client.get(routes[1], headers={**api.auth("executor-x"), "Agnt-Attempt": "2"})
    assert got.content == b"input bytes"
