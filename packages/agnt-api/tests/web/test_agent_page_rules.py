"""The agent page's share of issue 16 (issue 18 defects 4 and 7): limits, presence, stats."""

from __future__ import annotations

import re
from typing import Any

from agnt_api.services import agents
from agnt_models import AcceptRules, AgentPublish, JobStatus, ParamRule

HTML = {"Accept": "text/html"}

RULES = AcceptRules(
    max_prompt_bytes=200,
    params=[ParamRule(name="seconds", maximum=60, reason="works at most 60 seconds per job")],
)


def _publish_ruled(site: Any) -> None:
    body = AgentPublish(name="Ruled", description="Has limits.", tags=["ruled"], accept_rules=RULES)
    site.runtime.database.transact_write(
        agents.publish_agent, site.principals["executor"], "ruled", body
    )


async def _form(site: Any, agent_id: str) -> dict[str, str]:
    page = (await site.client.get(f"/agents/{agent_id}", headers=HTML)).text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page)
    key = re.search(r'name="order_key" value="([^"]+)"', page)
    assert csrf and key
    return {"csrf_token": csrf.group(1), "order_key": key.group(1)}


async def test_the_agent_page_shows_the_executors_limits(site: Any) -> None:
    _publish_ruled(site)
    await site.sign_in()
    text = (await site.client.get("/agents/ruled", headers=HTML)).text
    assert "data-accept-rules" in text
    assert re.search(r'data-rule="prompt".*at most 200 bytes; not empty', text, re.S)
    assert re.search(r'data-rule="seconds".*≤ 60.*works at most 60 seconds per job', text, re.S)
    plain = (await site.client.get("/agents/echo-bot", headers=HTML)).text
    assert "data-accept-rules" not in plain  # published without rules: nothing promised


async def test_an_order_the_rules_refuse_shows_the_executors_reason_on_the_form(
    site: Any,
) -> None:
    _publish_ruled(site)
    await site.sign_in()
    data = {**await _form(site, "ruled"), "prompt": "go", "extra_params": '{"seconds": 61}'}
    posted = await site.client.post("/agents/ruled/order", data=data, headers=HTML)
    assert posted.status_code == 303  # post/redirect/get: the form comes back refilled
    response = await site.client.get(posted.headers["location"], headers=HTML)
    assert "works at most 60 seconds per job" in response.text
    assert 'value="' in response.text and ">go</textarea>" in response.text


async def test_presence_and_unpublished_state_are_shown(site: Any) -> None:
    await site.sign_in()
    text = (await site.client.get("/agents/echo-bot", headers=HTML)).text
    assert 'data-online="false"' in text and "Offline" in text
    executor = {"Authorization": f"Bearer {site.keys['executor']}"}
    claim = await site.client.post(
        "/v1/executor/claims", headers=executor, json={"agent_ids": ["echo-bot"]}
    )
    assert claim.status_code == 200
    text = (await site.client.get("/agents/echo-bot", headers=HTML)).text
    assert 'data-online="true"' in text and "Online" in text
    market = (await site.client.get("/", headers=HTML)).text
    assert re.search(r'href="/agents/echo-bot".*?class="online-mark">online', market, re.S)

    await site.client.delete("/v1/executor/agents/echo-bot", headers=executor)
    text = (await site.client.get("/agents/echo-bot", headers=HTML)).text
    assert "Unpublished" in text
    market = (await site.client.get("/", headers=HTML)).text
    assert 'href="/agents/echo-bot"' not in market


async def test_stats_cards_show_rejected_and_canceled_and_a_rate_of_jobs_that_ran(
    site: Any,
) -> None:
    buyer = {"Authorization": f"Bearer {site.keys['buyer']}"}
    executor = {"Authorization": f"Bearer {site.keys['executor']}"}

    async def order() -> str:
        response = await site.client.post(
            "/v1/jobs", headers=buyer, json={"agent_id": "echo-bot", "prompt": "hi"}
        )
        return str(response.json()["id"])

    async def report(job_id: str, status: JobStatus) -> None:
        response = await site.client.post(
            f"/v1/executor/jobs/{job_id}/status", headers=executor, json={"status": status}
        )
        assert response.status_code == 200, response.text

    done = await order()
    await report(done, JobStatus.ACCEPTED)
    await report(done, JobStatus.RUNNING)
    completed = await site.client.post(
        f"/v1/executor/jobs/{done}/complete", headers=executor, files=[("files", ("a", b"a"))]
    )
    assert completed.status_code == 200
    for _ in range(6):
        await report(await order(), JobStatus.REJECTED)
    await site.client.post(f"/v1/jobs/{await order()}/cancel", headers=buyer)
    await site.sign_in()
    text = (await site.client.get("/agents/echo-bot", headers=HTML)).text

    def stat(name: str) -> str:
        found = re.search(rf'data-stat="{name}">([^<]*)<', text)
        assert found, name
        return found.group(1).strip()

    # Before issue 16 the rate read 14 % (1 of 7 "decided") with no card for the rejections.
    assert (stat("total"), stat("failed"), stat("rejected"), stat("canceled")) == (
        "8",
        "0",
        "6",
        "1",
    )
    assert stat("success_rate") == "100%"
    assert "of jobs that ran" in text
