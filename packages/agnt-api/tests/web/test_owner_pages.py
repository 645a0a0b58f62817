"""My agents: an executor's agents, their job counts by status and why jobs failed."""

from __future__ import annotations

HTML = {"Accept": "text/html"}


async def test_my_agents_lists_counts_and_failure_reasons_for_the_owner(site) -> None:
    buyer = {"Authorization": f"Bearer {site.keys['buyer']}"}
    executor = {"Authorization": f"Bearer {site.keys['executor']}"}
    for prompt in ("one", "two", "three"):
        answer = await site.client.post(
            "/v1/jobs", json={"agent_id": "echo-bot", "prompt": prompt}, headers=buyer
        )
        assert answer.status_code == 201, answer.text
    claimed = await site.client.post("/v1/executor/claims", json={"max": 2}, headers=executor)
    first, second = (job["id"] for job in claimed.json()["items"])
    for job_id, status, reason in (
        (first, "rejected", "too vague"),
        (second, "failed", "disk full"),
    ):
        report = {"status": status, "reason": reason}
        answer = await site.client.post(
            f"/v1/executor/jobs/{job_id}/status", json=report, headers=executor
        )
        assert answer.status_code == 200, answer.text
    await site.sign_in("executor")
    page = await site.client.get("/my-agents", headers=HTML)
    assert page.status_code == 200
    text = page.text
    assert 'href="/my-agents"' in text  # in the navigation, for executors
    assert 'data-agent-id="echo-bot"' in text and 'data-agent-id="report-maker"' in text
    assert 'data-count="pending">1<' in text
    assert 'data-count="failed">1<' in text and 'data-count="rejected">1<' in text
    assert "too vague" in text and "disk full" in text


async def test_my_agents_is_for_executor_keys(site) -> None:
    await site.sign_in("buyer")
    page = await site.client.get("/my-agents", headers=HTML)
    assert page.status_code == 403
    assert 'href="/my-agents"' not in (await site.client.get("/", headers=HTML)).text
