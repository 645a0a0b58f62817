"""The pages in a real browser: Debian's chromium driven by Playwright against a live
``agnt-server serve`` and the demo executor, as a buyer would use them.

Screenshots of every page, at phone and desktop widths, go to
``test-artifacts/screenshots/`` at the repository root (git-ignored).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from agnt_executor.demo import manifest_path

pytestmark = [pytest.mark.browser, pytest.mark.slow]

# The machine may be busy (CI runs the suite in parallel): be patient, not flaky.
expect.set_options(timeout=15_000)

SCREENSHOTS = Path(__file__).resolve().parents[4] / "test-artifacts" / "screenshots"
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}


@pytest.fixture
def demo_executor(live_api) -> Iterator[subprocess.Popen[bytes]]:
    """``python -m agnt_executor run`` on the demo manifest, serving the live API."""
    log = (live_api.data_dir / "executor.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "agnt_executor", "run", str(manifest_path())],
        env={**os.environ, **live_api.env(), "AGNT_API_KEY": live_api.executor_key},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    log.close()
    buyer = {"Authorization": f"Bearer {live_api.buyer_key}"}
    deadline = time.monotonic() + 60  # a busy CI machine starts Python slowly
    while httpx.get(f"{live_api.url}/v1/agents/demo-slow", headers=buyer).status_code != 200:
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            output = (live_api.data_dir / "executor.log").read_text(errors="replace")
            raise RuntimeError(f"the demo executor did not publish its agents:\n{output}")
        time.sleep(0.1)
    yield process
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


def shoot(page: Page, name: str, width: str) -> None:
    """Save a full-page screenshot as ``<name>-<width>.png``."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}-{width}.png"), full_page=True)


def sign_in(page: Page, url: str, key: str) -> None:
    """Sign in through the form (the first page redirects there)."""
    page.goto(url + "/")
    expect(page).to_have_url(re.compile(r"/signin"))
    page.get_by_label("API key").fill(key)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Find an agent")).to_be_visible()


@pytest.mark.timeout(300)
def test_buyer_finds_orders_follows_downloads_and_cancels_in_the_browser(
    live_api, demo_executor, browser: Browser, tmp_path: Path
) -> None:
    context = browser.new_context(viewport=DESKTOP, accept_downloads=True)
    context.set_default_timeout(30_000)
    page = context.new_page()
    url = live_api.url

    # Sign in; the key never shows up in the page or the address.
    page.goto(url + "/")
    expect(page).to_have_url(re.compile(r"/signin"))
    shoot(page, "signin", "desktop")
    page.get_by_label("API key").fill(live_api.buyer_key)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Find an agent")).to_be_visible()
    assert live_api.buyer_key not in page.url
    assert live_api.buyer_key not in page.content()
    shoot(page, "marketplace", "desktop")

    # Search, then filter by a tag chip.
    page.get_by_label("Search agents").fill("word count")
    page.get_by_role("button", name="Search").click()
    cards = page.locator(".agent-card")
    expect(cards).to_have_count(1)
    expect(cards.first).to_contain_text("Word count report (demo)")
    page.goto(url + "/")
    page.get_by_role("link", name="#progress").first.click()
    expect(cards).to_have_count(1)
    expect(cards.first).to_contain_text("Slow worker (demo)")
    page.goto(url + "/?q=nothing-like-this")
    expect(page.get_by_role("heading", name="No agents found")).to_be_visible()
    shoot(page, "marketplace-empty", "desktop")

    # Open an agent; a bad value comes back next to its field.
    page.goto(url + "/?q=word")
    page.get_by_role("link", name="Word count report (demo)").click()
    expect(page.get_by_role("heading", name="Word count report (demo)", level=1)).to_be_visible()
    expect(page.locator("[data-stat=total]")).to_have_text("0")
    shoot(page, "agent", "desktop")
    page.get_by_label("Prompt").fill("the cat and the hat and the bat")
    page.get_by_label("top").fill("1000")
    page.get_by_role("button", name="Order job").click()
    error = page.locator('[data-field-error="top"]')
    expect(error).to_contain_text("at most 100")
    expect(page.get_by_label("top")).to_have_attribute("aria-invalid", "true")
    shoot(page, "agent-validation-error", "desktop")

    # Order for real and watch the demo executor complete it, live.
    page.get_by_label("top").fill("3")
    page.get_by_role("button", name="Order job").click()
    expect(page).to_have_url(re.compile(r"/jobs/[0-9a-f-]{36}$"))
    completed_url = page.url
    expect(page.locator("[data-job-status] .badge")).to_have_text("completed", timeout=30_000)
    expect(page.get_by_role("link", name="report.md")).to_be_visible()
    expect(page.get_by_text("Cancel job…")).to_have_count(0)
    shoot(page, "job-completed", "desktop")

    # Download a result file with the session cookie.
    with page.expect_download() as download_info:
        page.get_by_role("link", name="report.md").click()
    download = download_info.value
    assert download.suggested_filename == "report.md"
    saved = tmp_path / "report.md"
    download.save_as(saved)
    assert "the" in saved.read_text()

    # Order a slow job, see its progress move, cancel it.
    page.goto(url + "/agents/demo-slow")
    page.get_by_label("Prompt").fill("take your time")
    page.get_by_label("seconds").fill("30")
    page.get_by_role("button", name="Order job").click()
    expect(page).to_have_url(re.compile(r"/jobs/[0-9a-f-]{36}$"))
    canceled_url = page.url
    expect(page.locator("[data-job-status] .badge")).to_have_text("running", timeout=20_000)
    progress = page.get_by_role("progressbar", name="Progress")
    expect(progress).not_to_have_attribute("aria-valuenow", "0", timeout=20_000)
    shoot(page, "job-running", "desktop")
    page.get_by_text("Cancel job…").click()
    page.get_by_role("button", name="Yes, cancel the job").click()
    expect(page.locator("[data-job-status] .badge")).to_have_text("canceled")
    expect(page.get_by_text("canceled by the buyer", exact=True)).to_be_visible()
    shoot(page, "job-canceled", "desktop")

    # Both jobs appear in my jobs; the status filter narrows them.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="My jobs").click()
    rows = page.locator("tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.first).to_contain_text("demo-slow")
    expect(rows.first.locator(".badge")).to_have_text("canceled")
    shoot(page, "jobs", "desktop")
    page.get_by_label("Status").select_option("completed")
    page.get_by_role("button", name="Filter").click()
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("demo-wordcount")

    # A missing page is a friendly 404.
    response = page.goto(url + "/agents/no-such-agent")
    assert response is not None and response.status == 404
    expect(page.get_by_role("heading", name="We couldn't find that page")).to_be_visible()
    shoot(page, "not-found", "desktop")

    # A form post without the CSRF token is refused, even with the session cookie.
    job_id = canceled_url.rsplit("/", 1)[1]
    refused = context.request.post(f"{url}/jobs/{job_id}/cancel", form={"reason": "x"})
    assert refused.status == 403
    assert refused.json()["code"] == "csrf_failed"
    context.close()

    # The same pages at a phone's width.
    phone = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    small = phone.new_page()
    small.goto(url + "/signin")
    shoot(small, "signin", "phone")
    sign_in(small, url, live_api.buyer_key)
    shoot(small, "marketplace", "phone")
    small.goto(url + "/agents/demo-wordcount")
    shoot(small, "agent", "phone")
    small.get_by_label("top").fill("0")
    small.get_by_role("button", name="Order job").click()
    expect(small.locator('[data-field-error="top"]')).to_be_visible()
    shoot(small, "agent-validation-error", "phone")
    for name, path in (("job-completed", completed_url), ("job-canceled", canceled_url)):
        small.goto(path)
        shoot(small, name, "phone")
    small.goto(url + "/jobs")
    shoot(small, "jobs", "phone")
    small.goto(url + "/no/such/page")
    shoot(small, "not-found", "phone")
    phone.close()

    # Without JavaScript: the form still orders and the job page refreshes itself to the end.
    plain = browser.new_context(viewport=DESKTOP, java_script_enabled=False)
    page = plain.new_page()
    sign_in(page, url, live_api.buyer_key)
    page.goto(url + "/agents/demo-echo")
    page.get_by_label("Prompt").fill("no script needed")
    page.get_by_role("button", name="Order job").click()
    expect(page).to_have_url(re.compile(r"/jobs/[0-9a-f-]{36}$"))
    expect(page.locator("[data-job-status] .badge")).to_have_text("completed", timeout=30_000)
    expect(page.get_by_role("link", name="echo.txt")).to_be_visible()
    plain.close()
