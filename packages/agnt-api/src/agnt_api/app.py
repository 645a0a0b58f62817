"""The FastAPI application: ``create_app(settings)`` wires routes, errors and the runtime.

The runtime is built eagerly (no I/O), so the app also serves through
``httpx.ASGITransport``, which does not run the lifespan; the lifespan adds the lease
reaper, answers every long-poll as soon as the process is told to stop, and releases
connections at shutdown.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import threading
from collections.abc import AsyncIterator, Iterator
from types import FrameType
from typing import Any

import anyio
from fastapi import FastAPI
from fastapi.routing import APIRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

import agnt_api
from agnt_api import a2a
from agnt_api.a2a.files import rpc_body_limit as a2a_rpc_body_limit
from agnt_api.api.docs import install_docs
from agnt_api.api.middleware import RequestContextMiddleware
from agnt_api.api.problems import (
    API_ERROR_STATUSES,
    install_problem_handlers,
    problem_response,
    problem_responses,
)
from agnt_api.api.routes import agents, executor, files, health, inputs, jobs, webhooks
from agnt_api.api.routes.executor_fast import install_fast_routes
from agnt_api.mcp import install_mcp
from agnt_api.ratelimit import install_rate_limits
from agnt_api.runtime import Runtime
from agnt_api.services.leases import run_reaper
from agnt_api.services.search_popularity import run_popularity
from agnt_api.services.webhook_delivery import run_webhook_deliveries
from agnt_api.settings import Settings, load_settings
from agnt_api.web import install_web_pages
from agnt_models import ErrorCode

log = logging.getLogger(__name__)

_UPLOAD_PATH_SUFFIX = "/complete"


def _operation_id(route: APIRoute) -> str:
    tag = str(route.tags[0]) if route.tags else "default"
    return f"{tag}_{route.name}"


def create_app(settings: Settings | None = None, *, run_reaper_task: bool = True) -> FastAPI:
    """The API app for ``settings`` (from the environment when omitted)."""
    settings = settings or load_settings()
    settings.prepare_data_dir()
    runtime = Runtime.create(settings)

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        with _answer_long_polls_on_stop_signals(runtime):
            async with anyio.create_task_group() as tasks:
                if run_reaper_task:
                    tasks.start_soon(run_reaper, runtime)
                    tasks.start_soon(run_popularity, runtime)
                if settings.webhook_workers:
                    tasks.start_soon(run_webhook_deliveries, runtime)
                try:
                    yield
                finally:
                    tasks.cancel_scope.cancel()
            # The server has drained its requests: nobody waits any more.
            runtime.notifier.stop_waiting()
            await runtime.close()

    app = FastAPI(
        title="agnt API",
        version=agnt_api.__version__,
        description="A marketplace where AI agents run as jobs.",
        lifespan=lifespan,
        generate_unique_id_function=_operation_id,
        docs_url=None,
        redoc_url=None,
    )
    app.state.runtime = runtime
    app.state.settings = settings
    install_problem_handlers(app)

    def body_limit(path: str, content_type: str) -> int:
        if path.startswith("/v1/executor/jobs/") and path.endswith(_UPLOAD_PATH_SUFFIX):
            return settings.max_upload_bytes
        # Input uploads: the routes bound each part themselves (with input_too_large), as
        # it streams; this is only a backstop, far enough above that theirs answers first
        # whatever the size of the body's chunks.
        if path == "/v1/files":
            return 2 * inputs.upload_body_limit(settings)
        multipart = content_type.lower().startswith("multipart/form-data")
        if multipart and path.startswith("/agents/") and path.endswith("/order"):
            return 2 * inputs.order_body_limit(settings)  # the web order form
        if path == "/v1/jobs" and multipart:
            return 2 * inputs.order_body_limit(settings)
        if path == "/a2a" or path.startswith("/a2a/"):  # JSON-RPC with inline file parts
            return a2a_rpc_body_limit(settings.max_body_bytes, settings.max_input_bytes)
        return settings.max_body_bytes

    app.add_middleware(RequestContextMiddleware, body_limit=body_limit)
    app.add_middleware(CutOffRequestsAnswer503)
    app.include_router(health.router)
    install_docs(app)
    errors = problem_responses(*API_ERROR_STATUSES)
    app.include_router(agents.router, responses=errors)
    # Before the jobs router: it takes only multipart POST /v1/jobs, the JSON one stays there.
    app.include_router(inputs.multipart_orders, responses=errors)
    app.include_router(jobs.router, responses=errors)
    app.include_router(inputs.router, responses=errors)
    app.include_router(webhooks.router, responses=errors)
    app.include_router(files.router, responses=errors | problem_responses(416))
    app.include_router(executor.router, responses=errors | problem_responses(415))
    # Ahead of every route: claims and status reports without FastAPI's per-request work.
    install_fast_routes(app, runtime)
    app.include_router(a2a.router, responses=errors)
    # After the problem handlers: browsers get HTML error pages, API clients problem+json.
    install_web_pages(app)
    install_rate_limits(app, settings, runtime.database)
    install_mcp(app, runtime)
    return app


_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextlib.contextmanager
def _answer_long_polls_on_stop_signals(runtime: Runtime) -> Iterator[None]:
    """While serving, SIGTERM/SIGINT first make every long-poll answer, then stop the server.

    The server's own handler (uvicorn's, installed before the lifespan starts) stops
    accepting and waits for in-flight requests; a long-poll would hold it for up to a
    minute and then be cut off. Ours runs first: each long-poll answers at once with the
    current state (200), and new ones answer without waiting, so the drain is quick.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    loop = asyncio.get_running_loop()
    previous: dict[int, Any] = {int(sig): signal.getsignal(sig) for sig in _STOP_SIGNALS}

    def on_stop(signum: int, frame: FrameType | None) -> None:
        loop.call_soon_threadsafe(runtime.notifier.stop_waiting)
        chained = previous[signum]
        if callable(chained):
            chained(signum, frame)
        elif chained == signal.SIG_DFL:
            signal.signal(signum, signal.SIG_DFL)
            signal.raise_signal(signum)

    for sig in _STOP_SIGNALS:
        signal.signal(sig, on_stop)
    try:
        yield
    finally:
        for number, handler in previous.items():
            # Only undo what is still ours (the server may have restored its own already).
            if signal.getsignal(number) is on_stop:
                signal.signal(number, handler)


class CutOffRequestsAnswer503:
    """A request cut off by the server (its shutdown grace ran out) answers 503, not 500.

    uvicorn cancels the requests still running when its graceful-shutdown timeout passes
    and answers them with a plain-text 500, which clients do not retry. Here the
    cancellation becomes a problem+json 503 with ``Retry-After`` (retried, on another
    replica or after the restart), then goes on as a cancellation.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one ASGI call."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracked_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracked_send)
        except asyncio.CancelledError:
            if not started:
                request_id = scope.get("state", {}).get("request_id")
                response = problem_response(
                    ErrorCode.SERVICE_UNAVAILABLE,
                    "the server is restarting; retry shortly",
                    request_id=request_id if isinstance(request_id, str) else None,
                    headers={"Retry-After": "1", "Connection": "close"},
                )
                with contextlib.suppress(Exception):
                    await response(scope, receive, send)
            raise
