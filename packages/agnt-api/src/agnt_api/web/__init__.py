"""The web pages: marketplace, agent pages with an order form, my jobs, one job, sign-in.

Server-rendered (Jinja2), one stylesheet, one small script for live progress; every page
works without JavaScript. Handlers call the services, as the API routes do.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.responses import FileResponse

from agnt_api.web import account_pages, job_pages, market_pages, owner_pages
from agnt_api.web.error_pages import install_error_pages
from agnt_api.web.static_files import UNVERSIONED_CACHE, CachedStaticFiles
from agnt_api.web.templating import STATIC_DIR


def install_web_pages(app: FastAPI) -> None:
    """Add the pages, their static files and the browsers' error pages to ``app``."""
    app.include_router(market_pages.router)
    app.include_router(job_pages.router)
    app.include_router(account_pages.router)
    app.include_router(owner_pages.router)
    app.mount("/static", CachedStaticFiles(directory=STATIC_DIR), name="static")

    @app.get("/favicon.ico", include_in_schema=False)
    async def favicon() -> FileResponse:
        """Browsers ask for /favicon.ico whatever the page links: the same SVG icon."""
        return FileResponse(
            STATIC_DIR / "favicon.svg",
            media_type="image/svg+xml",
            headers={"Cache-Control": UNVERSIONED_CACHE},
        )

    install_error_pages(app)


__all__ = ["install_web_pages"]
