"""The pages rendered by the server: marketplace, agent, order form, jobs, job, errors."""

from __future__ import annotations

import re
import secrets
import uuid

import pytest

HTML = {"Accept": "text/html"}


def _csrf(page: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def _order_key(page: str) -> str:
    return re.search(r'name="order_key" value="([^"]+)"', page).group(1)


def _executor(site) -> dict[str, str]:
    return {"Authorization": f"Bearer {site.keys['executor']}"}


async def _order(site, agent_id: str, **fields: str):
    page = await site.client.get(f"/agents/{agent_id}", headers=HTML)
    data = {"csrf_token": _csrf(page.text), "order_key": _order_key(page.text), **fields}
    return await site.client.post(f"/agents/{agent_id}/order", data=data, headers=HTML)


async def _order_back(site, agent_id: str, **fields: str):
    """Post the order form; it must come back (post/redirect/get) to the agent page."""
    posted = await _order(site, agent_id, **fields)
    assert posted.status_code == 303, posted.text
    assert posted.headers["location"] == f"/agents/{agent_id}"
    page = await site.client.get(f"/agents/{agent_id}", headers=HTML)
    assert page.status_code == 200
    return page


async def _ordered_job_id(
    site, agent_id: str = "echo-bot", prompt: str = "hello", **fields: str
) -> str:
    response = await _order(site, agent_id, prompt=prompt, **fields)
    assert response.status_code == 303, response.text
    return response.headers["location"].removeprefix("/jobs/")


async def test_marketplace_lists_cards_with_name_description_tags_and_price(site) -> None:
    await site.sign_in()
    page = await site.client.get("/", headers=HTML)
    assert page.status_code == 200
    text = page.text
    assert 'href="/agents/report-maker"' in text
    assert "Writes a short report in the language you pick." in text
    assert "$2.50 per job" in text
    assert "Free" in text
    assert 'href="/?tag=report"' in text


async def test_search_and_tag_filter_narrow_the_results(site) -> None:
    await site.sign_in()
    found = await site.client.get("/?q=report", headers=HTML)
    assert "/agents/report-maker" in found.text
    assert "/agents/echo-bot" not in found.text
    tagged = await site.client.get("/?tag=demo", headers=HTML)
    assert "/agents/echo-bot" in tagged.text
    assert "/agents/report-maker" not in tagged.text
    assert 'aria-current="true"' in tagged.text


async def test_no_match_shows_the_empty_state(site) -> None:
    await site.sign_in()
    page = await site.client.get("/?q=zebra", headers=HTML)
    assert page.status_code == 200
    assert "No agents found" in page.text
    assert "Show every agent" in page.text


async def test_marketplace_pages_through_many_agents(site) -> None:
    for number in range(14):
        site.publish(f"bulk-{number:02d}", tags=["bulk"])
    await site.sign_in()
    first = await site.client.get("/?tag=bulk", headers=HTML)
    assert first.text.count('class="card agent-card"') == 12
    next_link = re.search(r'rel="next" href="([^"]+)"', first.text).group(1)
    second = await site.client.get(next_link.replace("&amp;", "&"), headers=HTML)
    assert second.text.count('class="card agent-card"') == 2
    assert 'rel="next"' not in second.text
    previous = re.search(r'rel="prev" href="([^"]+)"', second.text).group(1)
    back = await site.client.get(previous.replace("&amp;", "&"), headers=HTML)
    assert back.text.count('class="card agent-card"') == 12
    assert 'rel="prev"' not in back.text  # the first page again


async def test_tag_chips_count_every_match_not_only_the_page(site) -> None:
    for number in range(14):
        tags = ["bulk", "late"] if number >= 12 else ["bulk"]
        site.publish(f"bulk-{number:02d}", tags=tags)
    await site.sign_in()
    first = await site.client.get("/?q=bulk", headers=HTML)
    assert first.text.count('class="card agent-card"') == 12
    assert "/agents/bulk-13" not in first.text
    assert re.search(r'href="/\?tag=late&amp;q=bulk">#late <span class="chip-count">2<', first.text)
    assert re.search(r'#bulk <span class="chip-count">14<', first.text)
    newest = await site.client.get("/?q=bulk&sort=newest", headers=HTML)
    assert "/agents/bulk-13" in newest.text
    assert "/agents/bulk-00" not in newest.text
    assert "sort=newest" in re.search(r'rel="next" href="([^"]+)"', newest.text).group(1)
    assert 'value="newest" selected' in newest.text
    priced = await site.client.get("/?q=bulk&pricing=per_job", headers=HTML)
    assert "No agents found" in priced.text
    any_price = await site.client.get("/?q=bulk&sort=relevance&pricing=", headers=HTML)
    assert any_price.status_code == 200
    assert any_price.text.count('class="card agent-card"') == 12


async def test_agent_page_shows_pricing_schemas_stats_and_the_generated_form(site) -> None:
    await site.sign_in()
    page = await site.client.get("/agents/report-maker", headers=HTML)
    text = page.text
    assert page.status_code == 200
    assert "$2.50 per job" in text
    for stat in ("total", "success_rate", "failed", "avg_duration"):
        assert f'data-stat="{stat}"' in text
    assert "<select" in text and '<option value="fr"' in text
    assert 'name="param.count"' in text and 'type="number" step="1"' in text
    assert 'value="3"' in text  # the default
    assert 'name="param.ratio"' in text and 'step="any"' in text
    assert 'type="checkbox" id="param-loud"' in text and "checked" in text
    assert "Report title" in text
    assert 'name="param.extra"' in text  # an object: a JSON textarea
    assert "(required)" in text
    assert "report.md" in text  # the described result files


async def test_order_through_the_form_creates_the_job_with_typed_params(site) -> None:
    await site.sign_in()
    response = await _order(
        site,
        "report-maker",
        prompt="write it",
        **{
            "param.language": "fr",
            "param.count": "5",
            "param.ratio": "0.5",
            "param.title": "Hi",
            "param.extra": '{"a": 1}',
        },
    )
    assert response.status_code == 303
    job_id = response.headers["location"].removeprefix("/jobs/")
    buyer = {"Authorization": f"Bearer {site.keys['buyer']}"}
    job = (await site.client.get(f"/v1/jobs/{job_id}", headers=buyer)).json()
    assert job["params"] == {
        "language": "fr",
        "count": 5,
        "ratio": 0.5,
        "title": "Hi",
        "loud": False,
        "extra": {"a": 1},
    }
    assert job["prompt"] == "write it"


async def test_resubmitting_the_same_form_orders_one_job(site) -> None:
    await site.sign_in()
    page = await site.client.get("/agents/echo-bot", headers=HTML)
    data = {"csrf_token": _csrf(page.text), "order_key": _order_key(page.text), "prompt": "x"}
    first = await site.client.post("/agents/echo-bot/order", data=data, headers=HTML)
    second = await site.client.post("/agents/echo-bot/order", data=data, headers=HTML)
    assert first.headers["location"] == second.headers["location"]


async def test_a_used_form_with_other_values_asks_to_check_and_order_again(site) -> None:
    await site.sign_in()
    page = await site.client.get("/agents/echo-bot", headers=HTML)
    data = {"csrf_token": _csrf(page.text), "order_key": _order_key(page.text), "prompt": "x"}
    first = await site.client.post("/agents/echo-bot/order", data=data, headers=HTML)
    assert first.status_code == 303
    posted = await site.client.post(
        "/agents/echo-bot/order", data={**data, "prompt": "y"}, headers=HTML
    )
    assert posted.status_code == 303
    changed = await site.client.get("/agents/echo-bot", headers=HTML)
    assert "already submitted" in changed.text
    fresh_key = _order_key(changed.text)
    assert fresh_key != data["order_key"]
    again = await site.client.post(
        "/agents/echo-bot/order", data={**data, "prompt": "y", "order_key": fresh_key}, headers=HTML
    )
    assert again.status_code == 303
    assert again.headers["location"] != first.headers["location"]


async def test_validation_errors_are_shown_next_to_their_fields(site) -> None:
    await site.sign_in()
    response = await _order_back(
        site, "report-maker", prompt="p", **{"param.count": "2.5", "param.extra": "{oops"}
    )
    text = response.text
    assert 'data-field-error="language"' in text and "is required" in text
    assert 'data-field-error="count"' in text and "must be a whole number" in text
    assert 'data-field-error="extra"' in text and "must be valid JSON" in text
    assert 'aria-describedby="error-count"' in text or 'error-count"' in text
    assert 'value="2.5"' in text  # what the buyer typed stays in the form


async def test_params_without_a_field_go_in_the_json_box(site) -> None:
    await site.sign_in()
    report = await site.client.get("/agents/report-maker", headers=HTML)
    assert 'name="extra_params"' not in report.text  # additionalProperties: false
    job_id = await _ordered_job_id(site, "echo-bot", extra_params='{"mood": "happy", "n": 2}')
    buyer = {"Authorization": f"Bearer {site.keys['buyer']}"}
    job = (await site.client.get(f"/v1/jobs/{job_id}", headers=buyer)).json()
    assert job["params"] == {"mood": "happy", "n": 2}
    for text, message in (("[1]", "must be a JSON object"), ("{nope", "must be valid JSON")):
        response = await _order_back(site, "echo-bot", prompt="p", extra_params=text)
        match = re.search(r'data-field-error="extra_params">([^<]+)<', response.text)
        assert match and message in match.group(1)


async def test_a_service_error_about_an_extra_param_shows_at_the_json_box(site) -> None:
    site.publish(
        "counter",
        input_schema={"type": "object", "additionalProperties": {"type": "integer"}},
    )
    await site.sign_in()
    response = await _order_back(site, "counter", prompt="p", extra_params='{"x": "many"}')
    match = re.search(r'data-field-error="extra_params">([^<]+)<', response.text)
    assert match and match.group(1).startswith("x: ")


async def test_an_oversized_prompt_is_an_error_next_to_the_prompt(site) -> None:
    await site.sign_in()
    response = await _order_back(site, "echo-bot", prompt="x" * 100_001)
    match = re.search(r'data-field-error="prompt">([^<]+)<', response.text)
    assert match and "larger than 100000 bytes" in match.group(1)


async def test_errors_with_more_text_than_a_cookie_holds_answer_the_post_itself(site) -> None:
    await site.sign_in()
    typed = secrets.token_hex(4000)  # does not compress: no flash cookie holds it
    response = await _order(site, "report-maker", prompt=typed, **{"param.count": "x"})
    assert response.status_code == 422
    assert typed in response.text
    assert 'data-field-error="count"' in response.text


async def test_schema_violations_from_the_service_land_on_their_field(site) -> None:
    await site.sign_in()
    response = await _order_back(
        site, "report-maker", prompt="p", **{"param.language": "en", "param.count": "50"}
    )
    match = re.search(r'data-field-error="count">([^<]+)<', response.text)
    assert match and "at most 10" in match.group(1)


async def test_jobs_page_lists_filters_and_pages(site) -> None:
    await site.sign_in()
    first = await _ordered_job_id(site)
    second = await _ordered_job_id(site)
    await site.client.post(
        f"/v1/executor/jobs/{second}/status",
        json={"status": "rejected", "reason": "not today"},
        headers=_executor(site),
    )
    page = await site.client.get("/jobs", headers=HTML)
    assert page.status_code == 200
    assert page.text.index(second) < page.text.index(first)  # newest first
    assert 'class="badge badge-rejected"' in page.text
    rejected = await site.client.get(f"/jobs/{second}", headers=HTML)
    assert "not today" in rejected.text and "Cancel job" not in rejected.text
    only_pending = await site.client.get("/jobs?status=pending", headers=HTML)
    assert first in only_pending.text and second not in only_pending.text
    empty = await site.client.get("/jobs?status=completed", headers=HTML)
    assert "No jobs match these filters" in empty.text
    assert "0 jobs match" in empty.text
    for _ in range(20):
        await _ordered_job_id(site)
    paged = await site.client.get("/jobs", headers=HTML)
    assert paged.text.count("<tr data-job-id") == 20
    assert "22 jobs" in paged.text
    next_link = re.search(r'rel="next" href="([^"]+)"', paged.text).group(1)
    second = await site.client.get(next_link.replace("&amp;", "&"), headers=HTML)
    assert second.text.count("<tr data-job-id") == 2
    previous = re.search(r'rel="prev" href="([^"]+)"', second.text).group(1)
    back = await site.client.get(previous.replace("&amp;", "&"), headers=HTML)
    assert back.text.count("<tr data-job-id") == 20 and 'rel="prev"' not in back.text


async def test_jobs_filter_by_agent_and_search_the_prompt(site) -> None:
    await site.sign_in()
    wanted = await _ordered_job_id(site, "echo-bot", prompt="Find the 100% ORANGE cat")
    await _ordered_job_id(site, "echo-bot", prompt="a blue dog")
    other = await _order(site, "report-maker", prompt="orange report", **{"param.language": "en"})
    assert other.status_code == 303
    found = await site.client.get("/jobs?q=orange+cat", headers=HTML)
    assert wanted in found.text and "1 job match" in found.text
    percent = await site.client.get("/jobs?q=100%25", headers=HTML)  # % is text, not a wildcard
    assert wanted in percent.text and "1 job match" in percent.text
    by_agent = await site.client.get("/jobs?agent=report-maker&q=orange", headers=HTML)
    assert "1 job match" in by_agent.text and wanted not in by_agent.text
    bad = await site.client.get("/jobs?agent=Not%20An%20Id", headers=HTML)
    assert bad.status_code == 400


async def test_unknown_status_filter_is_a_bad_request_page(site) -> None:
    await site.sign_in()
    page = await site.client.get("/jobs?status=lost", headers=HTML)
    assert page.status_code == 400
    assert "unknown job status" in page.text


async def test_job_page_follows_the_job_to_its_files(site) -> None:
    await site.sign_in()
    job_id = await _ordered_job_id(site)
    page = await site.client.get(f"/jobs/{job_id}", headers=HTML)
    assert "badge-pending" in page.text
    assert "Cancel job" in page.text
    assert 'http-equiv="refresh"' in page.text  # live without JavaScript too
    executor = _executor(site)
    for report in (
        {"status": "accepted"},
        {"status": "running"},
        {"status": "running", "progress": 40},
    ):
        await site.client.post(f"/v1/executor/jobs/{job_id}/status", json=report, headers=executor)
    live = await site.client.get(f"/jobs/{job_id}/live")
    assert live.json()["status"] == "running" and live.json()["progress"] == 40
    running = await site.client.get(f"/jobs/{job_id}", headers=HTML)
    assert 'aria-valuenow="40"' in running.text
    done = await site.client.post(
        f"/v1/executor/jobs/{job_id}/complete",
        files=[("files", ("out.txt", b"HELLO", "text/plain"))],
        headers=executor,
    )
    assert done.status_code == 200
    final = await site.client.get(f"/jobs/{job_id}", headers=HTML)
    assert "badge-completed" in final.text
    assert "Cancel job" not in final.text
    assert f'href="/jobs/{job_id}/files/out.txt"' in final.text
    download = await site.client.get(f"/jobs/{job_id}/files/out.txt")
    assert download.status_code == 200
    assert download.content == b"HELLO"
    assert download.headers["content-disposition"].startswith('attachment; filename="out.txt"')
    assert download.headers["x-content-type-options"] == "nosniff"
    assert download.headers["content-security-policy"] == "sandbox"
    ranged = await site.client.get(f"/jobs/{job_id}/files/out.txt", headers={"Range": "bytes=1-"})
    assert ranged.status_code == 206 and ranged.content == b"ELLO"
    assert ranged.headers["content-security-policy"] == "sandbox"


@pytest.mark.s3
async def test_result_files_on_s3_download_with_the_session(s3_site) -> None:
    site = s3_site
    await site.sign_in()
    job_id = await _ordered_job_id(site)
    executor = _executor(site)
    for report in ({"status": "accepted"}, {"status": "running"}):
        await site.client.post(f"/v1/executor/jobs/{job_id}/status", json=report, headers=executor)
    done = await site.client.post(
        f"/v1/executor/jobs/{job_id}/complete",
        files=[("files", ("out.bin", bytes(range(256)) * 40, "application/octet-stream"))],
        headers=executor,
    )
    assert done.status_code == 200
    page = await site.client.get(f"/jobs/{job_id}", headers=HTML)
    assert f'href="/jobs/{job_id}/files/out.bin"' in page.text
    assert "10.0 KiB" in page.text
    download = await site.client.get(f"/jobs/{job_id}/files/out.bin")
    assert download.status_code == 200
    assert download.content == bytes(range(256)) * 40


async def test_live_endpoint_long_polls_until_the_job_changes(site) -> None:
    await site.sign_in()
    job_id = await _ordered_job_id(site)
    unchanged = await site.client.get(f"/jobs/{job_id}/live?wait=0.2")
    assert unchanged.json()["status"] == "pending"
    too_long = await site.client.get(f"/jobs/{job_id}/live?wait=600")
    assert too_long.status_code == 422
    assert too_long.json()["code"] == "validation_error"


async def test_cancel_button_cancels_and_a_late_cancel_is_explained(site) -> None:
    await site.sign_in()
    job_id = await _ordered_job_id(site)
    token = await site.csrf(f"/jobs/{job_id}")
    canceled = await site.client.post(
        f"/jobs/{job_id}/cancel", data={"csrf_token": token}, headers=HTML
    )
    assert canceled.status_code == 303
    page = await site.client.get(f"/jobs/{job_id}", headers=HTML)
    assert "badge-canceled" in page.text
    assert "canceled by the buyer" in page.text
    again = await site.client.post(
        f"/jobs/{job_id}/cancel", data={"csrf_token": token}, headers=HTML
    )
    assert again.status_code == 303  # post/redirect/get: the job page says why
    explained = await site.client.get(f"/jobs/{job_id}", headers=HTML)
    assert "had already ended" in explained.text
    reloaded = await site.client.get(f"/jobs/{job_id}", headers=HTML)
    assert "had already ended" not in reloaded.text  # said once


async def test_another_buyers_job_is_a_friendly_404(site) -> None:
    await site.sign_in()
    job_id = await _ordered_job_id(site)
    await site.sign_in("other-buyer")
    page = await site.client.get(f"/jobs/{job_id}", headers=HTML)
    assert page.status_code == 404
    assert "job_not_found" in page.text
    download = await site.client.get(f"/jobs/{job_id}/files/out.txt", headers=HTML)
    assert download.status_code == 404


async def test_missing_pages_are_friendly_404s_for_browsers(site) -> None:
    await site.sign_in()
    for path, code in (
        ("/no/such/page", "not_found"),
        ("/agents/no-such-agent", "agent_not_found"),
        (f"/jobs/{uuid.uuid4()}", "job_not_found"),
        ("/jobs/not-a-uuid", "not_found"),
    ):
        page = await site.client.get(path, headers=HTML)
        assert page.status_code == 404, path
        assert page.headers["content-type"].startswith("text/html")
        assert "We couldn&#39;t find that page" in page.text or "find that page" in page.text
        assert f"<code data-error-code>{code}</code>" in page.text, path
        assert 'href="/"' in page.text


async def test_wrong_method_is_an_error_page_for_browsers(site) -> None:
    page = await site.client.get("/signout", headers=HTML)
    assert page.status_code == 405
    assert page.headers["content-type"].startswith("text/html")
    assert "<code data-error-code>method_not_allowed</code>" in page.text


async def test_api_routes_keep_problem_json_even_for_browsers(site) -> None:
    response = await site.client.get("/v1/no-such-route", headers=HTML)
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == "not_found"
    unauthenticated = await site.client.get("/v1/jobs", headers=HTML)
    assert unauthenticated.json()["code"] == "not_authenticated"


async def test_live_endpoint_without_a_session_answers_401_problem(site) -> None:
    response = await site.client.get(f"/jobs/{uuid.uuid4()}/live")
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"


async def test_pages_forbid_framing_and_foreign_scripts(site) -> None:
    page = await site.client.get("/signin", headers=HTML)
    policy = page.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in policy and "default-src 'self'" in policy
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["cache-control"] == "no-store"


async def test_static_stylesheet_is_served(site) -> None:
    response = await site.client.get("/static/agnt.css")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/css")
    script = await site.client.get("/static/job.js")
    assert script.status_code == 200


PAGE_BUDGET_BYTES = 15_000
"""HTML + CSS + JS + favicon of one page, gzipped (the web README states it)."""


async def test_every_page_stays_within_its_weight_budget(site) -> None:
    import gzip

    await site.sign_in()
    job_id = await _ordered_job_id(site)
    assets: dict[str, int] = {}
    pages = ["/signin", "/", "/agents/report-maker", "/jobs", f"/jobs/{job_id}", "/account"]
    for path in [*pages, "executor:/my-agents"]:
        if path.startswith("executor:"):
            await site.sign_in("executor")
            path = path.removeprefix("executor:")
        page = await site.client.get(path, headers=HTML)
        weight = len(gzip.compress(page.content, 9))
        for ref in re.findall(r'(?:href|src)="(/static/[^"]+)"', page.text):
            if ref not in assets:
                asset = await site.client.get(ref, headers={"Accept-Encoding": "gzip"})
                assert asset.status_code == 200
                assets[ref] = len(gzip.compress(asset.content, 9))
            weight += assets[ref]
        assert weight <= PAGE_BUDGET_BYTES, (path, weight)


async def test_static_files_are_gzipped_and_cached_by_version(site) -> None:
    page = await site.client.get("/signin", headers=HTML)
    css = re.search(r'href="(/static/agnt\.css\?v=[0-9a-f]+)"', page.text).group(1)
    versioned = await site.client.get(css, headers={"Accept-Encoding": "gzip"})
    assert versioned.headers["content-encoding"] == "gzip"
    assert versioned.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert "body" in versioned.text  # httpx decodes it: real gzip of the stylesheet
    again = await site.client.get(
        css, headers={"If-None-Match": versioned.headers["etag"], "Accept-Encoding": "gzip"}
    )
    assert again.status_code == 304
    plain = await site.client.get("/static/agnt.css", headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers
    assert plain.headers["cache-control"] == "public, max-age=3600"
    icon = await site.client.get("/favicon.ico")
    assert icon.status_code == 200 and icon.headers["content-type"].startswith("image/svg+xml")


async def test_snippets_follow_the_posted_form_and_need_a_session(site) -> None:
    refused = await site.client.post("/agents/report-maker/snippets", data={"prompt": "x"})
    assert refused.status_code == 401 and refused.json()["code"] == "not_authenticated"
    await site.sign_in()
    form = {"prompt": "it's late", "param.language": "de", "param.count": "4", "param.loud": "true"}
    codes = (await site.client.post("/agents/report-maker/snippets", data=form)).json()
    assert set(codes) == {"cli", "python", "curl", "mcp", "a2a"}
    assert "--prompt 'it'\"'\"'s late'" in codes["cli"]  # shell-quoted
    assert "--param language=de" in codes["cli"] and "--param count=4" in codes["cli"]
    assert '"loud": True' in codes["python"]  # Python, not JSON
    assert '"count": 4' in codes["curl"]
    assert "http://testserver/a2a/report-maker/.well-known/agent-card.json" in codes["a2a"]
    assert '"command": "agnt"' in codes["mcp"]
