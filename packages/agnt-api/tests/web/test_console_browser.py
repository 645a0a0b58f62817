"""The pages as a buyer's console, in Debian's chromium (Playwright) against a live
``agnt-server serve``. The executor's side is driven over its HTTP API (claim, report,
log, complete), so each test decides exactly when a job moves. Every page state a test
reaches is checked with axe-core in the light and the dark scheme.
"""

from __future__ import annotations

import re
import struct
import zlib
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

pytestmark = [pytest.mark.browser, pytest.mark.slow]

expect.set_options(timeout=15_000)
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
Accessible = Callable[[Page, str], None]

FORM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["language"],
    "properties": {
        "language": {"type": "string", "enum": ["en", "fr"], "description": "Output language."},
        "count": {"type": "integer", "minimum": 1, "maximum": 10},
        "extra": {"type": "object", "description": "Anything else."},
    },
}
DESCRIPTION = (
    "Writes a **short** report.\n\n- one\n- two\n\n"
    "<script>window.pwned = true</script> [docs](https://example.org/x)"
)


class ExecutorSide:
    """The executor's half of the protocol over HTTP, with the live API's executor key."""

    def __init__(self, url: str, key: str) -> None:
        self.http = httpx.Client(
            base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=30
        )

    def publish(self, agent_id: str, **body: Any) -> None:
        answer = self.http.put(f"/v1/executor/agents/{agent_id}", json={"name": agent_id, **body})
        assert answer.status_code in (200, 201), answer.text

    def claim(self) -> str:
        answer = self.http.post("/v1/executor/claims", json={"max": 1, "wait": 10})
        jobs = answer.json()["items"]
        assert jobs, answer.text
        return str(jobs[0]["id"])

    def report(self, job_id: str, status: str, **fields: Any) -> None:
        answer = self.http.post(
            f"/v1/executor/jobs/{job_id}/status", json={"status": status, **fields}
        )
        assert answer.status_code == 200, answer.text

    def log(self, job_id: str, *lines: str) -> None:
        body = {"lines": [{"text": line} for line in lines]}
        answer = self.http.post(f"/v1/executor/jobs/{job_id}/logs", json=body)
        assert answer.status_code == 202, answer.text

    def complete(self, job_id: str, files: dict[str, tuple[bytes, str]]) -> None:
        parts = [("files", (name, content, mime)) for name, (content, mime) in files.items()]
        answer = self.http.post(f"/v1/executor/jobs/{job_id}/complete", files=parts)
        assert answer.status_code == 200, answer.text


@pytest.fixture
def executor(live_api: Any) -> Iterator[ExecutorSide]:
    side = ExecutorSide(live_api.url, live_api.executor_key)
    side.publish(
        "form-agent",
        description=DESCRIPTION,
        tags=["report"],
        input_schema=FORM_SCHEMA,
        output_schema={"files": {"report.md": "the report"}},
    )
    side.publish("plain-agent", description="Echoes.", tags=["demo"])
    yield side
    side.http.close()


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    opened = browser.new_context(viewport=DESKTOP)
    opened.set_default_timeout(30_000)
    yield opened
    opened.close()


def sign_in(page: Page, url: str, key: str, start: str = "/") -> None:
    page.goto(url + start)
    expect(page).to_have_url(re.compile(r"/signin"))
    page.get_by_label("API key").fill(key)
    page.get_by_role("button", name="Sign in").click()
    expect(page).not_to_have_url(re.compile(r"/signin"))


def order(page: Page, url: str, agent_id: str = "plain-agent", prompt: str = "hello") -> str:
    """Order through the agent page's form; the job's id."""
    page.goto(f"{url}/agents/{agent_id}")
    page.get_by_label("Prompt").fill(prompt)
    if agent_id == "form-agent":
        page.get_by_label("language").select_option("fr")
    page.get_by_role("button", name="Order job").click()
    expect(page).to_have_url(re.compile(r"/jobs/[0-9a-f-]{36}$"))
    return page.url.rsplit("/", 1)[1]


def tiny_png() -> bytes:
    """A valid 2x2 red PNG."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    raw = b"".join(b"\x00" + b"\xff\x00\x00" * 2 for _ in range(2))
    header = struct.pack(">IIBBBBB", 2, 2, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


# Defect 1 ---------------------------------------------------------------------------------


def test_sign_in_page_of_a_signed_in_buyer_says_so_once_outside_the_form(
    live_api: Any, context: BrowserContext, accessible: Accessible
) -> None:
    page = context.new_page()
    sign_in(page, live_api.url, live_api.buyer_key)
    page.goto(live_api.url + "/signin")
    expect(page.get_by_text("You are signed in as")).to_have_count(1)
    form = page.locator("form.form")
    assert ">" not in form.inner_text()
    assert page.locator("#api_key").get_attribute("class") is None
    assert "operator" not in page.locator("#api_key-help").inner_text()
    accessible(page, "sign-in, signed in")


# Defect 3 ---------------------------------------------------------------------------------


def test_an_order_after_the_session_ended_signs_in_and_returns_to_the_filled_form(
    live_api: Any, executor: ExecutorSide, context: BrowserContext, accessible: Accessible
) -> None:
    page = context.new_page()
    sign_in(page, live_api.url, live_api.buyer_key)
    page.goto(live_api.url + "/agents/form-agent")
    page.get_by_label("Prompt").fill("a prompt I typed with care")
    page.get_by_label("language").select_option("fr")
    page.get_by_label("count").fill("4")
    # The session ends meanwhile (signed out in another tab).
    other = context.new_page()
    other.goto(live_api.url + "/jobs")
    other.get_by_role("button", name="Sign out").click()
    expect(other).to_have_url(re.compile(r"/signin"))
    other.close()

    page.get_by_role("button", name="Order job").click()
    expect(page).to_have_url(re.compile(r"/signin\?next="))
    expect(page.locator("[data-signin-notice]")).to_contain_text("Your session ended")
    accessible(page, "sign-in after the session ended")
    page.get_by_label("API key").fill(live_api.buyer_key)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/agents/form-agent$"))
    expect(page.get_by_label("Prompt")).to_have_value("a prompt I typed with care")
    expect(page.get_by_label("language")).to_have_value("fr")
    expect(page.get_by_label("count")).to_have_value("4")
    expect(page.locator("[data-form-notice]")).to_contain_text("your entries are back")
    accessible(page, "agent page, restored draft")
    page.get_by_role("button", name="Order job").click()
    expect(page).to_have_url(re.compile(r"/jobs/[0-9a-f-]{36}$"))
    expect(page.locator("pre.prompt")).to_have_text("a prompt I typed with care")


# Defect 8 ---------------------------------------------------------------------------------


def test_cancel_asks_first_and_only_the_confirmation_cancels(
    live_api: Any, executor: ExecutorSide, context: BrowserContext, accessible: Accessible
) -> None:
    page = context.new_page()
    sign_in(page, live_api.url, live_api.buyer_key)
    job_id = order(page, live_api.url)
    page.get_by_text("Cancel job…").click()
    confirm = page.get_by_role("button", name="Yes, cancel the job")
    expect(confirm).to_be_visible()
    expect(page.get_by_text("cannot be undone")).to_be_visible()
    accessible(page, "job, cancel confirmation open")
    buyer = {"Authorization": f"Bearer {live_api.buyer_key}"}
    assert httpx.get(f"{live_api.url}/v1/jobs/{job_id}", headers=buyer).json()["status"] == (
        "pending"
    )
    confirm.click()
    expect(page).to_have_url(re.compile(rf"/jobs/{job_id}$"))
    expect(page.locator("[data-job-status] .badge")).to_have_text("canceled")
    expect(page.get_by_text("Cancel job…")).to_have_count(0)
    accessible(page, "job, canceled")


def test_all_form_errors_come_in_one_round_on_a_get_page_with_focus_on_the_summary(
    live_api: Any, executor: ExecutorSide, context: BrowserContext, accessible: Accessible
) -> None:
    page = context.new_page()
    sign_in(page, live_api.url, live_api.buyer_key)
    page.goto(live_api.url + "/agents/form-agent")
    # A required choice is not made for the buyer.
    expect(page.get_by_label("language")).to_have_value("")
    page.get_by_label("Prompt").fill("p")
    page.get_by_label("count").fill("2.5")
    page.get_by_label("extra").fill("[1, 2]")
    page.get_by_role("button", name="Order job").click()
    expect(page).to_have_url(re.compile(r"/agents/form-agent(#order-heading)?$"))
    summary = page.locator("[data-error-summary]")
    expect(summary).to_be_focused()
    expect(page.locator('[data-field-error="language"]')).to_contain_text("is required")
    expect(page.locator('[data-field-error="count"]')).to_contain_text("must be a whole number")
    expect(page.locator('[data-field-error="extra"]')).to_contain_text("must be an object")
    expect(summary.get_by_role("link")).to_have_count(3)
    assert "is not of type" not in page.content()
    expect(page.get_by_label("extra")).to_have_value("[1, 2]")
    accessible(page, "agent page, errors")
    # Reloading is a plain GET (no resubmission, no 405); the errors were shown once.
    response = page.reload()
    assert response is not None and response.status == 200
    expect(page.locator("[data-error-summary]")).to_have_count(0)


def test_the_timeline_follows_the_job_live_without_reloading(
    live_api: Any, executor: ExecutorSide, context: BrowserContext, accessible: Accessible
) -> None:
    page = context.new_page()
    sign_in(page, live_api.url, live_api.buyer_key)
    job_id = order(page, live_api.url)
    expect(page.locator("[data-live-state]")).to_contain_text("updates live")
    page.evaluate("window.sameDocument = 1")
    expect(page.locator("[data-time=started]")).to_have_text("—")
    claimed = executor.claim()
    assert claimed == job_id
    executor.report(job_id, "running", progress=10)
    expect(page.locator("[data-job-status] .badge")).to_have_text("running")
    expect(page.locator("time[data-time=started]")).to_have_attribute("title", re.compile("UTC$"))
    updated = page.locator("time[data-time=updated]")
    first_update = updated.get_attribute("datetime")
    executor.log(job_id, "step one", "step two")
    executor.report(job_id, "running", progress=55)
    expect(page.get_by_role("progressbar", name="Progress")).to_have_attribute(
        "aria-valuenow", "55"
    )
    expect(page.locator("[data-job-logs]")).to_contain_text("step two")
    expect(updated).not_to_have_attribute("datetime", first_update or "")
    expect(page.locator("[data-job-duration]")).not_to_have_text("—")
    accessible(page, "job, running")
    executor.report(job_id, "failed", reason="the model ran out of patience")
    expect(page.locator("[data-job-status] .badge")).to_have_text("failed")
    expect(page.locator("[data-job-reason]")).to_have_text("the model ran out of patience")
    expect(page.locator("time[data-time=finished]")).to_have_count(1)
    expect(page.get_by_text("Cancel job…")).to_have_count(0)
    assert page.evaluate("window.sameDocument") == 1  # updated in place, not reloaded
    accessible(page, "job, failed")


# Defect 9 ---------------------------------------------------------------------------------


def test_small_defects_durations_markdown_focus_ring_favicon_static_caching(
    live_api: Any, executor: ExecutorSide, context: BrowserContext, accessible: Accessible
) -> None:
    page = context.new_page()
    static: dict[str, dict[str, str]] = {}
    page.on(
        "response",
        lambda r: (
            static.__setitem__(r.url.split("?")[0].rsplit("/", 1)[1], r.headers)
            if "/static/" in r.url
            else None
        ),
    )
    sign_in(page, live_api.url, live_api.buyer_key)
    # Markdown rendered, raw HTML kept as text and never run.
    page.goto(live_api.url + "/agents/form-agent")
    description = page.locator("[data-description]")
    expect(description.locator("strong")).to_have_text("short")
    expect(description.locator("li")).to_have_count(2)
    expect(description).to_contain_text("<script>window.pwned = true</script>")
    assert page.evaluate("window.pwned") is None
    assert "**" not in description.inner_text()
    accessible(page, "agent page")
    # The focus ring stands out (3:1) from the page and the header.
    ratio = page.evaluate(
        """() => {
        const lum = (c) => { const [r, g, b] = c.match(/\\d+/g).slice(0, 3).map(Number).map(v => {
            v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); });
            return 0.2126 * r + 0.7152 * g + 0.0722 * b; };
        const contrast = (a, b) => { const [x, y] = [lum(a), lum(b)].sort((p, q) => q - p);
            return (x + 0.05) / (y + 0.05); };
        const link = document.querySelector("main a");
        link.focus();
        const ring = getComputedStyle(link).outlineColor;
        const header = getComputedStyle(document.querySelector(".site-header")).backgroundColor;
        const paper = getComputedStyle(document.querySelector(".card")).backgroundColor;
        return Math.min(contrast(ring, header), contrast(ring, paper));
    }"""
    )
    assert ratio >= 3, ratio
    # Favicon, gzip and a cache lifetime on static files.
    assert page.locator("link[rel=icon]").count() == 1
    favicon = httpx.get(live_api.url + "/favicon.ico")
    assert favicon.status_code == 200 and favicon.headers["content-type"].startswith("image/svg")
    css = httpx.get(
        live_api.url + page.locator("link[rel=stylesheet]").get_attribute("href"),
        headers={"Accept-Encoding": "gzip"},
    )
    assert css.headers["content-encoding"] == "gzip"
    assert "max-age=31536000" in css.headers["cache-control"]
    assert "max-age" in static["agnt.css"]["cache-control"]
    # A quick job's duration is not "0.0 s".
    job_id = order(page, live_api.url)
    executor.claim()
    executor.report(job_id, "running")
    executor.complete(job_id, {"out.txt": (b"done\n", "text/plain")})
    # The open job page reloads itself once when its job completes: read the server-rendered
    # page in a tab of its own (a reload from here could race that one and be aborted).
    done = page.context.new_page()
    done.goto(f"{live_api.url}/jobs/{job_id}")
    expect(done.locator("[data-job-status] .badge")).to_have_text("completed")
    duration = done.locator("[data-job-duration]").inner_text()
    assert duration != "0.0 s" and re.fullmatch(r"(\d+ ms|< 1 ms|\d+\.\d s)", duration), duration


def test_tap_targets_on_a_phone_are_at_least_32_px(
    live_api: Any, executor: ExecutorSide, browser: Browser, accessible: Accessible
) -> None:
    phone = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    page = phone.new_page()
    sign_in(page, live_api.url, live_api.buyer_key)
    job_id = order(page, live_api.url)
    small: list[str] = []
    for path in ("/", "/agents/form-agent", "/jobs", f"/jobs/{job_id}", "/account"):
        page.goto(live_api.url + path)
        small += [
            f"{path}: {target}"
            for target in page.evaluate(
                """() => [...document.querySelectorAll('a, button, summary, input, select, textarea')]
                .filter(el => el.offsetParent !== null && !el.closest('.visually-hidden, .skip-link'))
                .map(el => [el, el.getBoundingClientRect()])
                .filter(([el, box]) => box.height < 32 || box.width < 24)
                .map(([el, box]) => `${el.tagName} "${el.textContent.trim().slice(0, 30)}" ${Math.round(box.width)}x${Math.round(box.height)}`)"""
            )
        ]
        accessible(page, f"phone {path}")
    phone.close()
    assert not small, "\n".join(small)


# New views --------------------------------------------------------------------------------


def test_job_page_previews_each_kind_copies_and_orders_again(
    live_api: Any, executor: ExecutorSide, browser: Browser, accessible: Accessible
) -> None:
    context = browser.new_context(
        viewport=DESKTOP, permissions=["clipboard-read", "clipboard-write"]
    )
    page = context.new_page()
    sign_in(page, live_api.url, live_api.buyer_key)
    page.goto(live_api.url + "/agents/form-agent")
    page.get_by_label("Prompt").fill("the usual report")
    page.get_by_label("language").select_option("fr")
    page.get_by_label("count").fill("7")
    page.get_by_label("extra").fill('{"tone": "dry"}')
    page.get_by_role("button", name="Order job").click()
    expect(page).to_have_url(re.compile(r"/jobs/[0-9a-f-]{36}$"))
    job_id = page.url.rsplit("/", 1)[1]
    executor.claim()
    executor.report(job_id, "running")
    executor.complete(
        job_id,
        {
            "notes.txt": (b"plain words\n", "text/plain"),
            "report.md": (
                b"# Title\n\nSome *emphasis*.\n\n<script>window.pwned=1</script>\n",
                "text/markdown",
            ),
            "data.json": (b'{"b":[1,2],"a":{"c":true}}', "application/json"),
            "table.csv": (b"name,count\napples,3\npears,5\n", "text/csv"),
            "pixel.png": (tiny_png(), "image/png"),
            "big.txt": (b"x" * 70_000, "text/plain"),
            "blob.bin": (b"\x00\x01", "application/octet-stream"),
        },
    )
    expect(page.locator("[data-job-status] .badge")).to_have_text("completed", timeout=30_000)
    previews = page.locator("[data-preview]")
    expect(page.locator('[data-file="notes.txt"] [data-preview=text]')).to_contain_text(
        "plain words"
    )
    markdown = page.locator('[data-file="report.md"] [data-preview=markdown]')
    expect(markdown.locator("em")).to_have_text("emphasis")
    expect(markdown).to_contain_text("<script>")
    assert page.evaluate("window.pwned") is None
    expect(page.locator('[data-file="data.json"] [data-preview=json]')).to_contain_text('"c": true')
    table = page.locator('[data-file="table.csv"] table')
    expect(table.locator("th")).to_have_text(["name", "count"])
    expect(table.locator("tbody tr")).to_have_count(2)
    image = page.locator('[data-file="pixel.png"] img')
    expect(image).to_be_visible()
    assert page.evaluate("(img) => img.naturalWidth", image.element_handle()) == 2
    expect(page.locator('[data-file="big.txt"] [data-preview=too_large]')).to_be_visible()
    expect(page.locator('[data-file="blob.bin"] [data-preview]')).to_have_count(0)
    assert previews.count() == 6
    accessible(page, "job, completed with previews")

    # Copy buttons put the exact values on the clipboard.
    page.get_by_role("button", name="Copy id").click()
    assert page.evaluate("navigator.clipboard.readText()") == job_id
    page.locator('[data-file="notes.txt"]').get_by_role("button", name="Copy sha256").click()
    sha = page.evaluate("navigator.clipboard.readText()")
    assert re.fullmatch(r"[0-9a-f]{64}", sha)
    page.locator('[data-file="notes.txt"]').get_by_role("button", name="Copy download URL").click()
    assert page.evaluate("navigator.clipboard.readText()").endswith(
        f"/v1/jobs/{job_id}/files/notes.txt"
    )

    # Order again: the same prompt and params, ready to change.
    page.get_by_role("link", name="Order again").click()
    expect(page).to_have_url(re.compile(r"/agents/form-agent\?again="))
    expect(page.get_by_label("Prompt")).to_have_value("the usual report")
    expect(page.get_by_label("language")).to_have_value("fr")
    expect(page.get_by_label("count")).to_have_value("7")
    expect(page.get_by_label("extra")).to_have_value(re.compile(r'"tone": "dry"'))
    accessible(page, "agent page, order again")
    context.close()


def test_the_job_stream_reconnects_after_the_server_restarts(
    live_api: Any, executor: ExecutorSide, context: BrowserContext, accessible: Accessible
) -> None:
    page = context.new_page()
    sign_in(page, live_api.url, live_api.buyer_key)
    job_id = order(page, live_api.url)
    executor.claim()
    executor.report(job_id, "running", progress=5)
    state = page.locator("[data-live-state]")
    expect(page.get_by_role("progressbar", name="Progress")).to_have_attribute("aria-valuenow", "5")
    expect(state).to_contain_text("updates live")
    page.evaluate("window.sameDocument = 1")
    live_api.stop(grace=3.0)
    expect(state).to_contain_text("reconnecting", timeout=30_000)
    accessible(page, "job, reconnecting")
    live_api.start()
    executor.report(job_id, "running", progress=80)
    expect(page.get_by_role("progressbar", name="Progress")).to_have_attribute(
        "aria-valuenow", "80", timeout=45_000
    )
    expect(state).to_contain_text("updates live")
    assert page.evaluate("window.sameDocument") == 1


def test_account_page_creates_a_key_once_and_revokes_it(
    live_api: Any, browser: Browser, accessible: Accessible
) -> None:
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    sign_in(page, live_api.url, live_api.buyer_key)
    page.get_by_role("link", name=re.compile("^Account")).click()
    expect(page.locator("[data-principal-role]")).to_have_text("buyer")
    expect(page.locator("[data-current-key]")).to_contain_text("…")
    accessible(page, "account")
    page.get_by_label("New key's name").fill("laptop")
    page.get_by_role("button", name="Create key").click()
    key = page.locator("[data-new-key]").inner_text().strip()
    assert key.startswith("agnt_")
    accessible(page, "account, new key shown")
    api = f"{live_api.url}/v1/jobs"
    assert httpx.get(api, headers={"Authorization": f"Bearer {key}"}).status_code == 200
    page.goto(live_api.url + "/account")
    assert key not in page.content()
    row = page.locator("tr", has_text="laptop")
    row.get_by_text("Revoke…").click()
    row.get_by_role("button", name="Yes, revoke laptop").click()
    expect(page.locator("[data-account-notice]")).to_contain_text("revoked")
    expect(page.locator("tr", has_text="laptop")).to_contain_text("revoked")
    accessible(page, "account, key revoked")
    deadline = 30
    while httpx.get(api, headers={"Authorization": f"Bearer {key}"}).status_code != 401:
        deadline -= 1
        assert deadline > 0, "the revoked key still works"
        page.wait_for_timeout(500)
    context.close()


def test_my_jobs_rows_are_links_update_live_and_filter(
    live_api: Any, executor: ExecutorSide, context: BrowserContext, accessible: Accessible
) -> None:
    page = context.new_page()
    sign_in(page, live_api.url, live_api.buyer_key)
    first = order(page, live_api.url, prompt="count the orange cats")
    order(page, live_api.url, prompt="something else")
    page.goto(live_api.url + "/jobs")
    expect(page.locator("[data-result-count]")).to_have_text("2 jobs")
    row = page.locator(f'tr[data-job-id="{first}"]')
    expect(row.locator(".badge")).to_have_text("pending")
    accessible(page, "my jobs")
    executor.claim()  # the oldest job: the first one
    executor.report(first, "running")
    expect(row.locator(".badge")).to_have_text("running", timeout=20_000)
    # The whole row opens the job (not only its id).
    cell = row.locator("td[data-label=Created]").bounding_box()
    assert cell is not None
    page.mouse.click(cell["x"] + cell["width"] / 2, cell["y"] + cell["height"] / 2)
    expect(page).to_have_url(re.compile(rf"/jobs/{first}$"))
    page.goto(live_api.url + "/jobs")
    page.get_by_label("Prompt contains").fill("orange")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("tbody tr")).to_have_count(1)
    expect(page.locator("[data-result-count]")).to_have_text("1 job match")
    accessible(page, "my jobs, filtered")


def test_agent_page_offers_ready_to_copy_api_snippets(
    live_api: Any, executor: ExecutorSide, context: BrowserContext, accessible: Accessible
) -> None:
    page = context.new_page()
    sign_in(page, live_api.url, live_api.buyer_key)
    page.goto(live_api.url + "/agents/form-agent")
    snippets = page.locator("[data-snippet]")
    expect(snippets).to_have_count(5)
    expect(page.locator("#snippet-cli")).to_contain_text("agnt order form-agent")
    for key in ("python", "curl", "mcp", "a2a"):
        page.locator(f"[data-snippet={key}] summary").click()
    expect(page.locator("#snippet-python")).to_contain_text("from agnt_client import Client")
    expect(page.locator("#snippet-curl")).to_contain_text("/v1/jobs")
    expect(page.locator("#snippet-mcp")).to_contain_text('"args": [\n        "mcp"')
    expect(page.locator("#snippet-a2a")).to_contain_text(
        f"{live_api.url}/a2a/form-agent/.well-known/agent-card.json"
    )
    expect(page.locator("[data-owner]")).to_have_text("test-executor")
    # The snippets follow the form as the buyer types.
    page.get_by_label("Prompt").fill("count my words")
    page.get_by_label("language").select_option("fr")
    page.get_by_label("count").fill("9")
    expect(page.locator("#snippet-cli")).to_contain_text("--prompt 'count my words'")
    expect(page.locator("#snippet-cli")).to_contain_text("--param count=9")
    expect(page.locator("#snippet-python")).to_contain_text('"language": "fr"')
    expect(page.locator("#snippet-curl")).to_contain_text('"count": 9')
    accessible(page, "agent page, snippets open")


def test_my_agents_shows_an_owner_its_agents_and_failures(
    live_api: Any, executor: ExecutorSide, browser: Browser, accessible: Accessible
) -> None:
    buyer_context = browser.new_context(viewport=DESKTOP)
    buyer_page = buyer_context.new_page()
    sign_in(buyer_page, live_api.url, live_api.buyer_key)
    job_id = order(buyer_page, live_api.url)
    buyer_context.close()
    executor.claim()
    executor.report(job_id, "failed", reason="the model timed out")
    for viewport in (DESKTOP, PHONE):
        context = browser.new_context(viewport=viewport)
        page = context.new_page()
        sign_in(page, live_api.url, live_api.executor_key)
        page.get_by_role("link", name="My agents").click()
        card = page.locator('[data-agent-id="plain-agent"]')
        expect(card.locator('[data-count="failed"]')).to_have_text("1")
        expect(card.locator("[data-trouble=failed]")).to_contain_text("the model timed out")
        accessible(page, f"my agents {viewport['width']}")
        context.close()


def test_the_console_works_without_javascript(
    live_api: Any, executor: ExecutorSide, browser: Browser, accessible: Accessible
) -> None:
    context = browser.new_context(viewport=DESKTOP, java_script_enabled=False)
    page = context.new_page()
    sign_in(page, live_api.url, live_api.buyer_key)
    # Errors come back with the summary focused by autofocus alone.
    page.goto(live_api.url + "/agents/form-agent")
    page.get_by_label("Prompt").fill("no script")
    page.get_by_role("button", name="Order job").click()
    expect(page.locator("[data-error-summary]")).to_be_focused()
    job_id = order(page, live_api.url, prompt="no script either")
    # Cancel asks first, without a script.
    page.get_by_text("Cancel job…").click()
    page.get_by_role("button", name="Yes, cancel the job").click()
    expect(page.locator("[data-job-status] .badge")).to_have_text("canceled")
    # The timeline and the log are on the page as the server saw them.
    expect(page.locator("[data-job-events] li")).to_have_count(2)
    # My jobs filters; account keys are made and revoked.
    page.goto(live_api.url + "/jobs?q=either&status=canceled")
    expect(page.locator(f'tr[data-job-id="{job_id}"]')).to_have_count(1)
    page.goto(live_api.url + "/account")
    page.get_by_label("New key's name").fill("no-js")
    page.get_by_role("button", name="Create key").click()
    expect(page.locator("[data-new-key]")).to_contain_text("agnt_")
    page.goto(live_api.url + "/account")
    row = page.locator("tr", has_text="no-js")
    row.get_by_text("Revoke…").click()
    row.get_by_role("button", name="Yes, revoke no-js").click()
    expect(page.locator("tr", has_text="no-js")).to_contain_text("revoked")
    context.close()
