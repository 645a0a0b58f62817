"""Hostile JSON Schemas and params (issue 13, findings 1, 2, 3, 4, 8, 13).

Each test plays the attacker through the real API (over ASGI, on SQLite and on Postgres):
a published schema is data, never an instruction to fetch; a pattern or a big array costs
its requester a fast 422, never other users their latency; values a database cannot store
are refused before any write, alike on both databases.
"""

from __future__ import annotations

import socket
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import anyio
import pytest
import sqlalchemy as sa

from agnt_api.auth import Principal
from agnt_api.db.tables import agents, jobs
from agnt_api.services import jobs as job_service
from agnt_api.services.jobs import AgentChangedDuringOrder
from agnt_models import JobCreate, Role

from .conftest import ON_SQLITE_ONLY, Api


class Listener:
    """A loopback TCP server that counts the connections it is offered (and answers none)."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.server.settimeout(0.05)
        self.port: int = self.server.getsockname()[1]
        self.connections = 0
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while not self.stopped.is_set():
            try:
                connection, _ = self.server.accept()
            except TimeoutError:
                continue
            self.connections += 1
            connection.close()

    def close(self) -> None:
        """Stop accepting and close the socket."""
        self.stopped.set()
        self.thread.join()
        self.server.close()


@pytest.fixture
def listener() -> Iterator[Listener]:
    """A loopback listener a hostile ``$ref`` points at."""
    server = Listener()
    yield server
    server.close()


async def _put_agent(api: Api, agent_id: str, body: dict[str, Any]) -> Any:
    return await api.client.put(
        f"/v1/executor/agents/{agent_id}", headers=api.auth("executor-x"), json=body
    )


async def _order(api: Api, agent_id: str, params: object) -> Any:
    return await api.client.post(
        "/v1/jobs",
        headers=api.auth("buyer-a"),
        json={"agent_id": agent_id, "prompt": "p", "params": params},
    )


def _problem(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    problem: dict[str, Any] = response.json()
    assert problem["code"] == code, problem
    return problem


def _store_schema(api: Api, agent_id: str, schema: dict[str, Any]) -> None:
    """Write ``schema`` straight into the table, as an agent published before these checks."""

    def store(connection: sa.Connection) -> None:
        connection.execute(
            agents.update().where(agents.c.id == agent_id).values(input_schema=schema)
        )

    api.runtime.database.transact_write(store)


def _remote_schemas(port: int) -> list[tuple[dict[str, Any], str]]:
    base = f"http://127.0.0.1:{port}"
    return [
        ({"$ref": f"{base}/x.json"}, "input_schema.$ref"),
        (
            {"type": "object", "properties": {"x": {"$ref": f"{base}/x.json#/a"}}},
            "input_schema.properties.x.$ref",
        ),
        (
            {"$id": f"{base}/root/", "properties": {"x": {"$ref": "other.json"}}},
            "input_schema.properties.x.$ref",
        ),
        (
            {
                "$schema": "http://json-schema.org/draft-04/schema#",
                "id": f"{base}/root/",
                "properties": {"x": {"$ref": "defs.json#/x"}},
            },
            "input_schema.properties.x.$ref",
        ),
        ({"$schema": f"{base}/meta.json"}, "input_schema.$schema"),
        (
            {"properties": {"x": {"$dynamicRef": f"{base}/d.json"}}},
            "input_schema.properties.x.$dynamicRef",
        ),
        (
            {"properties": {"x": {"$id": f"{base}/nested/", "$ref": "#/y"}}},
            "input_schema.properties.x.$id",
        ),
        ({"allOf": [{"$ref": "//127.0.0.1:1/x"}]}, "input_schema.allOf.0.$ref"),
    ]


async def test_remote_refs_are_refused_at_publish_and_nothing_is_fetched(
    api: Api, listener: Listener
) -> None:
    for schema, loc in _remote_schemas(listener.port):
        problem = _problem(
            await _put_agent(api, "remote-ref", {"name": "Remote", "input_schema": schema}),
            422,
            "validation_error",
        )
        assert problem["errors"][0]["loc"] == loc, (schema, problem)
    agent = await api.client.get("/v1/agents/remote-ref", headers=api.auth("buyer-a"))
    assert agent.status_code == 404
    await anyio.sleep(0.2)
    assert listener.connections == 0


async def test_file_refs_are_refused_without_leaking_the_file(api: Api) -> None:
    for ref in ("file:///etc/passwd", "/etc/passwd", "../../etc/passwd#/x", "passwd"):
        schema = {"properties": {"x": {"$ref": ref}}}
        response = await _put_agent(api, "file-ref", {"name": "File", "input_schema": schema})
        problem = _problem(response, 422, "validation_error")
        assert problem["errors"][0]["loc"] == "input_schema.properties.x.$ref"
        assert "root:" not in response.text


async def test_an_agent_stored_with_a_remote_ref_answers_422_at_order_and_fetches_nothing(
    api: Api, listener: Listener, echo: Any
) -> None:
    for schema, loc in _remote_schemas(listener.port):
        _store_schema(api, "echo", schema)
        problem = _problem(await _order(api, "echo", {"x": 1}), 422, "validation_error")
        assert problem["errors"][0]["loc"] == loc, (schema, problem)
    _store_schema(api, "echo", {"properties": {"x": {"$ref": "file:///etc/passwd"}}})
    response = await _order(api, "echo", {"x": 1})
    _problem(response, 422, "validation_error")
    assert "root:" not in response.text
    await anyio.sleep(0.2)
    assert listener.connections == 0
    listing = await api.client.get("/v1/jobs", headers=api.auth("buyer-a"))
    assert listing.status_code == 200 and listing.json()["items"] == []


BROKEN_REFS = [
    ({"$ref": "#/$defs/missing"}, "input_schema.$ref"),
    ({"properties": {"x": {"$ref": "#/definitions/gone"}}}, "input_schema.properties.x.$ref"),
    ({"properties": {"x": {"$ref": "#nowhere"}}}, "input_schema.properties.x.$ref"),
    ({"properties": {"x": {"$ref": "#/properties/x/type"}}, "type": "object"}, None),
    ({"$ref": "#"}, "input_schema.$ref"),
    (
        {
            "$defs": {"a": {"$ref": "#/$defs/b"}, "b": {"allOf": [{"$ref": "#/$defs/a"}]}},
            "properties": {"x": {"$ref": "#/$defs/a"}},
        },
        None,
    ),
    (
        {
            "$schema": "http://json-schema.org/draft-07/schema#",
            "definitions": {"a": {"not": {"$ref": "#/definitions/a"}}},
        },
        "input_schema.definitions.a.not.$ref",
    ),
]


@pytest.mark.parametrize(("schema", "loc"), BROKEN_REFS)
async def test_missing_and_looping_refs_are_refused_at_publish_naming_the_pointer(
    api: Api, schema: dict[str, Any], loc: str | None
) -> None:
    response = await _put_agent(api, "broken-ref", {"name": "Broken", "input_schema": schema})
    problem = _problem(response, 422, "validation_error")
    found = problem["errors"][0]["loc"]
    assert found.startswith("input_schema.") and found.endswith("$ref"), problem
    if loc is not None:
        assert found == loc
    assert loc is None or loc in problem["detail"]


@pytest.mark.parametrize(("schema", "loc"), BROKEN_REFS)
async def test_an_agent_stored_with_a_broken_ref_answers_422_at_order(
    api: Api, echo: Any, schema: dict[str, Any], loc: str | None
) -> None:
    _store_schema(api, "echo", schema)
    problem = _problem(await _order(api, "echo", {"x": 1}), 422, "validation_error")
    assert problem["errors"][0]["loc"].startswith("input_schema.")


async def test_local_and_recursive_refs_still_work(api: Api) -> None:
    tree = {
        "type": "object",
        "$defs": {"node": {"type": "object", "properties": {"n": {"type": "integer"}}}},
        "properties": {
            "value": {"$ref": "#/$defs/node"},
            "child": {"$ref": "#"},
            "named": {"$ref": "#leaf"},
            "leaf": {"$anchor": "leaf", "type": "string"},
        },
        "additionalProperties": False,
    }
    await api.publish("executor-x", "tree", input_schema=tree)
    deep: dict[str, Any] = {"value": {"n": 1}}
    for _ in range(10):
        deep = {"child": deep, "named": "x"}
    assert (await _order(api, "tree", deep)).status_code == 201
    bad = {"child": {"child": {"value": {"n": "one"}}}}
    problem = _problem(await _order(api, "tree", bad), 422, "validation_error")
    assert problem["errors"][0]["loc"] == "params.child"


async def _healthz_latencies(api: Api, until: anyio.Event) -> list[float]:
    latencies: list[float] = []
    while not until.is_set():
        started = time.perf_counter()
        assert (await api.client.get("/healthz")).status_code == 200
        latencies.append(time.perf_counter() - started)
        await anyio.sleep(0.02)
    return latencies


async def _order_while_probing(api: Api, agent_id: str, params: object) -> tuple[Any, float, float]:
    """Order, measuring the order's time and the worst ``/healthz`` latency meanwhile."""
    done = anyio.Event()
    latencies: list[float] = []
    result: list[Any] = []

    async def probe() -> None:
        latencies.extend(await _healthz_latencies(api, done))

    async def order() -> None:
        started = time.perf_counter()
        result.append(await _order(api, agent_id, params))
        result.append(time.perf_counter() - started)
        done.set()

    async with anyio.create_task_group() as group:
        group.start_soon(probe)
        group.start_soon(order)
    return result[0], result[1], max(latencies)


REDOS = "^(a+)+$"


@pytest.mark.parametrize(
    ("schema", "params"),
    [
        ({"properties": {"x": {"type": "string", "pattern": REDOS}}}, {"x": "a" * 30 + "!"}),
        ({"patternProperties": {REDOS: {"type": "integer"}}}, {"a" * 30 + "!": "s"}),
        ({"propertyNames": {"pattern": REDOS}}, {"a" * 30 + "!": 1}),
        (
            {"properties": {"x": {"pattern": REDOS}, "child": {"$ref": "#"}}},
            {"child": {"x": "a" * 30 + "!"}, "x": "a" * 30 + "!"},
        ),
    ],
)
async def test_a_redos_pattern_answers_fast_and_healthz_stays_responsive(
    api: Api, schema: dict[str, Any], params: dict[str, Any]
) -> None:
    await api.publish("executor-x", "redos", input_schema=schema)
    response, took, worst_healthz = await _order_while_probing(api, "redos", params)
    assert response.status_code in (201, 422), response.text
    # Generous bounds: the old validator took ~9 s for 27 characters, doubling per character.
    assert took < 5, took
    assert worst_healthz < 2, worst_healthz


async def test_patterns_the_linear_engine_cannot_run_are_refused_at_publish(api: Api) -> None:
    for pattern in ("(?=a)a", r"(a)\1"):
        schema = {"properties": {"x": {"type": "string", "pattern": pattern}}}
        response = await _put_agent(api, "lookaround", {"name": "L", "input_schema": schema})
        problem = _problem(response, 422, "validation_error")
        assert problem["errors"][0]["loc"] == "input_schema.properties.x.pattern"


async def test_format_regex_params_are_checked_without_running_them(api: Api) -> None:
    schema = {"properties": {"x": {"type": "string", "format": "regex"}}}
    await api.publish("executor-x", "regex-param", input_schema=schema)
    response, took, _ = await _order_while_probing(api, "regex-param", {"x": REDOS})
    assert response.status_code == 201 and took < 5
    bad = _problem(await _order(api, "regex-param", {"x": "(unclosed"}), 422, "validation_error")
    assert bad["errors"][0] == {"loc": "params.x", "message": "must be a valid regex"}


UNIQUE_SCHEMA = {"type": "object", "properties": {"rows": {"type": "array", "uniqueItems": True}}}


async def test_unique_items_over_thousands_of_objects_is_fast(api: Api) -> None:
    await api.publish("executor-x", "unique", input_schema=UNIQUE_SCHEMA)
    rows = [{"id": index, "tag": "t"} for index in range(4_000)]
    response, took, worst_healthz = await _order_while_probing(api, "unique", {"rows": rows})
    assert response.status_code == 201, response.text
    assert took < 5 and worst_healthz < 2, (took, worst_healthz)
    rows[-1] = rows[0]
    problem = _problem(await _order(api, "unique", {"rows": rows}), 422, "validation_error")
    assert problem["errors"][0] == {
        "loc": "params.rows",
        "message": "must not hold the same item twice",
    }


async def test_params_beyond_the_limits_get_a_clear_413_or_422(api: Api) -> None:
    await api.publish("executor-x", "unique", input_schema=UNIQUE_SCHEMA)
    many = [{"id": index, "tag": "t"} for index in range(7_000)]
    problem = _problem(await _order(api, "unique", {"rows": many}), 422, "validation_error")
    assert problem["errors"][0]["loc"] == "params"
    assert "20000 values" in problem["detail"]
    big = _problem(await _order(api, "unique", {"rows": ["x" * 300_000]}), 413, "payload_too_large")
    assert "262144 bytes" in big["detail"]
    deep: Any = 1
    for _ in range(40):
        deep = {"a": deep}
    problem = _problem(await _order(api, "unique", {"deep": deep}), 422, "validation_error")
    assert problem["errors"][0]["loc"].startswith("params.deep.a.a")
    assert "deeper than 32" in problem["detail"]


async def test_error_messages_read_as_sentences_naming_the_field(api: Api, echo: Any) -> None:
    problem = _problem(await _order(api, "echo", {"count": [1, 2]}), 422, "validation_error")
    assert problem["errors"] == [{"loc": "params.count", "message": "must be an integer"}]
    problem = _problem(
        await _order(api, "echo", {"count": 0, "shout": "yes"}), 422, "validation_error"
    )
    assert problem["errors"] == [
        {"loc": "params.count", "message": "must be at least 1"},
        {"loc": "params.shout", "message": "must be true or false"},
    ]


UNSTORABLE_VALUES = [
    '"\\ud800"',
    '"a\\udfffb"',
    "NaN",
    "Infinity",
    "-Infinity",
    "1e400",
    str(2**64),
]


async def _raw(api: Api, method: str, path: str, who: str, body: str) -> Any:
    headers = {**api.auth(who), "content-type": "application/json"}
    return await api.client.request(method, path, headers=headers, content=body.encode())


async def test_unstorable_values_in_an_order_get_422_and_write_nothing(api: Api, echo: Any) -> None:
    for value in UNSTORABLE_VALUES:
        for body, loc in (
            (f'{{"agent_id":"echo","prompt":"p","params":{{"v":{value}}}}}', "params.v"),
            (
                f'{{"agent_id":"echo","prompt":"p","params":{{"v":[1,{{"w":{value}}}]}}}}',
                "params.v.1.w",
            ),
        ):
            response = await _raw(api, "POST", "/v1/jobs", "buyer-a", body)
            problem = _problem(response, 422, "validation_error")
            assert problem["errors"][0]["loc"] == loc, (body, problem)
    for body in (
        '{"agent_id":"echo","prompt":"bad \\ud800 prompt"}',
        '{"agent_id":"echo","prompt":"p","params":{"k\\udc00":1}}',
    ):
        _problem(await _raw(api, "POST", "/v1/jobs", "buyer-a", body), 422, "validation_error")
    for who, path in (("buyer-a", "/v1/jobs"), ("executor-x", "/v1/executor/jobs")):
        listing = await api.client.get(path, headers=api.auth(who))
        assert listing.status_code == 200, listing.text
        assert listing.json()["items"] == []


async def test_unstorable_values_in_an_agent_get_422_and_write_nothing(api: Api) -> None:
    cases = [
        ('{"name":"bad \\ud800"}', "name"),
        ('{"name":"ok","description":"\\udfff"}', "description"),
        ('{"name":"ok","tags":["\\ud800"]}', "tags.0"),
        ('{"name":"ok","input_schema":{"title":"\\ud800"}}', "input_schema.title"),
    ]
    for value in UNSTORABLE_VALUES[2:]:
        cases.append(
            (f'{{"name":"ok","input_schema":{{"maximum":{value}}}}}', "input_schema.maximum")
        )
        cases.append((f'{{"name":"ok","output_schema":{{"x":{value}}}}}', "output_schema.x"))
    for body, loc in cases:
        response = await _raw(api, "PUT", "/v1/executor/agents/unstorable", "executor-x", body)
        problem = _problem(response, 422, "validation_error")
        assert problem["errors"][0]["loc"] == loc, (body, problem)
    agent = await api.client.get("/v1/agents/unstorable", headers=api.auth("buyer-a"))
    assert agent.status_code == 404
    search = await api.client.get("/v1/agents/search", headers=api.auth("buyer-a"))
    assert search.status_code == 200 and search.json()["items"] == []


async def test_an_unstorable_reason_gets_422_and_the_job_stays_pending(api: Api, echo: Any) -> None:
    job = await api.order("buyer-a", "echo")
    for value in ('"\\ud800"', '"x\\u0000y"'):
        response = await _raw(
            api,
            "POST",
            f"/v1/executor/jobs/{job['id']}/status",
            "executor-x",
            f'{{"status":"rejected","reason":{value}}}',
        )
        problem = _problem(response, 422, "validation_error")
        assert problem["errors"][0]["loc"] == "reason"
    current = await api.client.get(f"/v1/jobs/{job['id']}", headers=api.auth("buyer-a"))
    assert current.json()["status"] == "pending"
    listing = await api.client.get("/v1/executor/jobs", headers=api.auth("executor-x"))
    assert listing.status_code == 200 and len(listing.json()["items"]) == 1


async def test_the_write_refuses_an_order_validated_against_an_older_agent(
    api: Api, echo: Any
) -> None:
    body = JobCreate(agent_id="echo", prompt="p", params={"count": 1})
    buyer = Principal(id=api.principal_ids["buyer-a"], role=Role.BUYER, name="buyer-a")
    target, _ = api.runtime.database.transact(job_service.read_order_target, buyer, body, None)
    await api.publish("executor-x", "echo", input_schema={"type": "object", "required": ["x"]})
    with pytest.raises(AgentChangedDuringOrder):
        api.runtime.database.transact_write(job_service.create_job, buyer, body, None, target)
    # Through the API the order is validated against the new schema.
    problem = _problem(await _order(api, "echo", {"count": 1}), 422, "validation_error")
    assert problem["errors"][0] == {"loc": "params.x", "message": "is required"}


@ON_SQLITE_ONLY  # Postgres never stored a lone surrogate (its driver refuses to encode one)
async def test_a_surrogate_stored_before_the_fix_does_not_break_listings(
    api: Api, echo: Any
) -> None:
    # SQLite text columns refuse one too; JSON columns stored it escaped (finding 4).
    job = await api.order("buyer-a", "echo")

    def poison(connection: sa.Connection) -> None:
        connection.execute(
            jobs.update()
            .where(jobs.c.id == uuid.UUID(job["id"]))
            .values(params={"k\udc00": ["\ud800"]})
        )

    api.runtime.database.transact_write(poison)
    for who, path in (
        ("buyer-a", "/v1/jobs"),
        ("buyer-a", f"/v1/jobs/{job['id']}"),
        ("executor-x", "/v1/executor/jobs"),
    ):
        response = await api.client.get(path, headers=api.auth(who))
        assert response.status_code == 200, (path, response.text)
        assert "\ufffd" in response.text
