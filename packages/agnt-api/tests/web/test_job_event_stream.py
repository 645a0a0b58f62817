"""The job page follows the event stream with the session; without one it is told so."""

from __future__ import annotations

import uuid

from .conftest import HTML, Site, csrf_of, order_key_of


async def _ordered_job_id(site: Site) -> str:
    page = await site.client.get("/agents/echo-bot", headers=HTML)
    data = {
        "csrf_token": csrf_of(page.text),
        "order_key": order_key_of(page.text),
        "prompt": "hello",
    }
    response = await site.client.post("/agents/echo-bot/order", data=data, headers=HTML)
    assert response.status_code == 303, response.text
    return response.headers["location"].removeprefix("/jobs/")


async def test_job_page_streams_events_with_the_session(site: Site) -> None:
    await site.sign_in()
    job_id = await _ordered_job_id(site)
    page = await site.client.get(f"/jobs/{job_id}", headers=HTML)
    assert f'data-events-url="/jobs/{job_id}/events"' in page.text
    assert "updates live" not in page.text  # said by the script only while it is true
    executor = {"Authorization": f"Bearer {site.keys['executor']}"}
    for report in ({"status": "accepted"}, {"status": "failed", "reason": "boom"}):
        answer = await site.client.post(
            f"/v1/executor/jobs/{job_id}/status", json=report, headers=executor
        )
        assert answer.status_code == 200
    stream = await site.client.get(
        f"/jobs/{job_id}/events", headers={"Accept": "text/event-stream", "Last-Event-ID": "1"}
    )
    assert stream.status_code == 200
    assert stream.headers["content-type"].startswith("text/event-stream")
    ids = [line for line in stream.text.splitlines() if line.startswith("id:")]
    assert ids == ["id: 2", "id: 3"]


async def test_job_event_stream_without_a_session_answers_401_problem(site: Site) -> None:
    response = await site.client.get(f"/jobs/{uuid.uuid4()}/events")
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"
