"""uvicorn's HTTP protocol with a deadline on request heads.

uvicorn arms its keep-alive timeout only after a response, and disarms it at the first byte
of the next request: a connection that never sends a request, or stops halfway through its
head (slowloris), stays open for ever. Here a request head must be complete within
``REQUEST_HEAD_TIMEOUT_SECONDS`` of the connection opening, or of the first byte of a
later request on a kept-alive connection; otherwise the connection is closed. Idle time
between requests is still uvicorn's keep-alive timeout, and request bodies are not timed
(uploads are long; the body limits bound them).

Chosen over another server (hypercorn, granian) because uvicorn is what the service, its
tests and its benchmarks already run, and the fix is a small subclass of its own httptools
protocol (what ``uvicorn[standard]`` runs), keeping every other behaviour.
"""

from __future__ import annotations

import asyncio

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle

REQUEST_HEAD_TIMEOUT_SECONDS = 5.0
"""How long a client may take to send a complete request head."""


class HeadDeadlineProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol that closes connections whose request head is late.

    Pass the class itself to ``uvicorn.run(http=...)``: it is importable by name, so
    worker processes get it too.
    """

    head_timeout = REQUEST_HEAD_TIMEOUT_SECONDS
    _head_timer: asyncio.TimerHandle | None = None
    _timed_cycle: RequestResponseCycle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]  # uvicorn narrows it so
        """Start the clock for the first request head."""
        super().connection_made(transport)
        self._arm_head_timer()

    def data_received(self, data: bytes) -> None:
        """Time a new request's head from its first byte; stop the clock once it is parsed."""
        if self._head_timer is None and (self.cycle is None or self.cycle.response_complete):
            self._arm_head_timer()
        super().data_received(data)
        if self.cycle is not None and self.cycle is not self._timed_cycle:
            # The parser started a new request cycle: its head is complete.
            self._timed_cycle = self.cycle
            self._disarm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        """Drop the clock with the connection."""
        self._disarm_head_timer()
        super().connection_lost(exc)

    def _arm_head_timer(self) -> None:
        self._disarm_head_timer()
        self._head_timer = self.loop.call_later(self.head_timeout, self._head_too_late)

    def _disarm_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_too_late(self) -> None:
        self._head_timer = None
        if not self.transport.is_closing():
            self.transport.close()
