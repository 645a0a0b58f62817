"""Rendering pages: the Jinja2 environment, its filters, and what every page knows."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.templating import Jinja2Templates
from starlette.responses import HTMLResponse

from agnt_api.web import cost, display, flash
from agnt_api.web.examples import schema_examples
from agnt_api.web.markdown import plain_text, render_markdown
from agnt_api.web.sessions import CSRF_FIELD, WebSession, remember_csrf_nonce, web_session
from agnt_api.web.static_files import static_url_of

WEB_DIR = Path(__file__).parent
STATIC_DIR = WEB_DIR / "static"

PAGE_HEADERS = {
    "Cache-Control": "no-store",
    # Scripts and styles only from this site; inline style attributes draw progress bars.
    # No framing: a page that holds a cancel button must not be clickjacked.
    "Content-Security-Policy": (
        "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
        "frame-ancestors 'none'; form-action 'self'; base-uri 'none'; object-src 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}
"""Headers of every HTML page."""

templates = Jinja2Templates(directory=WEB_DIR / "templates")
templates.env.filters.update(
    price=display.price,
    duration=display.duration,
    timestamp=display.timestamp,
    file_size=display.file_size,
    percent=display.percent,
    pretty_json=display.pretty_json,
    relative_time=display.relative_time,
    markdown=render_markdown,
    plain_text=plain_text,
)
templates.env.tests["terminal"] = display.is_terminal
templates.env.globals["CSRF_FIELD"] = CSRF_FIELD
templates.env.globals["cost_estimate"] = cost.estimate
templates.env.globals["agent_examples"] = schema_examples


def query_string(**params: str | None) -> str:
    """``?a=1&b=2`` from the non-empty ``params`` (empty string when there are none)."""
    kept = {key: value for key, value in params.items() if value}
    return "?" + urlencode(kept) if kept else ""


templates.env.globals["query_string"] = query_string


def static_url(path: str) -> str:
    """The versioned address of a static file (cached for a year by browsers)."""
    return static_url_of(STATIC_DIR, path)


templates.env.globals["static_url"] = static_url


async def render(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    status_code: int = 200,
    session: WebSession | None = None,
) -> HTMLResponse:
    """The page ``template`` with ``context``, the session and the CSRF token it needs."""
    session = session or await web_session(request)
    response = templates.TemplateResponse(
        request,
        template,
        {"session": session, "csrf_token": session.csrf_token, **(context or {})},
        status_code=status_code,
    )
    response.headers.update(PAGE_HEADERS)
    remember_csrf_nonce(request, response, session)
    flash.drop_if_taken(request, response)
    return response
