"""Sign-in attempts are limited per client address: the page answers 429 with Retry-After."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from agnt_models import Role

HTML = {"Accept": "text/html"}


def _csrf(page: str) -> str:
    marker = 'name="csrf_token" value="'
    start = page.index(marker) + len(marker)
    return page[start : page.index('"', start)]


@pytest.fixture
async def limited_site(make_api: Callable[..., Any]) -> AsyncIterator[Any]:
    """The app with at most 3 sign-in attempts per address, then one a minute."""
    instance = await make_api(rate_sign_ins_per_minute=1, rate_sign_ins_burst=3)
    instance.make_key("buyer", Role.BUYER)
    yield instance
    await instance.client.aclose()
    await instance.runtime.close()


async def _attempt(client: httpx.AsyncClient, api_key: str) -> httpx.Response:
    page = await client.get("/signin", headers=HTML)
    return await client.post(
        "/signin", data={"csrf_token": _csrf(page.text), "api_key": api_key}, headers=HTML
    )


async def test_guessing_keys_is_cut_off_with_429_and_retry_after(limited_site: Any) -> None:
    client = limited_site.client
    for number in range(3):
        wrong = await _attempt(client, f"agnt_{number:043d}")
        assert wrong.status_code == 401
    refused = await _attempt(client, limited_site.keys["buyer"])
    assert refused.status_code == 429
    assert refused.headers["content-type"].startswith("text/html")
    assert refused.headers["retry-after"].isdigit()
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    assert "Too many sign-in attempts" in refused.text
    assert "agnt_session" not in refused.headers.get("set-cookie", "")


async def test_another_address_still_signs_in(limited_site: Any) -> None:
    for number in range(4):
        await _attempt(limited_site.client, f"agnt_{number:043d}")
    other = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=limited_site.app, client=("203.0.113.9", 4000)),
        base_url="http://testserver",
    )
    async with other:
        signed_in = await _attempt(other, limited_site.keys["buyer"])
    assert signed_in.status_code == 303
