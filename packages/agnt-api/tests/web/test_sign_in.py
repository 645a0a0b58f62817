"""Signing in and out, the session cookie, and CSRF on every form (server side, over ASGI)."""

from __future__ import annotations

import httpx

from agnt_api.services import keys

HTML = {"Accept": "text/html"}


def _csrf(page: str) -> str:
    marker = 'name="csrf_token" value="'
    start = page.index(marker) + len(marker)
    return page[start : page.index('"', start)]


async def test_pages_redirect_to_sign_in_and_back_after_it(site) -> None:
    response = await site.client.get("/jobs?status=pending", headers=HTML)
    assert response.status_code == 303
    assert response.headers["location"] == "/signin?next=%2Fjobs%3Fstatus%3Dpending"

    page = await site.client.get(response.headers["location"], headers=HTML)
    assert 'name="next" value="/jobs?status=pending"' in page.text
    signed_in = await site.client.post(
        "/signin",
        data={
            "csrf_token": _csrf(page.text),
            "api_key": site.keys["buyer"],
            "next": "/jobs?status=pending",
        },
        headers=HTML,
    )
    assert signed_in.status_code == 303
    assert signed_in.headers["location"] == "/jobs?status=pending"
    assert (await site.client.get("/jobs", headers=HTML)).status_code == 200


async def test_session_cookie_is_signed_http_only_lax_and_never_holds_the_key(site) -> None:
    response = await site.sign_in()
    assert response.status_code == 303
    cookie_header = next(
        value
        for value in response.headers.get_list("set-cookie")
        if value.startswith("agnt_session=")
    )
    assert "HttpOnly" in cookie_header
    assert "SameSite=lax" in cookie_header
    key = site.keys["buyer"]
    assert key not in cookie_header
    assert key not in response.headers.get("location", "")
    page = await site.client.get("/", headers=HTML)
    assert key not in page.text
    assert "Sign out" in page.text


async def test_sign_in_page_tells_who_is_signed_in(site) -> None:
    await site.sign_in()
    page = await site.client.get("/signin", headers=HTML)
    assert "You are signed in as buyer" in page.text


async def test_wrong_key_is_refused_without_echoing_it(site) -> None:
    page = await site.client.get("/signin", headers=HTML)
    wrong = "agnt_" + "x" * 43
    response = await site.client.post(
        "/signin", data={"csrf_token": _csrf(page.text), "api_key": wrong}, headers=HTML
    )
    assert response.status_code == 401
    assert "unknown or has been revoked" in response.text
    assert wrong not in response.text
    assert "agnt_session" not in response.headers.get("set-cookie", "")


async def test_empty_key_asks_for_one(site) -> None:
    page = await site.client.get("/signin", headers=HTML)
    response = await site.client.post(
        "/signin", data={"csrf_token": _csrf(page.text), "api_key": "  "}, headers=HTML
    )
    assert response.status_code == 401
    assert "Paste your API key" in response.text


async def test_sign_out_ends_the_session(site) -> None:
    await site.sign_in()
    token = await site.csrf("/")
    response = await site.client.post("/signout", data={"csrf_token": token}, headers=HTML)
    assert response.status_code == 303
    assert response.headers["location"] == "/signin"
    assert (await site.client.get("/", headers=HTML)).status_code == 303


async def test_revoking_the_key_ends_its_web_sessions(site) -> None:
    await site.sign_in()
    assert (await site.client.get("/", headers=HTML)).status_code == 200
    prefix = site.keys["buyer"][:13]
    assert site.runtime.database.transact_write(keys.revoke_key, prefix)
    assert (await site.client.get("/", headers=HTML)).status_code == 303


async def test_a_forged_session_cookie_is_ignored(site) -> None:
    site.client.cookies.set("agnt_session", "eyJwcmluY2lwYWxfaWQiOiJ4In0.forged.sig")
    assert (await site.client.get("/", headers=HTML)).status_code == 303


async def test_post_without_csrf_token_is_refused_with_csrf_failed(site) -> None:
    await site.sign_in()
    page = await site.client.post("/agents/echo-bot/order", data={"prompt": "hello"}, headers=HTML)
    assert page.status_code == 403
    assert "csrf_failed" in page.text
    problem = await site.client.post("/agents/echo-bot/order", data={"prompt": "hello"})
    assert problem.status_code == 403
    assert problem.headers["content-type"].startswith("application/problem+json")
    assert problem.json()["code"] == "csrf_failed"


async def test_sign_in_without_csrf_token_is_refused(site) -> None:
    response = await site.client.post("/signin", data={"api_key": site.keys["buyer"]})
    assert response.status_code == 403
    assert response.json()["code"] == "csrf_failed"
    assert "agnt_session" not in response.headers.get("set-cookie", "")


async def test_csrf_token_of_another_browser_is_refused(site) -> None:
    await site.sign_in()
    async with httpx.AsyncClient(
        transport=site.client._transport, base_url="http://testserver"
    ) as stranger:
        foreign_token = _csrf((await stranger.get("/signin", headers=HTML)).text)
    response = await site.client.post("/signout", data={"csrf_token": foreign_token}, headers=HTML)
    assert response.status_code == 403
    assert "csrf_failed" in response.text


async def test_csrf_token_from_before_sign_in_does_not_fit_the_session(site) -> None:
    anonymous_token = _csrf((await site.client.get("/signin", headers=HTML)).text)
    await site.sign_in()
    response = await site.client.post("/signout", data={"csrf_token": anonymous_token})
    assert response.status_code == 403
    assert response.json()["code"] == "csrf_failed"


async def test_a_non_ascii_csrf_cookie_is_refused_not_a_crash(site) -> None:
    token = _csrf((await site.client.get("/signin", headers=HTML)).text)
    async with httpx.AsyncClient(
        transport=site.client._transport, base_url="http://testserver"
    ) as raw:
        response = await raw.post(
            "/signin",
            data={"csrf_token": token, "api_key": site.keys["buyer"]},
            headers={"Cookie": b"agnt_csrf=" + "\u00e9".encode("latin-1") * 20},
        )
    assert response.status_code == 403
    assert response.json()["code"] == "csrf_failed"


async def test_tampered_csrf_token_is_refused(site) -> None:
    await site.sign_in()
    token = await site.csrf("/")
    response = await site.client.post("/signout", data={"csrf_token": token + "x"})
    assert response.status_code == 403
    assert response.json()["code"] == "csrf_failed"


async def test_sign_in_never_redirects_off_site(site) -> None:
    page = await site.client.get("/signin?next=//evil.example/x", headers=HTML)
    assert 'name="next" value="/"' in page.text
    response = await site.client.post(
        "/signin",
        data={
            "csrf_token": _csrf(page.text),
            "api_key": site.keys["buyer"],
            "next": "https://evil.example/",
        },
        headers=HTML,
    )
    assert response.headers["location"] == "/"


async def test_executor_may_browse_but_not_order(site) -> None:
    await site.sign_in("executor")
    agent = await site.client.get("/agents/echo-bot", headers=HTML)
    assert agent.status_code == 200
    assert "Ordering needs a buyer key" in agent.text
    jobs = await site.client.get("/jobs", headers=HTML)
    assert jobs.status_code == 403
    assert "forbidden" in jobs.text


async def test_cookies_are_secure_over_https(site) -> None:
    async with httpx.AsyncClient(
        transport=site.client._transport, base_url="https://testserver"
    ) as browser:
        page = await browser.get("/signin", headers=HTML)
        csrf_cookie = page.headers["set-cookie"]
        assert csrf_cookie.startswith("agnt_csrf=") and "Secure" in csrf_cookie
        response = await browser.post(
            "/signin",
            data={"csrf_token": _csrf(page.text), "api_key": site.keys["buyer"]},
            headers=HTML,
        )
        assert response.status_code == 303
        assert "Secure" in response.headers["set-cookie"]
