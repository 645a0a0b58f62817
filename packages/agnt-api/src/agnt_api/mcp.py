"""``/mcp``: the marketplace as an MCP server over streamable HTTP (the tools of agnt-mcp).

The route authenticates like every buyer route (bearer key, 401/403 problem+json) and
hands the exchange to the MCP SDK's session manager, stateless: any replica answers any
request, and a tool's progress notifications stream back on its own POST's response. The
tools run on ``ServicesBackend``, the buyer services the HTTP routes call, as that caller.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass
from typing import Any, TypeVar

from fastapi import FastAPI, Request, Response
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecuritySettings
from starlette.types import Receive, Scope, Send

from agnt_api.api.deps import Buyer
from agnt_api.api.problems import problem_response, request_id_of
from agnt_api.auth import Principal
from agnt_api.errors import ApiError
from agnt_api.ratelimit import RateAction, RateLimits
from agnt_api.runtime import Runtime
from agnt_api.services import buyer, results
from agnt_mcp.backend import BackendError
from agnt_mcp.server import build_server
from agnt_models import (
    Agent,
    AgentSearchPage,
    ErrorCode,
    Job,
    JobCreate,
    JobEvent,
    JobEventPage,
    JobResult,
    JsonObject,
    Problem,
    ResultFile,
)

MCP_PATH = "/mcp"
_CALLER = "agnt_mcp_caller"
"""Where the route leaves the authenticated caller in the request's scope state."""

T = TypeVar("T")


@dataclass(frozen=True)
class McpCaller:
    """Who called ``/mcp`` (authenticated by the route) and the API's URL as they see it."""

    principal: Principal
    base_url: str


class ServicesBackend:
    """``agnt_mcp.backend.Backend`` over the API's buyer services, as one caller."""

    def __init__(self, rt: Runtime, caller: McpCaller, rate_limits: RateLimits | None) -> None:
        self._rt = rt
        self._principal = caller.principal
        self._base_url = caller.base_url
        self._rate_limits = rate_limits

    async def search_agents(
        self, query: str, *, tag: str | None, limit: int, cursor: str | None
    ) -> AgentSearchPage:
        """One page of agents matching ``query``, rate-limited like ``GET /v1/agents/search``."""
        if self._rate_limits is not None:
            await _refusals(self._rate_limits.enforce(RateAction.SEARCHES, str(self._principal.id)))
        return await _refusals(
            buyer.search_agents(self._rt, query, tag=tag, limit=limit, cursor=cursor)
        )

    async def get_agent(self, agent_id: str) -> Agent:
        """An agent in full."""
        return await _refusals(buyer.get_agent(self._rt, agent_id))

    async def order_job(
        self, agent_id: str, prompt: str, params: JsonObject, *, wait: float
    ) -> Job:
        """Order a job, rate-limited like ``POST /v1/jobs``; ``wait`` as its ``Prefer: wait``."""
        body = JobCreate(agent_id=agent_id, prompt=prompt, params=params)
        if self._rate_limits is not None:
            await _refusals(self._rate_limits.enforce(RateAction.ORDERS, str(self._principal.id)))
        job, _created = await _refusals(buyer.order_job(self._rt, self._principal, body, None))
        return await _refusals(buyer.wait_for_end(self._rt, self._principal, job, wait))

    async def get_job(self, job_id: uuid.UUID, *, wait: float) -> Job:
        """A job; with ``wait`` > 0, once it changed or ``wait`` seconds passed."""
        return await _refusals(buyer.get_job(self._rt, self._principal, job_id, wait=wait))

    async def follow_events(self, job_id: uuid.UUID, *, after: int) -> AsyncIterator[JobEvent]:
        """The job's events as they are appended, until the terminal one."""
        first = await self.job_events(job_id, after=after)
        batches = buyer.follow_events(self._rt, self._principal, job_id, after=after, first=first)
        try:
            async for batch in batches:
                for event in batch:
                    yield event
        except ApiError as exc:
            raise BackendError(_problem(exc)) from exc

    async def job_events(self, job_id: uuid.UUID, *, after: int) -> JobEventPage:
        """One page of the job's events after ``after``."""
        return await _refusals(buyer.job_events(self._rt, self._principal, job_id, after=after))

    async def cancel_job(self, job_id: uuid.UUID) -> Job:
        """Cancel a job that has not ended."""
        return await _refusals(buyer.cancel_job(self._rt, self._principal, job_id))

    async def get_result(self, job_id: uuid.UUID) -> JobResult:
        """The files of a completed job, with their download URLs."""
        return await _refusals(
            results.job_result(self._rt, self._principal, job_id, base_url=self._base_url)
        )

    async def read_result_file(self, job_id: uuid.UUID, file: ResultFile) -> bytes:
        """One result file's bytes, from storage."""
        stored = await _refusals(results.result_file(self._rt, self._principal, job_id, file.name))
        return b"".join([chunk async for chunk in self._rt.storage.read(stored.key)])


async def _refusals(call: Awaitable[T]) -> T:
    """``call``'s answer; a domain error becomes a ``BackendError`` with its problem."""
    try:
        return await call
    except ApiError as exc:
        raise BackendError(_problem(exc)) from exc


def _problem(exc: ApiError) -> Problem:
    return Problem.of(exc.code, exc.detail, errors=exc.errors)


class McpEndpoint:
    """The MCP server and its session manager, for one app.

    Both are built when the app's lifespan starts, not with the app: describing the tools
    (a JSON Schema per tool, from their signatures) costs about half a second of CPU, which
    an app served without a lifespan (over ASGI in tests, or never asked for MCP) never needs.
    """

    def __init__(self, app: FastAPI, runtime: Runtime) -> None:
        self._app = app
        self._runtime = runtime
        self.server: MCPServer[Any] | None = None
        self.sessions: StreamableHTTPSessionManager | None = None
        self.running = False

    def _build(self) -> StreamableHTTPSessionManager:
        app, runtime = self._app, self._runtime

        async def backend_for(ctx: Context[Any, Any]) -> ServicesBackend:
            request = ctx.request_context.request
            caller = getattr(request, "scope", {}).get("state", {}).get(_CALLER)
            if not isinstance(caller, McpCaller):
                # Only the authenticated route below reaches the server.
                raise BackendError(Problem.of(ErrorCode.NOT_AUTHENTICATED))
            return ServicesBackend(runtime, caller, getattr(app.state, "rate_limits", None))

        self.server = build_server(backend_for)
        # Stateless: no session lives in one replica's memory; JSON-RPC answers stream as
        # SSE so that progress notifications reach the host while a tool runs.
        # No DNS-rebinding host check: the API serves any host name, and every exchange
        # carries a bearer key that a rebinding page cannot send.
        self.server.streamable_http_app(
            stateless_http=True,
            transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False),
        )
        return self.server.session_manager

    @contextlib.asynccontextmanager
    async def run(self) -> AsyncIterator[None]:
        """Serve MCP exchanges while the block runs (the app's lifespan)."""
        self.sessions = self._build()
        async with self.sessions.run():
            self.running = True
            try:
                yield
            finally:
                self.running = False


class _McpExchange(Response):
    """Hands the request, unread, to the MCP session manager, which answers it."""

    def __init__(self, endpoint: McpEndpoint) -> None:
        super().__init__()
        self._endpoint = endpoint

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        sessions = self._endpoint.sessions
        assert sessions is not None, "checked by the route: the endpoint is running"
        await sessions.handle_request(scope, receive, send)


def install_mcp(app: FastAPI, runtime: Runtime) -> McpEndpoint:
    """Serve ``/mcp`` on ``app``; its session manager runs inside the app's lifespan."""
    endpoint = McpEndpoint(app, runtime)
    app_lifespan = app.router.lifespan_context

    @contextlib.asynccontextmanager
    async def lifespan(lifespan_app: Any) -> AsyncIterator[Any]:
        async with endpoint.run(), app_lifespan(lifespan_app) as state:
            yield state

    app.router.lifespan_context = lifespan

    @app.api_route(MCP_PATH, methods=["GET", "POST", "DELETE"], include_in_schema=False)
    async def mcp_exchange(request: Request, caller: Buyer) -> Response:
        """One MCP message exchange (streamable HTTP), as the authenticated buyer."""
        if not endpoint.running:
            # Served without a lifespan (e.g. httpx's ASGITransport): no session manager.
            return problem_response(
                ErrorCode.SERVICE_UNAVAILABLE,
                "the MCP endpoint runs only under a server that runs the app's lifespan",
                request_id=request_id_of(request),
            )
        setattr(request.state, _CALLER, McpCaller(caller, str(request.base_url)))
        return _McpExchange(endpoint)

    return endpoint
