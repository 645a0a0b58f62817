"""The marketplace page searches with the visitor's principal: it shares the API's search
bucket, and over it the page answers 429 with Retry-After and says when to try again."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from agnt_models import Role

HTML = {"Accept": "text/html"}


def _csrf(page: str) -> str:
    marker = 'name="csrf_token" value="'
    start = page.index(marker) + len(marker)
    return page[start : page.index('"', start)]


async def _sign_in(site: Any, who: str) -> None:
    page = await site.client.get("/signin", headers=HTML)
    signed_in = await site.client.post(
        "/signin",
        data={"csrf_token": _csrf(page.text), "api_key": site.keys[who], "next": "/"},
        headers=HTML,
    )
    assert signed_in.status_code == 303, signed_in.text


@pytest.fixture
async def limited_site(make_api: Callable[..., Any]) -> AsyncIterator[Any]:
    """The app with at most 3 searches per principal, then one a minute."""
    instance = await make_api(rate_searches_per_minute=1, rate_searches_burst=3)
    instance.make_key("buyer", Role.BUYER)
    instance.make_key("other", Role.BUYER)
    yield instance
    await instance.client.aclose()
    await instance.runtime.close()


async def test_the_page_answers_429_with_retry_after_over_the_search_bucket(
    limited_site: Any,
) -> None:
    await _sign_in(limited_site, "buyer")
    client = limited_site.client
    for _ in range(3):
        page = await client.get("/?q=anything", headers=HTML)
        assert page.status_code == 200
        assert "data-rate-limited" not in page.text
    refused = await client.get("/?q=anything", headers=HTML)
    assert refused.status_code == 429
    assert refused.headers["content-type"].startswith("text/html")
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    assert "Too many searches from your account; try again in" in refused.text
    assert "No agents found" not in refused.text
    # The API's search with the same principal's key is over the same bucket.
    api = await client.get(
        "/v1/agents/search",
        params={"q": "x"},
        headers={"Authorization": f"Bearer {limited_site.keys['buyer']}"},
    )
    assert api.status_code == 429
    assert api.json()["code"] == "rate_limited"


async def test_another_principal_still_searches(limited_site: Any) -> None:
    await _sign_in(limited_site, "buyer")
    for _ in range(4):
        await limited_site.client.get("/", headers=HTML)
    other = await limited_site.client.get(
        "/v1/agents/search", headers={"Authorization": f"Bearer {limited_site.keys['other']}"}
    )
    assert other.status_code == 200
