"""Issue 16's fields on the pages, over ASGI: who may unpublish from My agents, the job's
input files behind the session, deadlines read ahead ("in 9 min")."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from agnt_api.services import agents
from agnt_api.web.display import relative_time
from agnt_models import AgentPublish, Role

HTML = {"Accept": "text/html"}


async def _unpublish(site, agent_id: str):  # type: ignore[no-untyped-def]
    token = await site.csrf("/")
    return await site.client.post(
        f"/my-agents/{agent_id}/unpublish", data={"csrf_token": token}, headers=HTML
    )


async def test_unpublish_from_my_agents_hides_the_agent_and_says_so_once(site) -> None:  # type: ignore[no-untyped-def]
    await site.sign_in("executor")
    answer = await _unpublish(site, "echo-bot")
    assert answer.status_code == 303 and answer.headers["location"] == "/my-agents"
    page = await site.client.get("/my-agents", headers=HTML)
    assert "echo-bot is unpublished" in page.text
    assert 'data-presence="unpublished"' in page.text
    assert 'action="/my-agents/echo-bot/unpublish"' not in page.text
    assert 'action="/my-agents/report-maker/unpublish"' in page.text
    again = await site.client.get("/my-agents", headers=HTML)
    assert "echo-bot is unpublished" not in again.text
    agent = await site.client.get(
        "/v1/agents/echo-bot", headers={"Authorization": f"Bearer {site.keys['buyer']}"}
    )
    assert agent.json()["published"] is False
    # Unpublishing again changes nothing and still lands on the list.
    assert (await _unpublish(site, "echo-bot")).status_code == 303


async def test_unpublish_needs_the_owner_an_executor_key_and_a_csrf_token(site) -> None:  # type: ignore[no-untyped-def]
    site.make_key("other-executor", Role.EXECUTOR)
    site.runtime.database.transact_write(
        agents.publish_agent,
        site.principals["other-executor"],
        "not-mine",
        AgentPublish(name="Not mine"),
    )
    await site.sign_in("executor")
    foreign = await _unpublish(site, "not-mine")
    assert foreign.status_code == 403 and "forbidden" in foreign.text
    missing = await _unpublish(site, "no-such-agent")
    assert missing.status_code == 404 and "agent_not_found" in missing.text
    no_token = await site.client.post("/my-agents/echo-bot/unpublish", headers=HTML)
    assert no_token.status_code == 403
    await site.sign_in("buyer")
    as_buyer = await _unpublish(site, "echo-bot")
    assert as_buyer.status_code == 403
    published = await site.client.get(
        "/v1/agents/echo-bot", headers={"Authorization": f"Bearer {site.keys['buyer']}"}
    )
    assert published.json()["published"] is True


async def test_input_files_download_with_the_session_for_their_buyer_only(site) -> None:  # type: ignore[no-untyped-def]
    buyer = {"Authorization": f"Bearer {site.keys['buyer']}"}
    ordered = await site.client.post(
        "/v1/jobs",
        data={"order": '{"agent_id": "echo-bot", "prompt": "p"}'},
        files=[("files", ("notes.txt", b"hello", "text/plain"))],
        headers=buyer,
    )
    assert ordered.status_code == 201, ordered.text
    job_id = ordered.json()["id"]
    await site.sign_in()
    page = await site.client.get(f"/jobs/{job_id}", headers=HTML)
    assert f'href="/jobs/{job_id}/inputs/notes.txt"' in page.text
    got = await site.client.get(f"/jobs/{job_id}/inputs/notes.txt", headers=HTML)
    assert got.status_code == 200 and got.content == b"hello"
    unknown = await site.client.get(f"/jobs/{job_id}/inputs/other.txt", headers=HTML)
    assert unknown.status_code == 404
    await site.sign_in("other-buyer")
    foreign = await site.client.get(f"/jobs/{job_id}/inputs/notes.txt", headers=HTML)
    assert foreign.status_code == 404


def test_times_ahead_read_as_in_so_long() -> None:
    now = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
    assert relative_time(now + timedelta(minutes=9, seconds=50), now) == "in 9 min"
    assert relative_time(now + timedelta(seconds=30), now) == "in 30 s"
    assert relative_time(now + timedelta(seconds=2), now) == "just now"
    assert relative_time(now - timedelta(minutes=3), now) == "3 min ago"
    assert relative_time(now + timedelta(days=40), now) == "2027-01-09"
