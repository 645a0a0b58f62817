"""The job event stream: the SSE parser, resuming without duplicates, run(), events pages."""

from __future__ import annotations

import inspect
import json
import socket
import threading
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from agnt_client import AsyncClient, Client, JobFailedError, WaitTimeoutError
from agnt_client.sse import ServerSentEvent, SSEDecoder
from agnt_models import WebhookTarget

# --- the parser ------------------------------------------------------------------------


def decode(*chunks: str) -> list[ServerSentEvent]:
    decoder = SSEDecoder()
    return [message for chunk in chunks for message in decoder.feed(chunk)]


def test_multi_line_data_is_joined_with_newlines() -> None:
    assert decode("data: one\ndata: two\ndata:three\n\n") == [
        ServerSentEvent(data="one\ntwo\nthree")
    ]


def test_comments_are_skipped_and_dispatch_nothing() -> None:
    assert decode(": keep-alive\n\n: another\n", "data: x\n\n") == [ServerSentEvent(data="x")]


def test_id_event_and_retry_fields_are_read() -> None:
    (message,) = decode("id: 7\nevent: progress\nretry: 1500\ndata: {}\n\n")
    assert message == ServerSentEvent(data="{}", event="progress", id="7", retry=1500)


def test_last_event_id_carries_over_and_bad_fields_are_ignored() -> None:
    messages = decode("id: 3\ndata: a\n\n", "retry: soon\nid: x\0y\ndata: b\n\n")
    assert [(m.id, m.retry) for m in messages] == [("3", None), ("3", None)]


def test_crlf_and_cr_line_ends_even_split_across_chunks() -> None:
    # A CR ending a chunk may be half a CRLF: it counts once the next chunk comes.
    messages = decode("id: 1\r", "\ndata: a\r\n\r", "\nid: 2\rdata: b\r\r", ": more\n")
    assert [(m.id, m.data) for m in messages] == [("1", "a"), ("2", "b")]


def test_a_message_without_data_is_not_dispatched_and_a_partial_one_waits() -> None:
    assert decode("id: 4\n\nretry: 10\n\ndata: no end yet\n") == []


def test_a_space_after_the_colon_is_dropped_once() -> None:
    assert decode("data:  two spaces\n\n") == [ServerSentEvent(data=" two spaces")]


# --- a loopback server that cuts the stream -------------------------------------------


def event_json(job_id: str, seq: int, kind: str, **data: Any) -> str:
    return json.dumps(
        {
            "job_id": job_id,
            "seq": seq,
            "kind": kind,
            "data": data,
            "created_at": datetime.now(UTC).isoformat(),
        }
    )


def sse_frame(job_id: str, seq: int, kind: str, **data: Any) -> bytes:
    body = event_json(job_id, seq, kind, **data)
    return f"id: {seq}\r\nevent: {kind}\r\ndata: {body}\r\n\r\n".encode()


KINDS = ["created", "accepted", "running", "progress", "completed"]


class StreamServer:
    """Serves one job's five events, cutting the first two connections part-way.

    1st: events 1-2 then the TCP connection breaks inside a chunk (a network error).
    2nd: replays from one before the asked ``Last-Event-ID`` (a duplicate), up to event 4,
         then ends cleanly without the terminal event (a proxy closing an idle stream).
    3rd: the rest, ending after the terminal event.
    """

    def __init__(self, job_id: str) -> None:
        self.job_id = job_id
        self.last_event_ids: list[str | None] = []
        self.accepts: list[str | None] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                return None

            def do_GET(self) -> None:
                server.serve(self)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def serve(self, request: BaseHTTPRequestHandler) -> None:
        last = request.headers.get("Last-Event-ID")
        self.last_event_ids.append(last)
        self.accepts.append(request.headers.get("Accept"))
        attempt = len(self.last_event_ids)
        request.send_response(200)
        request.send_header("Content-Type", "text/event-stream; charset=utf-8")
        request.send_header("Transfer-Encoding", "chunked")
        request.end_headers()

        def chunk(data: bytes) -> None:
            request.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            request.wfile.flush()

        chunk(b": keep-alive\r\n\r\nretry: 20\r\n\r\n")
        start = int(last or 0)
        if attempt == 2:
            start = max(start - 1, 0)
        stop = {1: 2, 2: 4}.get(attempt, len(KINDS))
        for seq in range(start + 1, stop + 1):
            chunk(sse_frame(self.job_id, seq, KINDS[seq - 1], progress=seq * 20))
        if attempt == 1:
            request.wfile.write(b"400\r\nid: 3\r\ndata: {")  # a chunk that never ends
            request.wfile.flush()
            request.connection.shutdown(socket.SHUT_RDWR)
            request.close_connection = True
            return
        request.wfile.write(b"0\r\n\r\n")
        request.close_connection = True

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def stream_server() -> Iterator[StreamServer]:
    server = StreamServer(str(uuid.uuid4()))
    yield server
    server.close()


def test_stream_resumes_after_cuts_without_duplicates(
    make_client: Any, stream_server: StreamServer
) -> None:
    client = make_client(base_url=stream_server.url)
    events = list(client.stream_events(stream_server.job_id))
    assert [e.seq for e in events] == [1, 2, 3, 4, 5]
    assert [e.kind.value for e in events] == KINDS
    assert stream_server.last_event_ids == [None, "2", "4"]
    assert set(stream_server.accepts) == {"text/event-stream"}


def test_stream_starts_after_the_given_sequence(
    make_client: Any, stream_server: StreamServer
) -> None:
    client = make_client(base_url=stream_server.url)
    events = list(client.stream_events(stream_server.job_id, after=1))
    assert [e.seq for e in events] == [2, 3, 4, 5]
    assert stream_server.last_event_ids[0] == "1"


# --- over a fake network: run, events pages, orders ----------------------------------

Handler = Callable[[httpx.Request], httpx.Response]


def stream_of(job_id: str, *kinds: str) -> httpx.Response:
    body = b"".join(sse_frame(job_id, seq, kind) for seq, kind in enumerate(kinds, 1))
    return httpx.Response(200, content=body, headers={"Content-Type": "text/event-stream"})


def test_run_raises_job_failed_error_carrying_the_job(make_client: Any, payloads: Any) -> None:
    job_id = str(uuid.uuid4())
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.method == "POST":
            return httpx.Response(201, json=payloads.job(id=job_id, status="running"))
        if request.url.path.endswith("/events"):
            return stream_of(job_id, "created", "running", "failed")
        return httpx.Response(
            200, json=payloads.job(id=job_id, status="failed", decision_reason="boom")
        )

    with pytest.raises(JobFailedError) as caught:
        make_client(handler).run("demo-echo", "hi", timeout=30)
    assert str(caught.value.job.id) == job_id
    assert caught.value.job.status == "failed"
    assert "boom" in str(caught.value)
    assert seen[0].headers["Prefer"] == "wait=30"
    assert [r.url.path.rsplit("/", 1)[-1] for r in seen[1:]] == ["events", job_id]


@pytest.mark.parametrize("status", ["rejected", "canceled"])
def test_run_raises_when_the_order_answer_is_already_terminal(
    make_client: Any, payloads: Any, status: str
) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(201, json=payloads.job(status=status))

    with pytest.raises(JobFailedError) as caught:
        make_client(handler).run("demo-echo", "hi")
    assert caught.value.job.status == status


def test_run_returns_the_completed_job(make_client: Any, payloads: Any) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        assert request.headers["Prefer"] == "wait=60"
        return httpx.Response(201, json=payloads.job(status="completed", progress=100))

    assert make_client(handler).run("demo-echo", "hi").status == "completed"


def test_wait_for_job_on_a_silent_stream_times_out_with_the_job(
    make_client: Any, payloads: Any
) -> None:
    job_id = str(uuid.uuid4())

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/events"):
            raise httpx.ReadTimeout("silence", request=request)
        return httpx.Response(200, json=payloads.job(id=job_id, status="running", progress=40))

    with pytest.raises(WaitTimeoutError) as caught:
        make_client(handler).wait_for_job(job_id, timeout=0.3)
    assert caught.value.job.progress == 40


def test_events_asks_for_a_json_page(make_client: Any) -> None:
    job_id = str(uuid.uuid4())
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        item = json.loads(event_json(job_id, 3, "progress", progress=50))
        return httpx.Response(200, json={"items": [item], "last_seq": 3, "done": False})

    page = make_client(handler).events(job_id, after=2, wait=5)
    assert page.last_seq == 3 and page.items[0].data == {"progress": 50}
    assert seen[0].headers["Accept"] == "application/json"
    assert dict(seen[0].url.params) == {"after": "2", "wait": "5"}


def test_create_job_sends_the_webhook_and_prefer_wait(make_client: Any, payloads: Any) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(201, json=payloads.job())

    target = WebhookTarget.model_validate(
        {"url": "https://hooks.example/agnt", "events": ["completed"]}
    )
    make_client(handler).create_job("demo-echo", "hi", webhook=target, prefer_wait=2.5)
    body = json.loads(seen[0].content)
    assert body["webhook"] == {"url": "https://hooks.example/agnt", "events": ["completed"]}
    assert seen[0].headers["Prefer"] == "wait=2.5"


def test_sync_and_async_clients_have_the_same_public_methods() -> None:
    """The two clients must not drift: same names, same parameters, same defaults."""

    def public(cls: type) -> dict[str, list[tuple[str, Any, Any]]]:
        return {
            name: [
                (p.name, p.kind, p.default) for p in inspect.signature(member).parameters.values()
            ]
            for name, member in inspect.getmembers(cls, inspect.isfunction)
            if not name.startswith("_")
        }

    assert public(Client) == public(AsyncClient)
