"""The FastAPI application: ``create_app(settings)`` wires routes, errors and the runtime.

The runtime is built eagerly (no I/O), so the app also serves through
``httpx.ASGITransport``, which does not run the lifespan; the lifespan adds the lease
reaper and releases connections at shutdown.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import anyio
from fastapi import FastAPI
from fastapi.routing import APIRoute

import agnt_api
from agnt_api.api.docs import install_docs
from agnt_api.api.middleware import RequestContextMiddleware
from agnt_api.api.problems import (
    API_ERROR_STATUSES,
    install_problem_handlers,
    problem_responses,
)
from agnt_api.api.routes import agents, executor, files, health, jobs
from agnt_api.ratelimit import install_rate_limits
from agnt_api.runtime import Runtime
from agnt_api.services.leases import run_reaper
from agnt_api.settings import Settings, load_settings
from agnt_api.web import install_web_pages

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
        async with anyio.create_task_group() as tasks:
            if run_reaper_task:
                tasks.start_soon(run_reaper, runtime)
            try:
                yield
            finally:
                tasks.cancel_scope.cancel()
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

    def body_limit(path: str) -> int:
        if path.startswith("/v1/executor/jobs/") and path.endswith(_UPLOAD_PATH_SUFFIX):
            return settings.max_upload_bytes
        return settings.max_body_bytes

    app.add_middleware(RequestContextMiddleware, body_limit=body_limit)
    app.include_router(health.router)
    install_docs(app)
    errors = problem_responses(*API_ERROR_STATUSES)
    app.include_router(agents.router, responses=errors)
    app.include_router(jobs.router, responses=errors)
    app.include_router(files.router, responses=errors | problem_responses(416))
    app.include_router(executor.router, responses=errors | problem_responses(415))
    # After the problem handlers: browsers get HTML error pages, API clients problem+json.
    install_web_pages(app)
    install_rate_limits(app, settings, runtime.database)
    return app
