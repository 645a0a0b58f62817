"""In Chromium: what issue 16 added, on the console's pages. An owner sees each agent's
presence and unpublishes one; the agent page states its time, attempt and file limits (and
its snippets send files); the job page shows attempts, the deadline, the input files and a
requeue live; ordering again names the inputs the browser cannot re-attach."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from .test_console_browser import DESKTOP, PHONE, ExecutorSide, context, executor, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.slow]

__all__ = ["context", "executor"]  # fixtures shared with test_console_browser

Accessible = Callable[[Page, str], None]
UTC_TITLE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$")
FILE_RULE = {"min": 1, "max": 2, "media_types": ["text/plain", "text/csv"]}


def publish_file_agent(executor: ExecutorSide) -> None:
    executor.publish(
        "file-agent",
        description="Reads your files.",
        input_files=FILE_RULE,
        timeout_seconds={"default": 600, "max": 3600},
        max_attempts=2,
    )


def test_my_agents_shows_presence_and_unpublishes_after_a_confirmation(
    live_api: Any, executor: ExecutorSide, browser: Browser, accessible: Accessible
) -> None:
    buyer = {"Authorization": f"Bearer {live_api.buyer_key}"}
    pending = httpx.post(
        f"{live_api.url}/v1/jobs", json={"agent_id": "plain-agent", "prompt": "wait"}, headers=buyer
    )
    assert pending.status_code == 201, pending.text
    # A claim long-poll marks the owner's agents seen; one published after it never was.
    answer = executor.http.post("/v1/executor/claims", json={"max": 1, "agent_ids": ["form-agent"]})
    assert answer.status_code == 200, answer.text
    seen = executor.http.get("/v1/agents/form-agent").json()
    assert seen["online"] is True, seen
    executor.publish("never-agent", description="Nobody serves me.")

    for viewport in (PHONE, DESKTOP):
        context = browser.new_context(viewport=viewport)
        context.set_default_timeout(30_000)
        page = context.new_page()
        sign_in(page, live_api.url, live_api.executor_key, "/my-agents")
        form_card = page.locator('[data-agent-id="form-agent"]')
        expect(form_card.locator("[data-presence]")).to_have_attribute("data-presence", "online")
        expect(form_card.locator(".presence .badge")).to_have_text("Online")
        never = page.locator('[data-agent-id="never-agent"] .presence')
        expect(never).to_contain_text("Offline")
        expect(never).to_contain_text("Never seen")
        accessible(page, f"my agents with presence {viewport['width']}")
        if viewport is PHONE:
            context.close()
            continue

        card = page.locator('[data-agent-id="plain-agent"]')
        card.get_by_text("Unpublish…").click()
        confirm = card.get_by_role("button", name="Yes, unpublish plain-agent")
        expect(confirm).to_be_visible()
        accessible(page, "my agents, unpublish confirmation open")
        assert httpx.get(f"{live_api.url}/v1/agents/plain-agent", headers=buyer).json()["published"]
        confirm.click()
        expect(page).to_have_url(re.compile(r"/my-agents$"))
        expect(page.locator("[data-notice]")).to_contain_text("plain-agent is unpublished")
        card = page.locator('[data-agent-id="plain-agent"]')
        expect(card.locator(".presence .badge")).to_have_text("Unpublished")
        expect(card.locator(".presence")).to_contain_text("agnt-executor publish")
        expect(card.get_by_text("Unpublish…")).to_have_count(0)
        accessible(page, "my agents, unpublished")
        # The same service as DELETE /v1/executor/agents/{id}: hidden, pending jobs canceled.
        agent = httpx.get(f"{live_api.url}/v1/agents/plain-agent", headers=buyer).json()
        assert agent["published"] is False
        job = httpx.get(f"{live_api.url}/v1/jobs/{pending.json()['id']}", headers=buyer).json()
        assert (job["status"], job["decision_reason"]) == ("canceled", "agent_unpublished")
        # Reload is a GET: the notice was read once and nothing is posted again.
        page.reload()
        expect(page.locator("[data-notice]")).to_have_count(0)
        context.close()


def test_agent_page_states_time_attempt_and_file_limits_and_snippets_send_files(
    live_api: Any, executor: ExecutorSide, context: BrowserContext, accessible: Accessible
) -> None:
    publish_file_agent(executor)
    executor.publish("one-file-agent", input_files={"min": 0, "max": 1})
    page = context.new_page()
    sign_in(page, live_api.url, live_api.buyer_key, "/agents/file-agent")
    expect(page.locator('[data-limit="timeout"]')).to_contain_text(
        "10 min 0 s unless the order says otherwise; at most 1 h 0 min"
    )
    expect(page.locator('[data-limit="attempts"]')).to_contain_text("2 runs")
    expect(page.locator('[data-limit="input_files"]')).to_contain_text(
        "1 to 2 files of type text/plain, text/csv"
    )
    field = page.get_by_label("Input files")
    expect(field).to_have_attribute("accept", "text/plain,text/csv")
    expect(field).to_have_attribute("multiple", "")
    expect(page.locator("#snippet-cli")).to_contain_text("--file input.txt")
    expect(page.locator("#snippet-python")).to_contain_text('files=["input.txt"]')
    expect(page.locator("#snippet-curl")).to_contain_text("files=@input.txt")
    accessible(page, "agent page with file, time and attempt limits")

    page.goto(live_api.url + "/agents/one-file-agent")
    field = page.get_by_label("Input files (optional)")
    expect(field).not_to_have_attribute("multiple", "")
    expect(page.locator('[data-limit="input_files"]')).to_contain_text("0 to 1 file")

    page.goto(live_api.url + "/agents/plain-agent")
    expect(page.locator('[data-limit="attempts"]')).to_contain_text("3 runs")
    expect(page.locator('[data-limit="timeout"]')).to_contain_text("none unless the order")
    expect(page.locator("#snippet-cli")).not_to_contain_text("--file")


def test_job_page_shows_attempts_deadline_inputs_a_live_requeue_and_order_again(
    live_api: Any, executor: ExecutorSide, context: BrowserContext, accessible: Accessible
) -> None:
    publish_file_agent(executor)
    page = context.new_page()
    sign_in(page, live_api.url, live_api.buyer_key, "/agents/file-agent")
    page.get_by_label("Prompt").fill("count the words")
    page.get_by_label("Input files").set_input_files(
        [
            {"name": "notes.txt", "mimeType": "text/plain", "buffer": b"hello files"},
            {"name": "rows.csv", "mimeType": "text/csv", "buffer": b"a,b\n1,2\n"},
        ]
    )
    page.get_by_role("button", name="Order job").click()
    expect(page).to_have_url(re.compile(r"/jobs/[0-9a-f-]{36}$"))
    job_id = page.url.rsplit("/", 1)[1]

    expect(page.locator("[data-job-attempt]")).to_have_text("1 of 2")
    deadline = page.locator("time[data-time=deadline]")
    expect(deadline).to_have_text(re.compile(r"^in (9|10) min$"))
    expect(deadline).to_have_attribute("title", UTC_TITLE)
    inputs = page.locator("[data-input-files] li")
    expect(inputs).to_have_count(2)
    expect(page.locator('[data-input="notes.txt"]')).to_contain_text("11 B")
    link = page.get_by_role("link", name="notes.txt")
    expect(link).to_have_attribute("href", f"/jobs/{job_id}/inputs/notes.txt")
    download = page.request.get(live_api.url + f"/jobs/{job_id}/inputs/notes.txt")
    assert download.status == 200 and download.body() == b"hello files"
    accessible(page, "job with attempts, deadline and inputs")

    # The executor gives the job back: the page shows the requeue and the new attempt live.
    executor.claim()
    expect(page.locator("[data-job-status] .badge")).to_have_text("accepted")
    released = executor.http.post(
        f"/v1/executor/jobs/{job_id}/release", json={"reason": "executor shutting down"}
    )
    assert released.status_code == 200, released.text
    expect(page.locator("[data-job-events]")).to_contain_text("requeued: executor shutting down")
    expect(page.locator("[data-job-attempt]")).to_have_text("2 of 2")
    expect(page.locator("[data-job-status] .badge")).to_have_text("pending")
    accessible(page, "job requeued")

    # Order again: the prompt comes back; the inputs are named, not attached.
    page.get_by_role("link", name="Order again").click()
    expect(page.get_by_label("Prompt")).to_have_value("count the words")
    expect(page.locator("[data-form-notice]")).to_contain_text("input files are not attached")
    again = page.locator("[data-again-inputs]")
    expect(again).to_contain_text("notes.txt")
    expect(again).to_contain_text("rows.csv")
    accessible(page, "order again with inputs")
