"""Bad input of every kind answers a clear 4xx problem+json, never 500."""

from __future__ import annotations

from typing import Any

import pytest

SOME_JOB = "6f1c1a47-3c1e-4a53-9a2e-0d6f4a8f3b21"


def _is_problem(response: Any, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["code"] == code
    assert problem["status"] == status
    assert problem["title"]
    assert problem["request_id"] == response.headers["x-request-id"]


async def test_unknown_route_is_a_404_problem(api: Any) -> None:
    _is_problem(await api.client.get("/v1/nothing-here"), 404, "not_found")


async def test_wrong_method_is_a_405_problem(api: Any) -> None:
    _is_problem(
        await api.client.delete("/v1/jobs", headers=api.auth("buyer-a")), 405, "method_not_allowed"
    )


async def test_malformed_json_is_400(api: Any, echo: Any) -> None:
    response = await api.client.post(
        "/v1/jobs",
        headers={**api.auth("buyer-a"), "Content-Type": "application/json"},
        content=b'{"agent_id": "echo", ',
    )
    _is_problem(response, 400, "bad_request")
    assert "JSON" in response.json()["detail"]


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"agent_id": "echo", "prompt": 5}, "prompt"),
        ({"agent_id": "echo"}, "prompt"),
        ({"agent_id": "Not A Slug", "prompt": "x"}, "agent_id"),
        ({"agent_id": "echo", "prompt": "x", "params": []}, "params"),
        ({"agent_id": "echo", "prompt": "x", "surprise": 1}, "surprise"),
        ({"agent_id": "echo", "prompt": "x" * 100_001}, "prompt"),
    ],
)
async def test_wrong_types_and_fields_are_422_naming_the_field(
    api: Any, echo: Any, body: dict[str, Any], loc: str
) -> None:
    response = await api.client.post("/v1/jobs", headers=api.auth("buyer-a"), json=body)
    _is_problem(response, 422, "validation_error")
    assert response.json()["errors"][0]["loc"] == loc


async def test_status_report_with_bad_values_is_422(api: Any, echo: Any) -> None:
    job = await api.order("buyer-a", "echo")
    for body in ({"status": "accepted", "progress": 101}, {"status": "exploded"}, {}):
        response = (
            await api.report("executor-x", job["id"], **body)
            if body
            else (
                await api.client.post(
                    f"/v1/executor/jobs/{job['id']}/status", headers=api.auth("executor-x"), json={}
                )
            )
        )
        _is_problem(response, 422, "validation_error")


async def test_huge_json_body_is_413(api: Any, echo: Any) -> None:
    response = await api.client.post(
        "/v1/jobs",
        headers=api.auth("buyer-a"),
        json={"agent_id": "echo", "prompt": "x" * (3 * 1024 * 1024)},
    )
    _is_problem(response, 413, "payload_too_large")


async def test_huge_streamed_body_without_length_is_413(api: Any, echo: Any) -> None:
    async def body() -> Any:
        for _ in range(40):
            yield b" " * 100_000

    response = await api.client.post(
        "/v1/jobs",
        headers={**api.auth("buyer-a"), "Content-Type": "application/json"},
        content=body(),
    )
    _is_problem(response, 413, "payload_too_large")


async def test_upload_over_the_limit_is_413_and_leaves_the_job_running(
    make_api: Any, api: Any, echo: Any
) -> None:
    small = await make_api(max_upload_bytes=10_000)
    small.keys = api.keys
    job = await api.order("buyer-a", "echo")
    await api.run_to_running("executor-x", job["id"])
    response = await small.complete("executor-x", job["id"], [("big.bin", b"x" * 20_000)])
    _is_problem(response, 413, "payload_too_large")
    after = await api.client.get(f"/v1/jobs/{job['id']}", headers=api.auth("buyer-a"))
    assert after.json()["status"] == "running"


@pytest.mark.parametrize(
    "path",
    ["/v1/jobs/not-a-uuid", "/v1/jobs/123/result", "/v1/jobs/zz/files/a.txt"],
)
async def test_bad_uuid_is_422(api: Any, path: str) -> None:
    response = await api.client.get(path, headers=api.auth("buyer-a"))
    _is_problem(response, 422, "validation_error")
    assert response.json()["errors"][0]["loc"] == "path.job_id"


@pytest.mark.parametrize("cursor", ["zzz", "e30", "!!!", "eyJrIjoiam9icyJ9", "a" * 50])
async def test_bad_cursor_is_400_invalid_cursor(api: Any, cursor: str) -> None:
    for path in ("/v1/jobs", "/v1/agents/search"):
        response = await api.client.get(
            path, params={"cursor": cursor}, headers=api.auth("buyer-a")
        )
        _is_problem(response, 400, "invalid_cursor")


async def test_an_empty_cursor_is_422_like_any_value_outside_the_schema(api: Any) -> None:
    # The schema says a cursor is 1 to 2,000 characters: an empty one is not "no cursor".
    for path, who in (
        ("/v1/jobs", "buyer-a"),
        ("/v1/agents/search", "buyer-a"),
        ("/v1/executor/jobs", "executor-x"),
    ):
        response = await api.client.get(f"{path}?cursor=", headers=api.auth(who))
        _is_problem(response, 422, "validation_error")
        assert response.json()["errors"][0]["loc"] == "query.cursor"


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/v1/jobs", {"limit": 1000}),
        ("/v1/jobs", {"limit": 0}),
        ("/v1/jobs", {"limit": "many"}),
        ("/v1/jobs", {"status": "sleeping"}),
        ("/v1/agents/search", {"limit": 101}),
        ("/v1/jobs/" + SOME_JOB, {"wait": 61}),
        ("/v1/jobs/" + SOME_JOB, {"wait": -1}),
    ],
)
async def test_out_of_range_query_values_are_422(
    api: Any, path: str, params: dict[str, Any]
) -> None:
    response = await api.client.get(path, params=params, headers=api.auth("buyer-a"))
    _is_problem(response, 422, "validation_error")
    assert response.json()["errors"][0]["loc"].startswith("query.")


async def test_request_id_is_echoed_when_sane_and_made_otherwise(api: Any) -> None:
    echoed = await api.client.get("/healthz", headers={"X-Request-ID": "trace-123"})
    assert echoed.headers["x-request-id"] == "trace-123"
    replaced = await api.client.get("/healthz", headers={"X-Request-ID": "bad id\twith tab"})
    assert replaced.headers["x-request-id"] != "bad id\twith tab"
    assert len(replaced.headers["x-request-id"]) == 32


async def test_health_and_readiness(api: Any) -> None:
    assert (await api.client.get("/healthz")).json() == {"status": "ok", "checks": {}}
    ready = await api.client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"database": "ok", "storage": "ok"}


async def test_openapi_names_operations_after_tags(api: Any) -> None:
    spec = (await api.client.get("/openapi.json")).json()
    operation_ids = {
        operation["operationId"] for path in spec["paths"].values() for operation in path.values()
    }
    assert {"jobs_create_job", "executor_complete_job", "agents_search_agents"} <= operation_ids
    docs = await api.client.get("/docs")
    assert docs.status_code == 200


async def test_forged_search_cursor_with_a_huge_offset_is_400(api: Any) -> None:
    from agnt_api.services.cursors import encode_cursor, fingerprint

    cursor = encode_cursor("agents", fingerprint([], None), {"offset": 10**30})
    response = await api.client.get(
        "/v1/agents/search", params={"cursor": cursor}, headers=api.auth("buyer-a")
    )
    _is_problem(response, 400, "invalid_cursor")


async def test_result_file_name_that_is_not_utf8_is_422(api: Any, echo: Any) -> None:
    job = await api.order("buyer-a", "echo")
    await api.run_to_running("executor-x", job["id"])
    body = (
        b'--b\r\nContent-Disposition: form-data; name="files"; filename="\xff\xfe.txt"\r\n'
        b"\r\ndata\r\n--b--\r\n"
    )
    response = await api.client.post(
        f"/v1/executor/jobs/{job['id']}/complete",
        headers={**api.auth("executor-x"), "Content-Type": "multipart/form-data; boundary=b"},
        content=body,
    )
    _is_problem(response, 422, "validation_error")


async def test_nul_characters_are_422_on_every_database(api: Any, echo: Any) -> None:
    search = await api.client.get(
        "/v1/agents/search", params={"tag": "a\x00b"}, headers=api.auth("buyer-a")
    )
    _is_problem(search, 422, "validation_error")
    order = await api.client.post(
        "/v1/jobs",
        headers=api.auth("buyer-a"),
        json={"agent_id": "echo", "prompt": "x\x00y", "params": {}},
    )
    _is_problem(order, 422, "validation_error")
    assert order.json()["errors"][0]["loc"] == "prompt"
    publish = await api.client.put(
        "/v1/executor/agents/nul-agent",
        headers=api.auth("executor-x"),
        json={"name": "n", "input_schema": {"type": "object", "title": "\x00"}},
    )
    _is_problem(publish, 422, "validation_error")
    job = await api.order("buyer-a", "echo")
    report = await api.report("executor-x", job["id"], "rejected", reason="no\x00")
    _is_problem(report, 422, "validation_error")


async def test_query_parameter_without_a_name_is_400(api: Any) -> None:
    response = await api.client.get("/v1/jobs?limit=5&=null", headers=api.auth("buyer-a"))
    _is_problem(response, 400, "bad_request")
