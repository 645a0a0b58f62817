"""The executor's two busiest endpoints, answered without FastAPI's per-request machinery.

``POST /v1/executor/claims`` and ``POST /v1/executor/jobs/{id}/status`` are most of a
fleet's requests. FastAPI spends more CPU on each (matching every route, solving four
dependencies, validating the answer it is handed) than the database work does. These
routes are placed first and take only the requests they can answer exactly as the FastAPI
routes in ``executor.py`` would: a POST with a JSON body that validates, from an executor's
valid key. Anything else (no or a bad key, another role, a body that does not validate, a
job id that is no UUID) goes on to the FastAPI route with the body replayed, so every such
error answers as before. The work is the same call (``dispatch``), and its errors
(``JobNotFound``, ``InvalidTransition``, ``StaleAttempt``...) reach the same exception
handlers, since these routes run inside the app's exception middleware.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI
from fastapi.security.utils import get_authorization_scheme_param
from pydantic import BaseModel, TypeAdapter, ValidationError
from starlette._utils import get_route_path
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from agnt_api.api.deps import principal_of_key
from agnt_api.auth import Principal
from agnt_api.runtime import Runtime
from agnt_api.services import dispatch, presence
from agnt_models import ClaimedJobs, ClaimRequest, Job, Role, StatusReport

_PASSED_ON = "agnt.fast_path_passed"
"""Scope key: this request goes to the FastAPI routes (set when the fast route gives up)."""

_JSON = "application/json"

Answer = Callable[[Runtime, Principal, Request, dict[str, str], Any], Awaitable[bytes]]
"""The work of a fast route: the JSON bytes of a 200 answer."""

_claimed_json = TypeAdapter(ClaimedJobs)
_job_json = TypeAdapter(Job)


class _FastRoute(BaseRoute):
    """A POST route taking a JSON ``body_model`` from an executor; others pass on."""

    def __init__(
        self,
        path_format: str,
        pattern: str,
        body_model: type[BaseModel],
        answer: Answer,
        rt: Runtime,
        routes: ASGIApp,
    ) -> None:
        self.path_format = path_format
        self._pattern = re.compile(pattern)
        self._body_model = body_model
        self._answer = answer
        self._rt = rt
        self._routes = routes

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        """A full match for a POST to the path (unless this request was passed on)."""
        if scope["type"] != "http" or scope["method"] != "POST" or _PASSED_ON in scope:
            return Match.NONE, {}
        found = self._pattern.fullmatch(get_route_path(scope))
        if found is None:
            return Match.NONE, {}
        return Match.FULL, {"path_params": found.groupdict()}

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer the request, or hand it (body replayed) to the FastAPI routes."""
        request = Request(scope, receive)
        body = await request.body()
        caller, parsed = await self._accept(request, body)
        if caller is None:
            await self._pass_on(scope, receive, send, body)
            return
        content = await self._answer(self._rt, caller, request, scope["path_params"], parsed)
        await Response(content, media_type=_JSON)(scope, receive, send)

    async def _accept(self, request: Request, body: bytes) -> tuple[Principal | None, Any]:
        """The executor calling and its parsed body; ``None`` for FastAPI to answer."""
        content_type = request.headers.get("content-type", "")
        scheme, key = get_authorization_scheme_param(request.headers.get("authorization"))
        if content_type.lower() != _JSON or scheme.lower() != "bearer" or not key:
            return None, None
        try:
            # As FastAPI parses a JSON body: ``json.loads``, then the model in Python mode.
            parsed = self._body_model.model_validate(json.loads(body))
        except (ValueError, ValidationError, RecursionError):
            return None, None
        caller = await principal_of_key(self._rt, key)
        if caller is None or caller.role is not Role.EXECUTOR:
            return None, None
        return caller, parsed

    async def _pass_on(self, scope: Scope, receive: Receive, send: Send, body: bytes) -> None:
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        scope[_PASSED_ON] = True
        await self._routes(scope, replay, send)


async def _claim(
    rt: Runtime, caller: Principal, request: Request, _params: dict[str, str], body: Any
) -> bytes:
    assert isinstance(body, ClaimRequest)
    await presence.record_claim(rt, caller, body)
    claimed = await dispatch.claim_jobs(rt, caller, body, request.is_disconnected)
    return _claimed_json.dump_json(claimed, by_alias=True)


async def _report(
    rt: Runtime, caller: Principal, _request: Request, params: dict[str, str], body: Any
) -> bytes:
    assert isinstance(body, StatusReport)
    job = await dispatch.report_status(rt, caller, uuid.UUID(params["job_id"]), body)
    return _job_json.dump_json(job, by_alias=True)


_UUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"


def install_fast_routes(app: FastAPI, rt: Runtime) -> None:
    """Put the fast claim and status routes ahead of every other route of ``app``."""
    routes = app.router
    app.router.routes[0:0] = [
        _FastRoute("/v1/executor/claims", "/v1/executor/claims", ClaimRequest, _claim, rt, routes),
        _FastRoute(
            "/v1/executor/jobs/{job_id}/status",
            rf"/v1/executor/jobs/(?P<job_id>{_UUID})/status",
            StatusReport,
            _report,
            rt,
            routes,
        ),
    ]
