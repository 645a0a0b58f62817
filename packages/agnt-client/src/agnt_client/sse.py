"""Reading a job's event stream: an SSE parser and the resume bookkeeping. No I/O.

Shared by ``Client.stream_events`` and ``AsyncClient.stream_events``: both feed the lines
of one HTTP response to ``SSEDecoder`` and hand each message to ``EventStreamResume``,
which drops what was already yielded, knows the ``Last-Event-ID`` of the next reconnect,
and says when the stream is over (the terminal event). The parser follows the HTML
Living Standard's "interpret an event stream": lines end in LF, CRLF or CR; a line
starting with ``:`` is a comment (the API's ``: keep-alive``); ``data`` lines are joined
with LF; an empty line dispatches; ``id`` with a NUL is ignored; ``retry`` takes digits.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx
from pydantic import ValidationError

from agnt_client.endpoints import ApiCall, JobId, job_events_path
from agnt_client.errors import status_error_for
from agnt_client.retries import RetryPolicy, RetryState
from agnt_client.waiting import OUTAGE_SECONDS
from agnt_models import TERMINAL_EVENT_KINDS, JobEvent

EVENT_STREAM_TYPE = "text/event-stream"

STREAM_READ_SLACK = 60.0
"""Longest silence tolerated on an open stream (the API sends a keep-alive far more often)."""


@dataclass(frozen=True)
class ServerSentEvent:
    """One dispatched SSE message."""

    data: str
    event: str = "message"
    id: str | None = None
    retry: int | None = None


@dataclass
class SSEDecoder:
    """Turns the lines of an event stream into ``ServerSentEvent``s.

    ``feed`` takes decoded text in chunks of any size (a line may be split across chunks);
    ``last_event_id`` persists across messages, as the standard asks.
    """

    last_event_id: str | None = None
    _buffer: str = ""
    _data: list[str] = field(default_factory=list)
    _event: str = ""
    _retry: int | None = None
    _has_fields: bool = False

    def feed(self, text: str) -> list[ServerSentEvent]:
        """The messages completed by ``text``."""
        self._buffer += text
        messages: list[ServerSentEvent] = []
        while True:
            cut = _line_end(self._buffer)
            if cut is None:
                return messages
            line, self._buffer = self._buffer[: cut[0]], self._buffer[cut[1] :]
            message = self.line(line)
            if message is not None:
                messages.append(message)

    def line(self, line: str) -> ServerSentEvent | None:
        """Process one line (without its end); a message when it is the empty line."""
        if not line:
            return self._dispatch()
        if line.startswith(":"):
            return None
        name, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id":
            if "\0" not in value:
                self.last_event_id = value
        elif name == "retry":
            if value.isdigit():
                self._retry = int(value)
        else:
            return None
        self._has_fields = True
        return None

    def _dispatch(self) -> ServerSentEvent | None:
        if not self._has_fields:
            return None
        data, event, retry = "\n".join(self._data), self._event or "message", self._retry
        self._data, self._event, self._retry, self._has_fields = [], "", None, False
        if not data and event == "message":
            # Only an id or retry field: the standard dispatches nothing.
            return None
        return ServerSentEvent(data=data, event=event, id=self.last_event_id, retry=retry)


def _line_end(buffer: str) -> tuple[int, int] | None:
    """(end of the first line, start of the next) or ``None`` if no full line yet.

    A CR at the very end of the buffer waits for the next chunk: it may be half a CRLF.
    """
    for index, char in enumerate(buffer):
        if char == "\n":
            return index, index + 1
        if char == "\r":
            if index + 1 == len(buffer):
                return None
            return index, index + (2 if buffer[index + 1] == "\n" else 1)
    return None


class EventStreamResume:
    """One follower of one job's stream, across reconnects: the state machine of both clients.

    ``accept`` returns the ``JobEvent`` of a message, or ``None`` for one already yielded
    (a server replaying from an older ``Last-Event-ID``) or that is not a job event. A
    broken connection, a 5xx or a stream cut before the terminal event becomes a wait
    before the next reconnect (``wait_after_*``), with the client's backoff; the retries
    last ``OUTAGE_SECONDS`` since the last event received (or until ``deadline``), then
    the error is raised. Each new event starts the outage clock again.
    """

    def __init__(
        self,
        policy: RetryPolicy,
        after: int | None = None,
        *,
        timeout: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.last_seq = after or 0
        self.done = False
        self._clock = clock
        self._deadline = None if timeout is None else clock() + timeout
        # With a timeout, reconnects go on until it passes (each wait is cut to what is left,
        # and the caller stops at the timeout); the policy's own deadline is only a backstop.
        outage = OUTAGE_SECONDS if timeout is None else timeout + OUTAGE_SECONDS
        self._policy = dataclasses.replace(policy, max_retries=None, deadline=outage)
        self._retry = RetryState(self._policy, idempotent=True, clock=clock)
        self._retry_ms: int | None = None

    def call(self, job_id: JobId) -> ApiCall[None]:
        """The request of the next (re)connect: resumes after the last event seen."""
        headers = {"Accept": EVENT_STREAM_TYPE}
        if self.last_seq:
            headers["Last-Event-ID"] = str(self.last_seq)
        return ApiCall(
            "GET", job_events_path(job_id), _no_parse, headers=headers, long_poll=STREAM_READ_SLACK
        )

    def timeout(self, timeout: httpx.Timeout) -> httpx.Timeout:
        """``timeout`` with its read part cut to what is left of the follow's timeout."""
        remaining = self.remaining()
        if remaining is None or (timeout.read is not None and timeout.read <= remaining):
            return timeout
        return httpx.Timeout(
            connect=timeout.connect,
            read=max(remaining, 0.01),
            write=timeout.write,
            pool=timeout.pool,
        )

    def remaining(self) -> float | None:
        """Seconds until the follow's timeout, ``None`` without one."""
        return None if self._deadline is None else self._deadline - self._clock()

    @property
    def timed_out(self) -> bool:
        """Whether the follow's timeout has passed (the caller stops reading)."""
        remaining = self.remaining()
        return remaining is not None and remaining <= 0

    def accept(self, message: ServerSentEvent) -> JobEvent | None:
        """The new event in ``message``, if any; marks the stream done after a terminal one."""
        if message.retry is not None:
            self._retry_ms = message.retry
        try:
            event = JobEvent.model_validate(json.loads(message.data))
        except (ValueError, ValidationError):
            return None
        if event.seq <= self.last_seq:
            return None
        self.last_seq = event.seq
        self._retry = RetryState(self._policy, idempotent=True, clock=self._clock)
        if event.kind in TERMINAL_EVENT_KINDS:
            self.done = True
        return event

    def wait_after_error(self, exc: httpx.TransportError) -> float:
        """Seconds before reconnecting after ``exc``; raises ``APIConnectionError`` when done."""
        return self._server_delay(self._retry.wait_after_error(exc))

    def wait_after_response(self, response: httpx.Response) -> float:
        """Seconds before reconnecting after an error answer; raises it when not transient."""
        if response.is_success:
            # A 2xx that is not an event stream: a server without the endpoint's SSE form.
            raise status_error_for(response)
        return self._server_delay(self._retry.wait_after_response(response))

    def wait_after_cut(self, request: httpx.Request) -> float:
        """Seconds before reconnecting after the stream ended before the terminal event."""
        cut = httpx.RemoteProtocolError("the event stream ended early", request=request)
        return self.wait_after_error(cut)

    def _server_delay(self, delay: float) -> float:
        # The server's ``retry:`` field names its reconnect delay; our backoff may be longer.
        if self._retry_ms is not None:
            delay = max(delay, self._retry_ms / 1000)
        remaining = self.remaining()
        return delay if remaining is None else max(min(delay, remaining), 0.0)


def is_event_stream(response: httpx.Response) -> bool:
    """Whether ``response`` is a successful ``text/event-stream``."""
    media = response.headers.get("content-type", "").split(";")[0].strip().lower()
    return response.is_success and media == EVENT_STREAM_TYPE


def _no_parse(_response: httpx.Response) -> None:
    return None
