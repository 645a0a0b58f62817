"""Publishing agents, reading them, searching them, and their stats."""

from __future__ import annotations

from typing import Any

from agnt_models import AgentSearchPage, AgentStats


async def test_publish_creates_then_updates_an_agent(api: Any) -> None:
    first = await api.client.put(
        "/v1/executor/agents/summarizer",
        headers=api.auth("executor-x"),
        json={"name": "Summarizer", "tags": ["Text", "text", "nlp"]},
    )
    assert first.status_code == 201
    assert first.json()["tags"] == ["text", "nlp"]
    assert first.json()["owner_id"] == str(api.principal_ids["executor-x"])
    second = await api.client.put(
        "/v1/executor/agents/summarizer",
        headers=api.auth("executor-x"),
        json={"name": "Summarizer 2", "pricing": {"model": "per_job", "amount_cents": 50}},
    )
    assert second.status_code == 200
    body = second.json()
    assert body["name"] == "Summarizer 2"
    assert body["pricing"] == {"model": "per_job", "amount_cents": 50, "currency": "USD"}
    assert body["created_at"] == first.json()["created_at"]
    assert body["updated_at"] > first.json()["updated_at"]


async def test_publishing_another_owners_agent_id_gets_409(api: Any, echo: Any) -> None:
    response = await api.client.put(
        "/v1/executor/agents/echo", headers=api.auth("executor-y"), json={"name": "Mine now"}
    )
    assert response.status_code == 409
    assert response.json()["code"] == "agent_owned_by_other"


async def test_publishing_an_invalid_json_schema_gets_422_naming_it(api: Any) -> None:
    response = await api.client.put(
        "/v1/executor/agents/broken",
        headers=api.auth("executor-x"),
        json={"name": "Broken", "input_schema": {"type": "no-such-type"}},
    )
    assert response.status_code == 422
    problem = response.json()
    assert problem["code"] == "validation_error"
    assert problem["errors"][0]["loc"].startswith("input_schema")


async def test_publishing_with_a_bad_agent_id_gets_422(api: Any) -> None:
    response = await api.client.put(
        "/v1/executor/agents/Bad_Id", headers=api.auth("executor-x"), json={"name": "x"}
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"] == "path.agent_id"


async def test_get_agent_returns_schemas_and_unknown_is_404(api: Any, echo: Any) -> None:
    found = await api.client.get("/v1/agents/echo", headers=api.auth("buyer-a"))
    assert found.status_code == 200
    assert found.json()["input_schema"]["properties"]["count"]["type"] == "integer"
    missing = await api.client.get("/v1/agents/nobody-here", headers=api.auth("buyer-a"))
    assert missing.status_code == 404
    assert missing.json()["code"] == "agent_not_found"


async def test_search_ranks_name_hits_first_and_filters_by_tag(api: Any) -> None:
    await api.publish("executor-x", "translator", description="Turns text into French")
    await api.publish("executor-x", "text-cleaner", description="Strips markup", tags=["text"])
    await api.publish("executor-y", "image-resizer", description="Resizes images", tags=["image"])
    found = await api.client.get(
        "/v1/agents/search", params={"q": "text"}, headers=api.auth("buyer-a")
    )
    page = AgentSearchPage.model_validate(found.json())
    assert [item.id for item in page.items] == ["text-cleaner", "translator"]
    assert page.items[0].score is not None and page.items[1].score is not None
    assert page.items[0].score > page.items[1].score
    tagged = await api.client.get(
        "/v1/agents/search", params={"tag": "IMAGE"}, headers=api.auth("buyer-a")
    )
    assert [item["id"] for item in tagged.json()["items"]] == ["image-resizer"]
    prefix = await api.client.get(
        "/v1/agents/search", params={"q": "resiz"}, headers=api.auth("buyer-a")
    )
    assert [item["id"] for item in prefix.json()["items"]] == ["image-resizer"]
    nothing = await api.client.get(
        "/v1/agents/search", params={"q": "zebra"}, headers=api.auth("buyer-a")
    )
    assert nothing.json() == {"items": [], "next_cursor": None, "facets": None}


async def test_search_pages_with_an_opaque_cursor_bound_to_its_query(api: Any) -> None:
    for n in range(5):
        await api.publish("executor-x", f"agent-{n}", description="pageable thing")
    seen: list[str] = []
    cursor = None
    while True:
        params = {"q": "pageable", "limit": 2, **({"cursor": cursor} if cursor else {})}
        page = (
            await api.client.get("/v1/agents/search", params=params, headers=api.auth("buyer-a"))
        ).json()
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
        other = await api.client.get(
            "/v1/agents/search",
            params={"q": "other", "cursor": cursor},
            headers=api.auth("buyer-a"),
        )
        assert other.status_code == 400
        assert other.json()["code"] == "invalid_cursor"
    assert sorted(seen) == [f"agent-{n}" for n in range(5)]


async def test_stats_count_outcomes_success_rate_and_duration(api: Any, echo: Any) -> None:
    done = await api.order("buyer-a", "echo")
    await api.run_to_running("executor-x", done["id"])
    assert (await api.complete("executor-x", done["id"], [("a.txt", b"a")])).status_code == 200
    rejected = await api.order("buyer-a", "echo")
    await api.report("executor-x", rejected["id"], "rejected", reason="busy")
    canceled = await api.order("buyer-b", "echo")
    await api.client.post(f"/v1/jobs/{canceled['id']}/cancel", headers=api.auth("buyer-b"))
    await api.order("buyer-b", "echo")
    response = await api.client.get("/v1/agents/echo/stats", headers=api.auth("buyer-a"))
    stats = AgentStats.model_validate(response.json())
    assert (stats.total, stats.pending, stats.completed, stats.rejected, stats.canceled) == (
        4,
        1,
        1,
        1,
        1,
    )
    # Only jobs that ran count (issue 16): the rejection and the cancel do not lower it.
    assert stats.success_rate == 1.0
    assert stats.avg_duration_seconds is not None and stats.avg_duration_seconds >= 0
    missing = await api.client.get("/v1/agents/ghost/stats", headers=api.auth("buyer-a"))
    assert missing.status_code == 404


async def test_stats_of_an_agent_without_jobs_has_no_rates(api: Any, echo: Any) -> None:
    response = await api.client.get("/v1/agents/echo/stats", headers=api.auth("buyer-a"))
    assert response.json()["total"] == 0
    assert response.json()["success_rate"] is None
    assert response.json()["avg_duration_seconds"] is None
