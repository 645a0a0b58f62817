"""The account page over ASGI: keys of the signed-in principal only, shown once, revoked."""

from __future__ import annotations

import re

from agnt_api.auth import key_prefix

HTML = {"Accept": "text/html"}
_NEW_KEY = re.compile(r"data-new-key>([^<]+)<")


async def _create(site, name: str):
    token = await site.csrf("/account")
    return await site.client.post(
        "/account/keys", data={"csrf_token": token, "name": name}, headers=HTML
    )


async def test_account_page_names_the_principal_role_and_signed_in_key(site) -> None:
    await site.sign_in()
    page = await site.client.get("/account", headers=HTML)
    assert page.status_code == 200
    assert "data-principal-name>buyer<" in page.text
    assert "data-principal-role>buyer<" in page.text
    assert "(this browser)" in page.text
    assert "whsec_" in page.text  # the webhook secret, for buyers
    assert site.keys["buyer"] not in page.text
    assert f'data-key-prefix="{key_prefix(site.keys["buyer"])}"' in page.text


async def test_a_created_key_is_shown_once_and_works(site) -> None:
    await site.sign_in()
    created = await _create(site, "laptop")
    assert created.status_code == 201
    assert created.headers["cache-control"] == "no-store"
    key = _NEW_KEY.search(created.text).group(1)
    answer = await site.client.get("/v1/jobs", headers={"Authorization": f"Bearer {key}"})
    assert answer.status_code == 200
    again = await site.client.get("/account", headers=HTML)
    assert key not in again.text and "laptop" in again.text


async def test_a_resubmitted_create_form_makes_no_second_key(site) -> None:
    await site.sign_in()
    assert (await _create(site, "ci")).status_code == 201
    resubmitted = await _create(site, "ci")
    assert resubmitted.status_code == 303
    page = await site.client.get("/account", headers=HTML)
    assert "already have an active key named" in page.text
    assert page.text.count('<td data-label="Name">ci') == 1


async def test_an_empty_or_long_name_is_refused_next_to_the_field(site) -> None:
    await site.sign_in()
    for name, message in (("  ", "Give the key a name"), ("x" * 201, "At most 200")):
        assert (await _create(site, name)).status_code == 303
        page = await site.client.get("/account", headers=HTML)
        assert 'data-field-error="name"' in page.text and message in page.text


async def test_revoking_a_key_stops_it_and_another_principal_cannot_revoke_it(site) -> None:
    await site.sign_in()
    key = _NEW_KEY.search((await _create(site, "temp")).text).group(1)
    prefix = key_prefix(key)
    # Another buyer signed in in its own browser cannot revoke it.
    await site.sign_in("other-buyer")
    token = await site.csrf("/account")
    refused = await site.client.post(
        f"/account/keys/{prefix}/revoke", data={"csrf_token": token}, headers=HTML
    )
    assert refused.status_code == 303
    assert "No active key" in (await site.client.get("/account", headers=HTML)).text
    await site.sign_in()
    token = await site.csrf("/account")
    done = await site.client.post(
        f"/account/keys/{prefix}/revoke", data={"csrf_token": token}, headers=HTML
    )
    assert done.status_code == 303 and done.headers["location"] == "/account"
    assert f"Key {prefix}… revoked." in (await site.client.get("/account", headers=HTML)).text
    answer = await site.client.get("/v1/jobs", headers={"Authorization": f"Bearer {key}"})
    assert answer.status_code == 401


async def test_revoking_the_key_of_this_browser_signs_it_out(site) -> None:
    await site.sign_in()
    prefix = key_prefix(site.keys["buyer"])
    done = await site.client.post(
        f"/account/keys/{prefix}/revoke",
        data={"csrf_token": await site.csrf("/account")},
        headers=HTML,
    )
    assert done.headers["location"] == "/signin"
    assert (await site.client.get("/account", headers=HTML)).status_code == 303


async def test_key_forms_need_the_csrf_token(site) -> None:
    await site.sign_in()
    created = await site.client.post("/account/keys", data={"name": "x"}, headers=HTML)
    assert created.status_code == 403 and "csrf_failed" in created.text
