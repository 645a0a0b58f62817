"""In Chromium: the agent page shows the executor's limits, presence and honest stats
(issue 18 defects 4 and 7), and an order its rules refuse comes back with their reason."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import Browser, expect

from .test_browser import DESKTOP, demo_executor, shoot, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.slow]

__all__ = ["demo_executor"]  # fixtures shared with test_browser


@pytest.mark.timeout(300)
def test_agent_page_shows_limits_presence_and_stats_in_the_browser(
    live_api: Any, demo_executor: Any, browser: Browser
) -> None:
    context = browser.new_context(viewport=DESKTOP)
    context.set_default_timeout(30_000)
    page = context.new_page()
    sign_in(page, live_api.url, live_api.buyer_key)

    # demo-slow: the page promises what the executor enforces (60 s, not 300 s).
    page.goto(live_api.url + "/agents/demo-slow")
    expect(page.locator(".presence .badge")).to_have_text("Online")
    seconds = page.locator('[data-rule="seconds"]')
    expect(seconds).to_contain_text("≤ 60")
    expect(seconds).to_contain_text("demo-slow works at most 60 seconds per job")
    expect(page.get_by_label("seconds")).to_have_attribute("max", re.compile(r"^60(\.0)?$"))
    shoot(page, "agent-limits", "desktop")

    # demo-echo: its prompt limits are shown, and an empty prompt is refused at once
    # with the executor's own words.
    page.goto(live_api.url + "/agents/demo-echo")
    expect(page.locator('[data-rule="prompt"]')).to_contain_text("at most 20000 bytes; not empty")
    page.get_by_role("button", name="Order job").click()
    expect(page.locator('[data-field-error="params"]')).to_have_text("the prompt is empty")

    # Stats: a canceled job has its own card and does not move the success rate.
    page.goto(live_api.url + "/agents/demo-slow")
    page.get_by_label("Prompt").fill("slow")
    page.get_by_label("seconds").fill("30")
    page.get_by_role("button", name="Order job").click()
    expect(page).to_have_url(re.compile(r"/jobs/[0-9a-f-]{36}$"))
    page.get_by_text("Cancel job…").click()
    page.get_by_role("button", name="Yes, cancel the job").click()
    expect(page.locator("[data-job-status] .badge")).to_have_text("canceled")
    page.goto(live_api.url + "/agents/demo-slow")
    expect(page.locator("[data-stat=canceled]")).to_have_text("1")
    expect(page.locator("[data-stat=rejected]")).to_have_text("0")
    expect(page.locator("[data-stat=success_rate]")).to_have_text("—")
    expect(page.get_by_text("of jobs that ran").first).to_be_visible()
    shoot(page, "agent-stats", "desktop")
    context.close()
