"""Web sessions and CSRF tokens: signed cookies (itsdangerous), never the API key itself.

The session cookie holds a random session token, signed with the service's session secret;
the session itself lives in the database (``services.web_sessions``), so signing out ends
it for good (a saved copy of the cookie signs no one in) and revoking the key ends it too.
CSRF: a random nonce lives in its own HttpOnly cookie and every form carries the nonce and
the signed-in principal's id, signed with the secret: a page on another site can neither
read nor forge the token, and a token obtained under another identity (someone who plants
their own CSRF cookie) does not fit this browser's session.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated

from fastapi import Depends, Request, Response
from itsdangerous import BadSignature, URLSafeSerializer, URLSafeTimedSerializer

from agnt_api import auth
from agnt_api.api.deps import get_runtime
from agnt_api.auth import Principal
from agnt_api.errors import ApiError, Forbidden
from agnt_api.services import keys, web_sessions
from agnt_models import ErrorCode, Role

SESSION_COOKIE = "agnt_session"
CSRF_COOKIE = "agnt_csrf"
CSRF_FIELD = "csrf_token"
SESSION_MAX_AGE_SECONDS = 7 * 24 * 3600


class CsrfFailed(ApiError):
    """A form was posted without the token of this browser's session (403 ``csrf_failed``)."""

    code = ErrorCode.CSRF_FAILED


class SignInRequired(Exception):
    """The page needs a signed-in browser; answered with a redirect to the sign-in page."""


@dataclass(frozen=True)
class WebSession:
    """The browser's state for one request: who is signed in, and its CSRF token."""

    principal: Principal | None
    csrf_nonce: str
    csrf_token: str
    new_csrf_nonce: bool

    @property
    def is_buyer(self) -> bool:
        """Whether the signed-in principal may order and follow jobs."""
        return self.principal is not None and self.principal.role in (Role.BUYER, Role.ADMIN)


def session_secret(request: Request) -> str:
    """The service's secret that signs sessions, CSRF tokens and flashes."""
    secret: str | None = getattr(request.app.state, "web_session_secret", None)
    if secret is None:
        secret = get_runtime(request).settings.resolved_session_secret()
        request.app.state.web_session_secret = secret
    return secret


def _session_serializer(request: Request) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(session_secret(request), salt="agnt-web-session")


def _identity(principal: Principal | None) -> str:
    return "" if principal is None else str(principal.id)


def _csrf_serializer(request: Request) -> URLSafeSerializer:
    return URLSafeSerializer(session_secret(request), salt="agnt-web-csrf")


def _session_token(request: Request) -> str | None:
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        return None
    try:
        payload = _session_serializer(request).loads(cookie, max_age=SESSION_MAX_AGE_SECONDS)
        token = payload["session"]
    except (BadSignature, KeyError, TypeError):
        return None
    return token if isinstance(token, str) and 0 < len(token) <= 100 else None


async def _signed_in_principal(request: Request) -> Principal | None:
    token = _session_token(request)
    if token is None:
        return None
    return await get_runtime(request).database.run(web_sessions.session_principal, token)


async def web_session(request: Request) -> WebSession:
    """The request's session (cached on the request, so dependencies share one lookup)."""
    cached = getattr(request.state, "web_session", None)
    if isinstance(cached, WebSession):
        return cached
    nonce = request.cookies.get(CSRF_COOKIE, "")
    fresh = len(nonce) < 16 or len(nonce) > 100
    if fresh:
        nonce = secrets.token_urlsafe(24)
    principal = await _signed_in_principal(request)
    session = WebSession(
        principal=principal,
        csrf_nonce=nonce,
        csrf_token=_csrf_serializer(request).dumps([nonce, _identity(principal)]),
        new_csrf_nonce=fresh,
    )
    request.state.web_session = session
    return session


SessionDep = Annotated[WebSession, Depends(web_session)]


async def signed_in(session: SessionDep) -> Principal:
    """The signed-in principal; ``SignInRequired`` when the browser has no valid session."""
    if session.principal is None:
        raise SignInRequired
    return session.principal


async def signed_in_buyer(principal: Annotated[Principal, Depends(signed_in)]) -> Principal:
    """The signed-in principal, who must be a buyer (or admin) to see and order jobs."""
    if principal.role not in (Role.BUYER, Role.ADMIN):
        raise Forbidden(f"jobs need a buyer key; you signed in with an {principal.role.value} key")
    return principal


SignedIn = Annotated[Principal, Depends(signed_in)]
SignedInBuyer = Annotated[Principal, Depends(signed_in_buyer)]


async def check_csrf(request: Request, session: SessionDep) -> None:
    """Refuse (``CsrfFailed``) a form post whose token does not fit this browser's session."""
    form = await request.form()
    token = form.get(CSRF_FIELD)
    cookie_nonce = request.cookies.get(CSRF_COOKIE)
    if not isinstance(token, str) or not cookie_nonce:
        raise CsrfFailed("the form has no valid CSRF token; reload the page and try again")
    try:
        signed = _csrf_serializer(request).loads(token)
    except BadSignature as exc:
        raise CsrfFailed("the form's CSRF token is invalid; reload the page and try again") from exc
    fits = (
        isinstance(signed, list)
        and len(signed) == 2
        and all(isinstance(part, str) for part in signed)
        and secrets.compare_digest(signed[0].encode(), cookie_nonce.encode())
        and secrets.compare_digest(signed[1].encode(), _identity(session.principal).encode())
    )
    if not fits:
        raise CsrfFailed("the form's CSRF token belongs to another session; reload the page")


CsrfChecked = Depends(check_csrf)


def _set_cookie(
    request: Request, response: Response, name: str, value: str, max_age: int | None = None
) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path="/",
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
    )


def remember_csrf_nonce(request: Request, response: Response, session: WebSession) -> None:
    """Set the CSRF cookie when this request made a new nonce (the page's forms carry it)."""
    if session.new_csrf_nonce:
        _set_cookie(request, response, CSRF_COOKIE, session.csrf_nonce)


async def sign_in(request: Request, response: Response, api_key: str) -> Principal | None:
    """Check ``api_key``; when valid, set the session cookie on ``response``."""
    api_key = api_key.strip()
    database = get_runtime(request).database
    principal = await database.run(keys.authenticate, api_key)
    if principal is None:
        return None
    previous = _session_token(request)
    if previous is not None:
        await database.write(web_sessions.end_session, previous)
    token = secrets.token_urlsafe(32)
    lifetime = timedelta(seconds=SESSION_MAX_AGE_SECONDS)
    await database.write(web_sessions.start_session, token, auth.key_prefix(api_key), lifetime)
    if get_runtime(request).keys.use_due(auth.key_prefix(api_key)):
        await database.write(keys.mark_used, auth.key_prefix(api_key))
    value = _session_serializer(request).dumps({"session": token})
    _set_cookie(request, response, SESSION_COOKIE, value, max_age=SESSION_MAX_AGE_SECONDS)
    return principal


async def sign_out(request: Request, response: Response) -> None:
    """End the browser's session in the database and drop its cookie."""
    token = _session_token(request)
    if token is not None:
        await get_runtime(request).database.write(web_sessions.end_session, token)
    response.delete_cookie(
        SESSION_COOKIE,
        path="/",
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
    )


async def signed_in_key_prefix(request: Request) -> str | None:
    """The prefix of the key this browser signed in with (the account page marks it)."""
    token = _session_token(request)
    if token is None:
        return None
    return await get_runtime(request).database.run(web_sessions.session_key_prefix, token)
