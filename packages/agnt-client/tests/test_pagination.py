"""Pagination: ``iter_*`` follow ``next_cursor`` lazily, page by page, and stop at the end."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from hypothesis import given, settings
from hypothesis import strategies as st

from agnt_client import AsyncClient, Client
from agnt_models import AgentSummary, Job, Pricing


class PagedAgents:
    """A fake network answering ``/v1/agents/search`` from a list, ``limit`` at a time."""

    def __init__(self, total: int, default_limit: int = 20) -> None:
        self.names = [f"agent-{n:03d}" for n in range(total)]
        self.default_limit = default_limit
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        start = int(request.url.params.get("cursor", "0"))
        limit = int(request.url.params.get("limit", self.default_limit))
        chunk = self.names[start : start + limit]
        more = start + limit < len(self.names)
        items = [
            AgentSummary(
                id=name, name=name, description="", tags=[], pricing=Pricing()
            ).to_json_dict()
            for name in chunk
        ]
        return httpx.Response(
            200, json={"items": items, "next_cursor": str(start + limit) if more else None}
        )


@settings(max_examples=40, deadline=None)
@given(total=st.integers(0, 60), page_size=st.one_of(st.none(), st.integers(1, 25)))
def test_iter_agents_yields_every_item_once_in_order(total: int, page_size: int | None) -> None:
    fake = PagedAgents(total)
    with Client("http://api.test", "k", transport=httpx.MockTransport(fake)) as client:
        names = [a.id for a in client.iter_agents("x", page_size=page_size)]
    assert names == fake.names
    size = page_size or fake.default_limit
    assert len(fake.requests) == max(1, -(-total // size))


@settings(max_examples=20, deadline=None)
@given(total=st.integers(0, 40), page_size=st.integers(1, 15))
def test_async_iter_agents_yields_every_item_once_in_order(total: int, page_size: int) -> None:
    fake = PagedAgents(total)

    async def collect() -> list[str]:
        async with AsyncClient(
            "http://api.test", "k", transport=httpx.MockTransport(fake)
        ) as client:
            return [a.id async for a in client.iter_agents(tag="t", page_size=page_size)]

    assert asyncio.run(collect()) == fake.names
    assert {r.url.params["tag"] for r in fake.requests} == {"t"}


def test_pages_are_fetched_only_as_iteration_reaches_them(make_client: Any) -> None:
    fake = PagedAgents(10)
    agents = make_client(fake).iter_agents(page_size=4)
    assert fake.requests == []
    assert [next(agents).id for _ in range(4)] == fake.names[:4]
    assert len(fake.requests) == 1
    next(agents)
    assert len(fake.requests) == 2


def test_iter_jobs_passes_filters_and_cursor_to_every_page(make_client: Any, payloads: Any) -> None:
    pages = {
        None: {"items": [payloads.job(status="running")], "next_cursor": "p2"},
        "p2": {"items": [payloads.job(status="running")], "next_cursor": None},
    }
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=pages[request.url.params.get("cursor")])

    jobs = list(make_client(handler).iter_jobs(status="running", agent_id="demo-echo", page_size=1))
    assert all(isinstance(j, Job) for j in jobs)
    assert [str(j.id) for j in jobs] == [
        pages[None]["items"][0]["id"],
        pages["p2"]["items"][0]["id"],
    ]
    assert [dict(r.url.params) for r in seen] == [
        {"status": "running", "agent_id": "demo-echo", "limit": "1"},
        {"status": "running", "agent_id": "demo-echo", "limit": "1", "cursor": "p2"},
    ]


def test_an_empty_page_with_a_cursor_ends_iteration(make_client: Any) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"items": [], "next_cursor": "again"})

    assert list(make_client(handler).iter_jobs()) == []
    assert len(seen) == 1
