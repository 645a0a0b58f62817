"""Fixtures of the web-page tests: the real app over ASGI (httpx), and helpers for forms.

``site`` is the app on a fresh database (SQLite, and Postgres when the suite has it: the
``migrated_url`` fixture of the API suite) with a buyer, a second buyer, an executor and
the executor's agents, created through the services as the real commands do.
"""

from __future__ import annotations

import contextlib
import os
import re
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import axe_playwright_python
import httpx
import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from agnt_api.app import create_app
from agnt_api.auth import Principal
from agnt_api.db import Database
from agnt_api.db.migrate import upgrade
from agnt_api.runtime import Runtime
from agnt_api.services import agents, keys
from agnt_api.settings import Settings
from agnt_models import AgentPublish, Pricing, PricingModel, Role

ORDER_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["language"],
    "properties": {
        "language": {
            "type": "string",
            "enum": ["en", "fr", "de"],
            "description": "Output language.",
        },
        "count": {"type": "integer", "minimum": 1, "maximum": 10, "default": 3},
        "ratio": {"type": "number", "minimum": 0, "maximum": 1},
        "title": {"type": "string", "maxLength": 40, "title": "Report title"},
        "loud": {"type": "boolean", "default": True},
        "extra": {"type": "object", "description": "Anything else."},
    },
}

HTML = {"Accept": "text/html,application/xhtml+xml"}
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
_ORDER_KEY = re.compile(r'name="order_key" value="([^"]+)"')


def csrf_of(page: str) -> str:
    """The CSRF token in a rendered page's forms."""
    match = _CSRF.search(page)
    assert match, "the page has no CSRF token"
    return match.group(1)


def order_key_of(page: str) -> str:
    """The one-time order key of an agent page's order form."""
    match = _ORDER_KEY.search(page)
    assert match, "the page has no order form"
    return match.group(1)


class Site:
    """The app, a browser-like client (cookies kept) and the keys of its principals."""

    def __init__(self, client: httpx.AsyncClient, runtime: Runtime) -> None:
        self.client = client
        self.runtime = runtime
        self.keys: dict[str, str] = {}
        self.principals: dict[str, Principal] = {}

    def make_key(self, who: str, role: Role) -> str:
        """A principal named ``who`` with ``role``; its key is remembered."""
        created = self.runtime.database.transact_write(keys.create_key, role, who, None)
        self.keys[who] = created.key
        self.principals[who] = Principal(id=created.principal_id, role=role, name=who)
        return created.key

    def publish(self, agent_id: str, **fields: Any) -> None:
        """Publish an agent owned by the executor."""
        body = AgentPublish(**{"name": agent_id.replace("-", " ").title(), **fields})
        self.runtime.database.transact_write(
            agents.publish_agent, self.principals["executor"], agent_id, body
        )

    async def sign_in(self, who: str = "buyer") -> httpx.Response:
        """Sign the client in through the sign-in form."""
        page = await self.client.get("/signin", headers=HTML)
        return await self.client.post(
            "/signin",
            data={"csrf_token": csrf_of(page.text), "api_key": self.keys[who], "next": "/"},
            headers=HTML,
        )

    async def csrf(self, path: str = "/") -> str:
        """A CSRF token for this client, from the page at ``path``."""
        page = await self.client.get(path, headers=HTML)
        return csrf_of(page.text)


@contextlib.asynccontextmanager
async def open_site(settings: Settings) -> AsyncIterator[Site]:
    """The app with ``settings`` (database migrated), its principals and two agents."""
    app = create_app(settings, run_reaper_task=False)
    runtime: Runtime = app.state.runtime
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        site = Site(client, runtime)
        site.make_key("buyer", Role.BUYER)
        site.make_key("other-buyer", Role.BUYER)
        site.make_key("executor", Role.EXECUTOR)
        site.publish(
            "report-maker",
            description="Writes a short report in the language you pick.",
            tags=["report", "text"],
            pricing=Pricing(model=PricingModel.PER_JOB, amount_cents=250, currency="USD"),
            input_schema=ORDER_SCHEMA,
            output_schema={"files": {"report.md": "the report"}},
        )
        site.publish("echo-bot", description="Echoes the prompt.", tags=["text", "demo"])
        try:
            yield site
        finally:
            await runtime.close()


def _settings(tmp_path: Path, database_url: str, **overrides: Any) -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        session_secret="test-session-secret-" + uuid.uuid4().hex,
        **{"storage_url": (tmp_path / "objects").as_uri(), **overrides},
    )


@pytest.fixture
async def site(tmp_path: Path, migrated_url: str) -> AsyncIterator[Site]:
    """The app on a fresh, migrated database and file storage."""
    async with open_site(_settings(tmp_path, migrated_url)) as opened:
        yield opened


@pytest.fixture
async def s3_site(tmp_path: Path, s3_endpoint: str, s3_bucket: str) -> AsyncIterator[Site]:
    """The app on SQLite and the real S3 server (a fresh bucket)."""
    database_url = f"sqlite:///{tmp_path / 'agnt.db'}"
    database = Database(database_url)
    try:
        upgrade(database.engine)
    finally:
        database.dispose()
    settings = _settings(
        tmp_path, database_url, storage_url=f"s3://{s3_bucket}/web", s3_endpoint_url=s3_endpoint
    )
    async with open_site(settings) as opened:
        yield opened


CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's chromium (never a downloaded browser), headless."""
    if not CHROMIUM.exists():
        message = "/usr/bin/chromium is missing: apt-get install chromium"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


def axe_violations(page: Page) -> list[str]:
    """axe-core's WCAG 2.2 AA and best-practice violations on ``page``, one line each."""
    source = (Path(axe_playwright_python.__file__).parent / "axe.min.js").read_text()
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.evaluate(source)
    results: dict[str, Any] = page.evaluate(
        "(tags) => axe.run(document, {runOnly: {type: 'tag', values: tags}})", AXE_TAGS
    )
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at "
        + ", ".join(str(node["target"]) for node in v["nodes"][:5])
        for v in results["violations"]
    ]


@pytest.fixture
def accessible() -> Callable[[Page, str], None]:
    """``accessible(page, state)``: axe-core finds nothing, in the light and dark scheme."""

    def check(page: Page, state: str) -> None:
        found: list[str] = []
        for scheme in ("light", "dark"):
            page.emulate_media(color_scheme=scheme)
            found += [f"[{state}, {scheme}] {line}" for line in axe_violations(page)]
        page.emulate_media(color_scheme="light")
        assert not found, "\n".join(found)

    return check
