"""``/docs`` (Swagger UI) and ``/redoc`` from assets shipped in this package, never a CDN.

FastAPI's own docs pages load unpinned scripts from a CDN: blank offline, and whatever
that CDN serves runs on this origin. These pages load pinned copies (``web/static/vendor``,
licence files beside them) through the app's ``/static`` mount.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse

SWAGGER_UI_VERSION = "5.35.0"
REDOC_VERSION = "2.5.4"
_SWAGGER = f"/static/vendor/swagger-ui-dist-{SWAGGER_UI_VERSION}"
_REDOC = f"/static/vendor/redoc-{REDOC_VERSION}"
_FAVICON = f"{_SWAGGER}/favicon-32x32.png"


def install_docs(app: FastAPI) -> None:
    """Serve ``/docs`` and ``/redoc``; create ``app`` with ``docs_url=None, redoc_url=None``."""
    openapi_url = app.openapi_url or "/openapi.json"

    async def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=openapi_url,
            title=f"{app.title} - Swagger UI",
            swagger_js_url=f"{_SWAGGER}/swagger-ui-bundle.js",
            swagger_css_url=f"{_SWAGGER}/swagger-ui.css",
            swagger_favicon_url=_FAVICON,
            # The validator badge would send the spec's URL to validator.swagger.io.
            swagger_ui_parameters={"validatorUrl": None},
        )

    async def redoc() -> HTMLResponse:
        return get_redoc_html(
            openapi_url=openapi_url,
            title=f"{app.title} - ReDoc",
            redoc_js_url=f"{_REDOC}/redoc.standalone.js",
            redoc_favicon_url=_FAVICON,
            with_google_fonts=False,
        )

    app.add_api_route("/docs", swagger_ui, include_in_schema=False)
    app.add_api_route("/redoc", redoc, include_in_schema=False)
