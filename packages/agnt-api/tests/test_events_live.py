"""The event stream over a real socket: resume after a cut, heartbeats, the end."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from agnt_models import JobEvent


def _messages(lines: Iterator[str]) -> Iterator[tuple[str, str]]:
    """``("comment", text)`` or ``("event", "<id> <kind>")`` per SSE message."""
    fields: dict[str, str] = {}
    for line in lines:
        if line.startswith(":"):
            yield "comment", line[1:].strip()
        elif line == "":
            if "id" in fields:
                event = JobEvent.model_validate_json(fields["data"])
                assert str(event.seq) == fields["id"] and event.kind.value == fields["event"]
                yield "event", f"{fields['id']} {fields['event']}"
            fields = {}
        else:
            name, _, value = line.partition(":")
            fields[name] = value.removeprefix(" ")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def events_api(request: pytest.FixtureRequest, live_api_factory: Callable[..., Any]) -> Any:
    """A live API whose idle streams send a heartbeat every 0.3 s."""
    env = {"AGNT_EVENT_HEARTBEAT_SECONDS": "0.3"}
    if request.param == "sqlite":
        return live_api_factory(env=env)
    make: Callable[[], str] = request.getfixturevalue("make_postgres_database")
    return live_api_factory(database_url=make(), env=env)


def test_stream_resumes_after_a_cut_with_exactly_the_missed_events(events_api: Any) -> None:
    url = events_api.url
    executor = {"Authorization": f"Bearer {events_api.executor_key}"}
    buyer = {"Authorization": f"Bearer {events_api.buyer_key}"}
    assert httpx.put(f"{url}/v1/executor/agents/live", headers=executor, json={"name": "L"})
    job = httpx.post(
        f"{url}/v1/jobs", headers=buyer, json={"agent_id": "live", "prompt": "p"}
    ).json()
    events_url = f"{url}/v1/jobs/{job['id']}/events"

    def report(**body: Any) -> None:
        answer = httpx.post(
            f"{url}/v1/executor/jobs/{job['id']}/status", headers=executor, json=body
        )
        assert answer.status_code == 200, answer.text

    seen: list[str] = []
    heartbeats = 0
    with httpx.stream(
        "GET", events_url, headers={**buyer, "Accept": "text/event-stream"}, timeout=10
    ) as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        for kind, text in _messages(stream.iter_lines()):
            if kind == "comment":
                heartbeats += 1
                if heartbeats == 1:
                    report(status="accepted")
                continue
            seen.append(text)
            if text == "2 accepted":
                break  # The connection is cut here, mid-stream.
    assert seen == ["1 created", "2 accepted"]
    assert heartbeats >= 1

    report(status="running")
    report(status="running", progress=50)
    resumed: list[str] = []
    with httpx.stream(
        "GET",
        events_url,
        headers={**buyer, "Accept": "text/event-stream", "Last-Event-ID": "2"},
        timeout=10,
    ) as stream:
        for kind, text in _messages(stream.iter_lines()):
            if kind == "event":
                resumed.append(text)
                if text == "4 progress":
                    report(status="failed", reason="boom")
    # The stream ended by itself after the terminal event.
    assert resumed == ["3 running", "4 progress", "5 failed"]

    again = httpx.get(events_url, headers=buyer, params={"stream": "sse", "after": 4}, timeout=10)
    assert [t for k, t in _messages(iter(again.text.splitlines())) if k == "event"] == ["5 failed"]


def test_open_stream_ends_cleanly_when_the_server_stops(live_api: Any) -> None:
    import time

    url = live_api.url
    executor = {"Authorization": f"Bearer {live_api.executor_key}"}
    buyer = {"Authorization": f"Bearer {live_api.buyer_key}"}
    assert httpx.put(f"{url}/v1/executor/agents/stop", headers=executor, json={"name": "S"})
    job = httpx.post(
        f"{url}/v1/jobs", headers=buyer, json={"agent_id": "stop", "prompt": "p"}
    ).json()
    seen: list[str] = []
    with httpx.stream(
        "GET", f"{url}/v1/jobs/{job['id']}/events?stream=sse", headers=buyer, timeout=30
    ) as stream:
        lines = stream.iter_lines()
        seen.append(next(_messages(lines))[1])
        started = time.monotonic()
        live_api.stop(grace=20)
        rest = list(lines)
        stopped_after = time.monotonic() - started
    assert seen == ["1 created"]
    assert all(not line.startswith("id:") for line in rest)
    # The stream ended at once instead of holding the drain until the grace ran out.
    assert stopped_after < 5
