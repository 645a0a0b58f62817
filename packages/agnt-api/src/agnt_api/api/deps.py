"""Dependencies of the routes: the runtime, and who is calling (with which role)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from agnt_api.auth import Principal, key_prefix
from agnt_api.errors import Forbidden, InvalidApiKey, NotAuthenticated
from agnt_api.runtime import Runtime
from agnt_api.services import keys
from agnt_models import Role

_bearer = HTTPBearer(auto_error=False, description="An agnt API key: `agnt_...`")


def get_runtime(request: Request) -> Runtime:
    """The app's runtime (built by ``create_app``)."""
    runtime: Runtime = request.app.state.runtime
    return runtime


async def _runtime(request: Request) -> Runtime:
    # async although it awaits nothing: FastAPI runs a plain ``def`` dependency in a worker
    # thread, a thread hop on every request for one attribute read.
    return get_runtime(request)


RuntimeDep = Annotated[Runtime, Depends(_runtime)]


async def current_principal(
    rt: RuntimeDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """The caller, from ``Authorization: Bearer <key>``; 401 when missing, unknown or revoked."""
    if credentials is None:
        raise NotAuthenticated(
            "send your API key as 'Authorization: Bearer <key>'",
            headers={"WWW-Authenticate": 'Bearer realm="agnt"'},
        )

    principal = await principal_of_key(rt, credentials.credentials)
    if principal is None:
        raise InvalidApiKey(
            "the API key is unknown or revoked",
            headers={"WWW-Authenticate": 'Bearer realm="agnt", error="invalid_token"'},
        )
    return principal


async def principal_of_key(rt: Runtime, key: str) -> Principal | None:
    """The principal of an API key, ``None`` when unknown or revoked; marks the key used."""

    async def lookup(key: str) -> Principal | None:
        return await rt.database.run(keys.authenticate, key)

    # Remembered for a few seconds per process: most requests skip this transaction.
    principal = await rt.keys.principal(key, lookup)
    if principal is None:
        return None
    # "Last used", cached hit or not: at most once a minute per key and process.
    prefix = key_prefix(key)
    if rt.keys.use_due(prefix):
        await rt.database.write(keys.mark_used, prefix)
    return principal


def require_role(*roles: Role) -> Callable[[Principal], Awaitable[Principal]]:
    """A dependency admitting only callers with one of ``roles`` (403 otherwise)."""
    allowed = frozenset(roles)

    async def dependency(
        principal: Annotated[Principal, Depends(current_principal)],
    ) -> Principal:
        if principal.role not in allowed:
            names = " or ".join(sorted(role.value for role in allowed))
            raise Forbidden(f"this needs a {names} key; yours is {principal.role.value}")
        return principal

    return dependency


AnyPrincipal = Annotated[Principal, Depends(current_principal)]
Buyer = Annotated[Principal, Depends(require_role(Role.BUYER, Role.ADMIN))]
Executor = Annotated[Principal, Depends(require_role(Role.EXECUTOR))]
