"""Who may call what: 401 without a valid key, 403 for the wrong role, 404 across owners."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest

from agnt_api.services import keys
from agnt_models import Role

BUYER_ROUTES = [
    ("GET", "/v1/jobs"),
    ("POST", "/v1/jobs"),
    ("GET", "/v1/jobs/{job}"),
    ("GET", "/v1/jobs/{job}/result"),
    ("POST", "/v1/jobs/{job}/cancel"),
    ("GET", "/v1/jobs/{job}/files/out.txt"),
]
EXECUTOR_ROUTES = [
    ("GET", "/v1/executor/jobs"),
    ("POST", "/v1/executor/jobs/{job}/status"),
    ("POST", "/v1/executor/jobs/{job}/complete"),
    ("PUT", "/v1/executor/agents/new-agent"),
]
ANY_ROLE_ROUTES = [
    ("GET", "/v1/agents/search"),
    ("GET", "/v1/agents/echo"),
    ("GET", "/v1/agents/echo/stats"),
]
ALL_ROUTES = BUYER_ROUTES + EXECUTOR_ROUTES + ANY_ROLE_ROUTES


async def _call(api: Any, method: str, path: str, headers: dict[str, str]) -> Any:
    return await api.client.request(method, path, headers=headers)


@pytest.mark.parametrize(("method", "path"), ALL_ROUTES)
async def test_missing_key_gets_401_with_www_authenticate(api: Any, method: str, path: str) -> None:
    response = await _call(api, method, path.format(job=uuid.uuid4()), {})
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert response.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize("key", ["agnt_" + "x" * 43, "not-a-key", "agnt_short"])
async def test_unknown_key_gets_401_invalid_api_key(api: Any, key: str) -> None:
    response = await api.client.get("/v1/jobs", headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 401
    assert response.json()["code"] == "invalid_api_key"
    assert "invalid_token" in response.headers["www-authenticate"]


async def test_revoked_key_gets_401(api: Any) -> None:
    key = api.keys["buyer-a"]
    assert api.runtime.database.transact_write(keys.revoke_key, key[:13])
    response = await api.client.get("/v1/jobs", headers=api.auth("buyer-a"))
    assert response.status_code == 401
    assert response.json()["code"] == "invalid_api_key"


async def test_a_used_key_revoked_stops_working_within_the_auth_cache_ttl(
    api: Any, make_api: Any
) -> None:
    # ``api`` closes every app that ``make_api`` made.
    api = await make_api(auth_cache_seconds=0.5)
    key = api.make_key("buyer-c", Role.BUYER)
    assert (await api.client.get("/v1/jobs", headers=api.auth("buyer-c"))).status_code == 200
    assert api.runtime.database.transact_write(keys.revoke_key, key[:13])
    # Remembered for at most the TTL: then the revocation holds.
    await asyncio.sleep(0.6)
    response = await api.client.get("/v1/jobs", headers=api.auth("buyer-c"))
    assert response.status_code == 401
    assert response.json()["code"] == "invalid_api_key"


async def test_without_the_auth_cache_a_revocation_holds_at_once(api: Any, make_api: Any) -> None:
    api = await make_api(auth_cache_seconds=0)
    key = api.make_key("buyer-c", Role.BUYER)
    assert (await api.client.get("/v1/jobs", headers=api.auth("buyer-c"))).status_code == 200
    assert api.runtime.database.transact_write(keys.revoke_key, key[:13])
    assert (await api.client.get("/v1/jobs", headers=api.auth("buyer-c"))).status_code == 401


async def test_the_auth_cache_skips_the_lookup_and_holds_no_key(api: Any) -> None:
    assert (await api.client.get("/v1/jobs", headers=api.auth("buyer-a"))).status_code == 200
    # The principal is answered from memory, so a revoked key still works within the TTL...
    assert api.runtime.database.transact_write(keys.revoke_key, api.keys["buyer-a"][:13])
    assert (await api.client.get("/v1/jobs", headers=api.auth("buyer-a"))).status_code == 200
    # ...and the cache is keyed by the key's hash, never the key.
    assert api.keys["buyer-a"] not in repr(vars(api.runtime.keys))


async def test_keys_are_stored_hashed_with_their_visible_prefix(api: Any) -> None:
    listed = api.runtime.database.transact(keys.list_keys)
    prefixes = {info.prefix for info in listed}
    assert api.keys["buyer-a"][:13] in prefixes
    import sqlalchemy as sa

    from agnt_api.db.tables import api_keys

    stored = api.runtime.database.transact(
        lambda c: [row.key_hash for row in c.execute(sa.select(api_keys.c.key_hash))]
    )
    assert all(api.keys["buyer-a"] not in value for value in stored)


@pytest.mark.parametrize(("method", "path"), EXECUTOR_ROUTES)
async def test_buyer_on_executor_routes_gets_403(
    api: Any, echo: Any, method: str, path: str
) -> None:
    response = await _call(api, method, path.format(job=uuid.uuid4()), api.auth("buyer-a"))
    assert response.status_code == 403
    assert response.json()["code"] == "forbidden"


@pytest.mark.parametrize(("method", "path"), BUYER_ROUTES)
async def test_executor_on_buyer_routes_gets_403(
    api: Any, echo: Any, method: str, path: str
) -> None:
    response = await _call(api, method, path.format(job=uuid.uuid4()), api.auth("executor-x"))
    assert response.status_code == 403


@pytest.mark.parametrize("who", ["buyer-a", "executor-x", "admin"])
async def test_every_role_may_find_agents(api: Any, echo: Any, who: str) -> None:
    for method, path in ANY_ROLE_ROUTES:
        response = await _call(api, method, path, api.auth(who))
        assert response.status_code == 200, (path, response.text)


async def test_buyer_sees_only_its_own_jobs(api: Any, echo: Any) -> None:
    job = await api.order("buyer-a", "echo")
    await api.run_to_running("executor-x", job["id"])
    assert (await api.complete("executor-x", job["id"], [("out.txt", b"x")])).status_code == 200
    for method, path in BUYER_ROUTES[2:]:
        response = await _call(api, method, path.format(job=job["id"]), api.auth("buyer-b"))
        assert response.status_code == 404, path
        assert response.json()["code"] == "job_not_found"
    listed = await api.client.get("/v1/jobs", headers=api.auth("buyer-b"))
    assert listed.json()["items"] == []


async def test_admin_sees_every_buyers_job(api: Any, echo: Any) -> None:
    job = await api.order("buyer-a", "echo")
    response = await api.client.get(f"/v1/jobs/{job['id']}", headers=api.auth("admin"))
    assert response.status_code == 200
    listed = await api.client.get("/v1/jobs", headers=api.auth("admin"))
    assert [item["id"] for item in listed.json()["items"]] == [job["id"]]


async def test_executor_sees_only_jobs_of_its_agents(api: Any, echo: Any) -> None:
    await api.publish("executor-y", "their-agent")
    mine = await api.order("buyer-a", "echo")
    theirs = await api.order("buyer-b", "their-agent")
    x = await api.client.get("/v1/executor/jobs", headers=api.auth("executor-x"))
    y = await api.client.get("/v1/executor/jobs", headers=api.auth("executor-y"))
    assert [job["id"] for job in x.json()["items"]] == [mine["id"]]
    assert [job["id"] for job in y.json()["items"]] == [theirs["id"]]
    cross = await api.report("executor-y", mine["id"], "accepted")
    assert cross.status_code == 404
