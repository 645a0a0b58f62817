"""Connections that send no complete request head in time are closed by a real server.

Before, uvicorn timed only idle keep-alive connections after a response: 200 sockets that
never sent a request were all still open after 75 s.
"""

from __future__ import annotations

import select
import socket
import time
from typing import Any

import httpx

from agnt_api.serving import REQUEST_HEAD_TIMEOUT_SECONDS

GRACE_SECONDS = 3.0


def _connect(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    sock.setblocking(False)
    return sock


def _wait_until_closed(sockets: list[socket.socket], deadline: float) -> list[socket.socket]:
    """Read from every socket until the server closes it; the ones still open at ``deadline``."""
    open_sockets = list(sockets)
    while open_sockets and time.monotonic() < deadline:
        readable, _, _ = select.select(open_sockets, [], [], 0.2)
        for sock in readable:
            try:
                data = sock.recv(65536)
            except ConnectionResetError:
                data = b""
            if not data:
                open_sockets.remove(sock)
    return open_sockets


def _read_response(sock: socket.socket, timeout: float = 5.0) -> bytes:
    """One whole response (head and ``Content-Length`` body); its status line."""
    sock.setblocking(True)
    sock.settimeout(timeout)
    received = b""
    while b"\r\n\r\n" not in received:
        chunk = sock.recv(65536)
        if not chunk:
            break
        received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.lower().split(b"\r\n")
        if line.startswith(b"content-length:")
    )
    while len(body) < length:
        body += sock.recv(65536)
    sock.setblocking(False)
    return head.split(b"\r\n", 1)[0]


def test_silent_and_half_sent_connections_are_closed_while_requests_still_work(
    live_api: Any,
) -> None:
    silent = [_connect(live_api.port) for _ in range(100)]
    partial = [_connect(live_api.port) for _ in range(100)]
    for sock in partial:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
    opened = time.monotonic()
    try:
        # The server still serves while it holds 200 sockets that say nothing.
        assert httpx.get(f"{live_api.url}/healthz", timeout=5).status_code == 200
        still_open = _wait_until_closed(
            silent + partial, opened + REQUEST_HEAD_TIMEOUT_SECONDS + GRACE_SECONDS
        )
        assert not still_open, f"{len(still_open)} of 200 idle sockets are still open"
        assert time.monotonic() - opened >= REQUEST_HEAD_TIMEOUT_SECONDS - 0.5
        assert httpx.get(f"{live_api.url}/healthz", timeout=5).status_code == 200
    finally:
        for sock in silent + partial:
            sock.close()


def test_a_stalled_second_request_on_a_kept_alive_connection_is_closed(live_api: Any) -> None:
    sock = _connect(live_api.port)
    try:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert _read_response(sock) == b"HTTP/1.1 200 OK"
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127")
        started = time.monotonic()
        deadline = started + REQUEST_HEAD_TIMEOUT_SECONDS + GRACE_SECONDS
        assert not _wait_until_closed([sock], deadline)
    finally:
        sock.close()


def test_a_kept_alive_connection_may_idle_past_the_head_deadline(live_api: Any) -> None:
    """Between requests uvicorn's keep-alive timeout (65 s) still rules, not the head deadline."""
    sock = _connect(live_api.port)
    try:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert _read_response(sock) == b"HTTP/1.1 200 OK"
        time.sleep(REQUEST_HEAD_TIMEOUT_SECONDS + 1.5)
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert _read_response(sock) == b"HTTP/1.1 200 OK"
    finally:
        sock.close()


def test_a_head_sent_slowly_but_within_the_deadline_is_served(live_api: Any) -> None:
    sock = _connect(live_api.port)
    try:
        head = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
        for start in range(0, len(head), 8):
            sock.sendall(head[start : start + 8])
            time.sleep(REQUEST_HEAD_TIMEOUT_SECONDS / 12)
        assert _read_response(sock) == b"HTTP/1.1 200 OK"
    finally:
        sock.close()
