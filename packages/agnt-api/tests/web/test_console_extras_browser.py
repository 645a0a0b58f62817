"""Keys' "last used" on the account page, the cost estimate and example inputs on the agent
page, in Debian's chromium (Playwright) against a live ``agnt-server serve``; each page state
checked with axe-core in the light and the dark scheme."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

pytestmark = [pytest.mark.browser, pytest.mark.slow]

expect.set_options(timeout=15_000)
DESKTOP = {"width": 1280, "height": 900}
Accessible = Callable[[Page, str], None]

EXAMPLE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["language"],
    "properties": {
        "language": {"type": "string", "enum": ["en", "fr", "de"], "examples": ["fr"]},
        "count": {"type": "integer", "minimum": 1, "maximum": 10},
    },
    "examples": [{"language": "de", "count": 4}],
}


def sign_in(page: Page, url: str, key: str, start: str = "/") -> None:
    page.goto(url + start)
    expect(page).to_have_url(re.compile(r"/signin"))
    page.get_by_label("API key").fill(key)
    page.get_by_role("button", name="Sign in").click()
    expect(page).not_to_have_url(re.compile(r"/signin"))


def test_account_page_shows_when_each_key_was_last_used(
    live_api: Any, browser: Browser, accessible: Accessible
) -> None:
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    sign_in(page, live_api.url, live_api.buyer_key, "/account")
    page.goto(live_api.url + "/account")
    page.get_by_label("New key's name").fill("nightly")
    page.get_by_role("button", name="Create key").click()
    key = page.locator("[data-new-key]").inner_text().strip()
    page.goto(live_api.url + "/account")
    row = page.locator("tr", has_text="nightly")
    expect(row.locator("[data-last-used]")).to_have_text("never")
    accessible(page, "account, key never used")
    api = f"{live_api.url}/v1/jobs"
    assert httpx.get(api, headers={"Authorization": f"Bearer {key}"}).status_code == 200
    page.reload()
    used = page.locator("tr", has_text="nightly").locator("[data-last-used] time")
    expect(used).to_have_text(re.compile(r"just now|s ago"))
    expect(used).to_have_attribute("title", re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$"))
    assert key not in page.content()
    accessible(page, "account, key used")
    context.close()


def test_examples_fill_the_order_form_and_the_estimate_shows(
    live_api: Any, browser: Browser, accessible: Accessible
) -> None:
    executor = httpx.Client(
        base_url=live_api.url,
        headers={"Authorization": f"Bearer {live_api.executor_key}"},
        timeout=30,
    )
    published = executor.put(
        "/v1/executor/agents/example-agent",
        json={
            "name": "Example agent",
            "description": "Has examples.",
            "input_schema": EXAMPLE_SCHEMA,
            "pricing": {"model": "per_second", "amount_cents": 2, "currency": "USD"},
            "timeout_seconds": {"default": 30, "max": 120},
        },
    )
    assert published.status_code in (200, 201), published.text
    executor.close()
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    sign_in(page, live_api.url, live_api.buyer_key, "/agents/example-agent")
    expect(page.locator("[data-cost-estimate]")).to_have_text(
        "≈ up to $2.40 per job: 2 min 0 s at most (longest time limit)."
    )
    examples = page.locator("[data-example]")
    expect(examples).to_have_count(2)
    accessible(page, "agent page with examples")
    examples.nth(0).get_by_role("link", name=re.compile("Use this example")).click()
    expect(page).to_have_url(re.compile(r"\?example=0#order-form$"))
    expect(page.locator("[data-form-notice]")).to_contain_text("example 1")
    expect(page.get_by_label("language")).to_have_value("de")
    expect(page.locator('[name="param.count"]')).to_have_value("4")
    accessible(page, "agent page filled from an example")
    examples.nth(1).get_by_role("link", name=re.compile("Use this example")).click()
    expect(page.get_by_label("language")).to_have_value("fr")
    page.get_by_label("Prompt").fill("from the example")
    page.get_by_role("button", name="Order job").click()
    expect(page).to_have_url(re.compile(r"/jobs/[0-9a-f-]{36}$"))
    job_id = page.url.rsplit("/", 1)[1]
    buyer = {"Authorization": f"Bearer {live_api.buyer_key}"}
    job = httpx.get(f"{live_api.url}/v1/jobs/{job_id}", headers=buyer).json()
    assert job["params"]["language"] == "fr"
    expect(page.locator("[data-job-cost]")).to_have_text("$0.02 per second, once it completes")
    accessible(page, "job page of a priced job")
    context.close()
