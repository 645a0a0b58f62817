"""Signing out ends the session on the server: a saved copy of the cookie signs no one in."""

from __future__ import annotations

from typing import Any

import httpx
import sqlalchemy as sa

from agnt_api.auth import key_prefix
from agnt_api.db.tables import web_sessions
from agnt_api.services import keys

HTML = {"Accept": "text/html"}


def _session_cookie(site: Any) -> str:
    value = site.client.cookies.get("agnt_session")
    assert value, "the client holds no session cookie"
    return str(value)


def _replay(site: Any, cookie: str) -> httpx.AsyncClient:
    """A second browser that only has a saved copy of ``cookie``."""
    return httpx.AsyncClient(
        transport=site.client._transport,
        base_url="http://testserver",
        cookies={"agnt_session": cookie},
    )


def _session_rows(site: Any) -> int:
    return int(
        site.runtime.database.transact(
            lambda c: c.execute(sa.select(sa.func.count()).select_from(web_sessions)).scalar_one()
        )
    )


async def test_a_saved_cookie_no_longer_works_after_sign_out(site: Any) -> None:
    await site.sign_in()
    saved = _session_cookie(site)
    async with _replay(site, saved) as thief:
        assert (await thief.get("/jobs", headers=HTML)).status_code == 200
        token = await site.csrf("/")
        signed_out = await site.client.post("/signout", data={"csrf_token": token}, headers=HTML)
        assert signed_out.status_code == 303
        replayed = await thief.get("/jobs", headers=HTML)
        assert replayed.status_code == 303
        assert replayed.headers["location"].startswith("/signin")
    assert _session_rows(site) == 0


async def test_sign_out_ends_only_this_browsers_session(site: Any) -> None:
    await site.sign_in()
    first = _session_cookie(site)
    async with httpx.AsyncClient(
        transport=site.client._transport, base_url="http://testserver"
    ) as other:
        page = await other.get("/signin", headers=HTML)
        marker = 'name="csrf_token" value="'
        start = page.text.index(marker) + len(marker)
        csrf = page.text[start : page.text.index('"', start)]
        response = await other.post(
            "/signin", data={"csrf_token": csrf, "api_key": site.keys["buyer"]}, headers=HTML
        )
        assert response.status_code == 303
        token = await site.csrf("/")
        await site.client.post("/signout", data={"csrf_token": token}, headers=HTML)
        assert (await other.get("/jobs", headers=HTML)).status_code == 200
    async with _replay(site, first) as thief:
        assert (await thief.get("/jobs", headers=HTML)).status_code == 303


async def test_revoking_the_key_ends_a_saved_session(site: Any) -> None:
    await site.sign_in()
    saved = _session_cookie(site)
    prefix = key_prefix(site.keys["buyer"])
    assert site.runtime.database.transact_write(keys.revoke_key, prefix)
    async with _replay(site, saved) as thief:
        assert (await thief.get("/jobs", headers=HTML)).status_code == 303


async def test_signing_in_again_replaces_the_previous_session(site: Any) -> None:
    await site.sign_in()
    first = _session_cookie(site)
    await site.sign_in()
    assert _session_cookie(site) != first
    assert _session_rows(site) == 1
    async with _replay(site, first) as thief:
        assert (await thief.get("/jobs", headers=HTML)).status_code == 303
