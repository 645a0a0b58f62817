"""What a form post hands to the page it redirects to: post/redirect/get without losing input.

After a post the browser always lands on a GET page (reload never resubmits, a later visit
never meets a bare 405). What that page must show — the values typed, the errors next to
their fields, a notice — travels in a short-lived signed cookie (itsdangerous, compressed)
read once by the page at ``path``. The cookie is HttpOnly and holds only what the buyer
typed on this site; a flash that does not fit a cookie is not kept (``fits`` says so, and
the caller answers the post with the page itself instead).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from fastapi import Request, Response
from itsdangerous import BadSignature, URLSafeTimedSerializer

from agnt_api.web.sessions import session_secret

FLASH_COOKIE = "agnt_flash"
FLASH_MAX_AGE_SECONDS = 30 * 60
"""A draft kept across a sign-in outlives a slow typist, not a day."""
MAX_COOKIE_CHARS = 3800
"""Browsers keep cookies up to 4096 bytes, name and attributes included."""


@dataclass(frozen=True)
class Flash:
    """A form's values, its errors and a notice, for the page at ``path``."""

    path: str
    values: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    notice: str | None = None


def _serializer(request: Request) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(session_secret(request), salt="agnt-web-flash")


def keep(request: Request, response: Response, flash: Flash) -> bool:
    """Set the flash cookie on ``response``; ``False`` (nothing set) when it is too large."""
    payload = {"p": flash.path, "v": flash.values, "e": flash.errors, "n": flash.notice}
    value = _serializer(request).dumps(payload)
    if len(value) > MAX_COOKIE_CHARS:
        return False
    response.set_cookie(
        FLASH_COOKIE,
        value,
        max_age=FLASH_MAX_AGE_SECONDS,
        path="/",
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
    )
    return True


def _strings(value: object) -> dict[str, str]:
    if not isinstance(value, dict):
        return {}
    return {str(k): v for k, v in value.items() if isinstance(v, str)}


def take(request: Request) -> Flash | None:
    """The flash for this page, or ``None``; read once (``render`` drops the cookie)."""
    cookie = request.cookies.get(FLASH_COOKIE)
    if not cookie:
        return None
    try:
        payload = _serializer(request).loads(cookie, max_age=FLASH_MAX_AGE_SECONDS)
    except BadSignature:
        payload = None
    if payload is None:
        request.state.flash_taken = True
        return None
    if not isinstance(payload, dict) or payload.get("p") != request.url.path:
        return None  # another page's flash stays for that page
    request.state.flash_taken = True
    notice = payload.get("n")
    return Flash(
        path=request.url.path,
        values=_strings(payload.get("v")),
        errors=_strings(payload.get("e")),
        notice=notice if isinstance(notice, str) else None,
    )


def drop_if_taken(request: Request, response: Response) -> None:
    """Remove the flash cookie once its page has read it."""
    if not getattr(request.state, "flash_taken", False):
        return
    response.delete_cookie(
        FLASH_COOKIE,
        path="/",
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
    )
