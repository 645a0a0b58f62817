"""The busiest endpoints, answered without FastAPI's per-request machinery.

An executor fleet's claims, status reports and completions, and the job and agent reads
of buyers waiting on them, are most requests. FastAPI spends more CPU on each (matching
every route, solving several dependencies, validating the answer it is handed) than the
database work does. These routes are placed first and take only the requests they can
answer exactly as the FastAPI routes (``executor.py``, ``jobs.py``, ``agents.py``) would:
a JSON body that validates (or a multipart one, or a GET without a query string), from a
valid key of a role the route admits. Anything else (no or a bad key, another role, a body
that does not validate, a query string, an id in another spelling) goes on to the FastAPI
route with the body replayed, so every such error answers as before. The work is the
same service call, and its errors (``JobNotFound``, ``InvalidTransition``,
``StaleAttempt``, ``RateLimited``...) reach the same exception handlers, since these
routes run inside the app's exception middleware.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Awaitable, Callable
from enum import Enum
from typing import TypeVar

from fastapi import FastAPI
from fastapi.security.utils import get_authorization_scheme_param
from pydantic import BaseModel, TypeAdapter, ValidationError
from starlette._utils import get_route_path
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from agnt_api.api.deps import principal_of_key
from agnt_api.api.multipart import iter_file_uploads
from agnt_api.auth import Principal
from agnt_api.ratelimit import rate_limits_of
from agnt_api.runtime import Runtime
from agnt_api.services import buyer, dispatch, presence, results
from agnt_models import (
    AGENT_ID_PATTERN,
    ATTEMPT_HEADER,
    Agent,
    ClaimedJobs,
    ClaimRequest,
    Job,
    JobCreate,
    Role,
    StatusReport,
)

_PASSED_ON = "agnt.fast_path_passed"
"""Scope key: this request goes to the FastAPI routes (set when the fast route gives up)."""

_JSON = "application/json"

Answer = Callable[[], Awaitable[bytes | tuple[bytes, int]]]
"""The rest of a request a fast route took: the JSON bytes of its 200 answer (or the bytes
and another status code)."""

Taker = Callable[[Runtime, Request, Principal, bytes | None], Awaitable[Answer | None]]
"""Whether a fast route takes an executor's request (its body, if JSON, read): the answer."""

_claimed_json = TypeAdapter(ClaimedJobs)
_job_json = TypeAdapter(Job)
_agent_json = TypeAdapter(Agent)


class _Kind(Enum):
    """What requests a fast route takes (others pass on)."""

    JSON = "json"  # a POST with Content-Type: application/json, read and parsed
    MULTIPART = "multipart"  # a POST with a multipart body, streamed by the work
    READ = "read"  # a GET without a query string


class _FastRoute(BaseRoute):
    """A route for the busiest calls; requests it does not take pass on to FastAPI's."""

    def __init__(
        self,
        path_format: str,
        pattern: str,
        kind: _Kind,
        roles: frozenset[Role],
        take: Taker,
        rt: Runtime,
        routes: ASGIApp,
    ) -> None:
        self.path_format = path_format
        self._pattern = re.compile(pattern)
        self._kind = kind
        self._method = "GET" if kind is _Kind.READ else "POST"
        self._roles = roles
        self._take = take
        self._rt = rt
        self._routes = routes

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        """A full match for the method and path (unless this request was passed on)."""
        if scope["type"] != "http" or scope["method"] != self._method or _PASSED_ON in scope:
            return Match.NONE, {}
        found = self._pattern.fullmatch(get_route_path(scope))
        if found is None:
            return Match.NONE, {}
        return Match.FULL, {"path_params": found.groupdict()}

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer the request, or hand it (body replayed) to the FastAPI routes."""
        request = Request(scope, receive)
        body: bytes | None = None
        answer: Answer | None = None
        if self._taken(request):
            if self._kind is _Kind.JSON:
                body = await request.body()
            caller = await self._caller(request)
            if caller is not None:
                answer = await self._take(self._rt, request, caller, body)
        if answer is None:
            await self._pass_on(scope, receive, send, body)
            return
        content = await answer()
        status_code = 200
        if isinstance(content, tuple):
            content, status_code = content
        await Response(content, status_code=status_code, media_type=_JSON)(scope, receive, send)

    def _taken(self, request: Request) -> bool:
        if self._kind is _Kind.READ:
            return not request.scope.get("query_string")
        content_type = request.headers.get("content-type", "").lower()
        if self._kind is _Kind.JSON:
            return content_type == _JSON
        return content_type.startswith("multipart/form-data")

    async def _caller(self, request: Request) -> Principal | None:
        scheme, key = get_authorization_scheme_param(request.headers.get("authorization"))
        if scheme.lower() != "bearer" or not key:
            return None
        caller = await principal_of_key(self._rt, key)
        return caller if caller is not None and caller.role in self._roles else None

    async def _pass_on(
        self, scope: Scope, receive: Receive, send: Send, body: bytes | None
    ) -> None:
        scope[_PASSED_ON] = True
        if body is None:
            await self._routes(scope, receive, send)
            return
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self._routes(scope, replay, send)


_ParsedModel = TypeVar("_ParsedModel", bound=BaseModel)


def _parse(model: type[_ParsedModel], body: bytes | None) -> _ParsedModel | None:
    """``body`` as FastAPI parses a JSON body (``json.loads``, then the model in Python
    mode), or ``None`` when it does not validate (FastAPI then says why)."""
    try:
        return model.model_validate(json.loads(body or b""))
    except (ValueError, ValidationError, RecursionError):
        return None


async def _take_claim(
    rt: Runtime, request: Request, caller: Principal, body: bytes | None
) -> Answer | None:
    claim = _parse(ClaimRequest, body)
    if claim is None:
        return None

    async def answer() -> bytes:
        await presence.record_claim(rt, caller, claim)
        claimed = await dispatch.claim_jobs(rt, caller, claim, request.is_disconnected)
        return _claimed_json.dump_json(claimed, by_alias=True)

    return answer


async def _take_report(
    rt: Runtime, request: Request, caller: Principal, body: bytes | None
) -> Answer | None:
    report = _parse(StatusReport, body)
    if report is None:
        return None
    job_id = uuid.UUID(request.path_params["job_id"])

    async def answer() -> bytes:
        job = await dispatch.report_status(rt, caller, job_id, report)
        return _job_json.dump_json(job, by_alias=True)

    return answer


_ATTEMPT_VALUE = re.compile(r"[1-9][0-9]{0,17}")


async def _take_completion(
    rt: Runtime, request: Request, caller: Principal, _body: bytes | None
) -> Answer | None:
    idempotency_key = request.headers.get("idempotency-key")
    if idempotency_key is not None and not 1 <= len(idempotency_key) <= 255:
        return None
    attempt_header = request.headers.get(ATTEMPT_HEADER.lower())
    if attempt_header is not None and not _ATTEMPT_VALUE.fullmatch(attempt_header):
        return None
    attempt = None if attempt_header is None else int(attempt_header)
    job_id = uuid.UUID(request.path_params["job_id"])
    # As the FastAPI route's dependency: a token per completion, once the key is known
    # (taken in the job check's thread hop).
    limits = rate_limits_of(request)

    async def answer() -> bytes:
        job = await results.complete_job(
            rt, caller, job_id, iter_file_uploads(request), idempotency_key, attempt, limits
        )
        return _job_json.dump_json(job, by_alias=True)

    return answer


async def _take_job_read(
    rt: Runtime, request: Request, caller: Principal, _body: bytes | None
) -> Answer | None:
    job_id = uuid.UUID(request.path_params["job_id"])

    async def answer() -> bytes:
        return _job_json.dump_json(await buyer.get_job(rt, caller, job_id), by_alias=True)

    return answer


async def _take_agent_read(
    rt: Runtime, request: Request, _caller: Principal, _body: bytes | None
) -> Answer | None:
    agent_id = request.path_params["agent_id"]
    if agent_id in _AGENT_PATHS:
        return None

    async def answer() -> bytes:
        return _agent_json.dump_json(await buyer.get_agent(rt, agent_id), by_alias=True)

    return answer


async def _take_order(
    rt: Runtime, request: Request, caller: Principal, body: bytes | None
) -> Answer | None:
    # As ``jobs.create_job``; a ``Prefer`` header (the long-poll) or an Idempotency-Key the
    # route's header rule refuses (or sent twice) goes to it.
    headers = request.headers
    if "prefer" in headers:
        return None
    keys = headers.getlist("idempotency-key")
    if len(keys) > 1 or (keys and not 1 <= len(keys[0]) <= 255):
        return None
    order = _parse(JobCreate, body)
    if order is None:
        return None
    idempotency_key = keys[0] if keys else None
    # As the route's dependency: a token per order once the key and body are known (taken
    # in the agent read's thread hop).
    limits = rate_limits_of(request)

    async def answer() -> tuple[bytes, int]:
        job, created = await buyer.order_job(rt, caller, order, idempotency_key, limits)
        return _job_json.dump_json(job, by_alias=True), 201 if created else 200

    return answer


_AGENT_PATHS = frozenset({"search"})
"""Names under ``/v1/agents/`` that are routes of their own, not agent ids."""

_UUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
_EXECUTOR = frozenset({Role.EXECUTOR})


def install_fast_routes(app: FastAPI, rt: Runtime) -> None:
    """Put the fast routes (claims, status reports, completions, JSON orders, job and agent reads)
    ahead of every other route of ``app``."""
    routes = app.router
    job = f"/v1/executor/jobs/(?P<job_id>{_UUID})"
    agent_id = AGENT_ID_PATTERN.removeprefix("^").removesuffix("$")
    app.router.routes[0:0] = [
        _FastRoute(
            "/v1/executor/claims",
            "/v1/executor/claims",
            _Kind.JSON,
            _EXECUTOR,
            _take_claim,
            rt,
            routes,
        ),
        _FastRoute(
            "/v1/executor/jobs/{job_id}/status",
            f"{job}/status",
            _Kind.JSON,
            _EXECUTOR,
            _take_report,
            rt,
            routes,
        ),
        _FastRoute(
            "/v1/executor/jobs/{job_id}/complete",
            f"{job}/complete",
            _Kind.MULTIPART,
            _EXECUTOR,
            _take_completion,
            rt,
            routes,
        ),
        _FastRoute(
            "/v1/jobs",
            "/v1/jobs",
            _Kind.JSON,
            frozenset({Role.BUYER, Role.ADMIN}),
            _take_order,
            rt,
            routes,
        ),
        _FastRoute(
            "/v1/jobs/{job_id}",
            f"/v1/jobs/(?P<job_id>{_UUID})",
            _Kind.READ,
            frozenset({Role.BUYER, Role.ADMIN}),
            _take_job_read,
            rt,
            routes,
        ),
        _FastRoute(
            "/v1/agents/{agent_id}",
            f"/v1/agents/(?P<agent_id>{agent_id})",
            _Kind.READ,
            frozenset(Role),
            _take_agent_read,
            rt,
            routes,
        ),
    ]
