"""The account page: who is signed in, the principal's API keys (create, revoke), and the
webhook signing secret.

A new key is shown once, in the answer to the form that made it (``no-store``; only its
hash is kept). Names are unique among a principal's active keys, so a reloaded form (the
browser re-posts it) is refused instead of making a second key.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.responses import RedirectResponse, Response

from agnt_api.api.deps import get_runtime
from agnt_api.auth import Principal
from agnt_api.services import keys, webhooks
from agnt_api.web import flash
from agnt_api.web.flash import Flash
from agnt_api.web.sessions import CsrfChecked, SignedIn, signed_in_key_prefix
from agnt_api.web.templating import render
from agnt_models import ApiKeyCreated, Role

router = APIRouter(include_in_schema=False)

MAX_KEY_NAME_CHARS = 200
KEY_NAME_FIELD = "name"


async def _account_page(
    request: Request,
    principal: Principal,
    *,
    created: ApiKeyCreated | None = None,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    notice: str | None = None,
    status_code: int = 200,
) -> Response:
    database = get_runtime(request).database
    listed = await database.run(keys.principal_keys, principal.id)
    current = await signed_in_key_prefix(request)
    secret = None
    if principal.role in (Role.BUYER, Role.ADMIN):
        secret = (await database.write(webhooks.ensure_secret, principal.id)).secret
    return await render(
        request,
        "account.html",
        {
            "principal": principal,
            "keys": listed,
            "current_prefix": current,
            "current_key": next((key for key in listed if key.prefix == current), None),
            "created": created,
            "errors": errors or {},
            "values": values or {},
            "notice": notice,
            "webhook_secret": secret,
            "max_name": MAX_KEY_NAME_CHARS,
        },
        status_code=status_code,
    )


@router.get("/account")
async def account_page(request: Request, principal: SignedIn) -> Response:
    """Who is signed in, the keys, the webhook secret."""
    kept = flash.take(request)
    if kept is None:
        return await _account_page(request, principal)
    return await _account_page(
        request, principal, errors=kept.errors, values=kept.values, notice=kept.notice
    )


@router.post("/account/keys", dependencies=[CsrfChecked])
async def create_key_submit(request: Request, principal: SignedIn) -> Response:
    """Make a key for the signed-in principal and show it, once."""
    form = await request.form()
    raw = form.get(KEY_NAME_FIELD)
    name = raw.strip() if isinstance(raw, str) else ""
    database = get_runtime(request).database
    error = None
    if not name:
        error = "Give the key a name, like “laptop” or “ci”."
    elif len(name) > MAX_KEY_NAME_CHARS:
        error = f"At most {MAX_KEY_NAME_CHARS} characters."
    elif any(
        key.name == name and key.revoked_at is None
        for key in await database.run(keys.principal_keys, principal.id)
    ):
        error = f"You already have an active key named “{name}”; pick another name."
    if error is not None:
        back = RedirectResponse("/account", status_code=303)
        kept = Flash("/account", values={KEY_NAME_FIELD: name}, errors={KEY_NAME_FIELD: error})
        flash.keep(request, back, kept)
        return back
    created = await database.write(keys.create_key, principal.role, name, principal.id)
    # The key exists only in this answer (the page is no-store): it is not redirected.
    return await _account_page(request, principal, created=created, status_code=201)


@router.post("/account/keys/{prefix}/revoke", dependencies=[CsrfChecked])
async def revoke_key_submit(
    request: Request,
    principal: SignedIn,
    prefix: Annotated[str, Path(max_length=32)],
) -> Response:
    """Revoke one of the principal's own keys; revoking this browser's key signs it out."""
    database = get_runtime(request).database
    revoked = await database.write(keys.revoke_principal_key, principal.id, prefix)
    if revoked and prefix == await signed_in_key_prefix(request):
        return RedirectResponse("/signin", status_code=303)
    back = RedirectResponse("/account", status_code=303)
    notice = f"Key {prefix}… revoked." if revoked else f"No active key {prefix}… to revoke."
    flash.keep(request, back, Flash("/account", notice=notice))
    return back
