"""``agnt version [--check]`` against a local HTTP server standing in for PyPI's JSON API.

The registry is outside the project, so a stand-in is fair; the CLI runs as a real process.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from agnt_cli import __version__


class Registry:
    """What the stand-in answers for each path, and the paths it was asked for."""

    def __init__(self) -> None:
        self.answers: dict[str, tuple[int, bytes]] = {}
        self.asked: list[str] = []


@pytest.fixture
def registry() -> Iterator[tuple[Registry, str]]:
    """A stand-in registry on loopback; yields it and its base URL."""
    state = Registry()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            state.asked.append(self.path)
            status, body = state.answers.get(self.path, (404, b'{"message": "Not Found"}'))
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state, f"http://127.0.0.1:{server.server_address[1]}/pypi"
    finally:
        server.shutdown()
        server.server_close()


def pypi_answer(version: str) -> tuple[int, bytes]:
    return 200, json.dumps({"info": {"name": "agnt-cli", "version": version}}).encode()


def test_version_without_check_asks_no_registry(agnt, registry) -> None:
    state, url = registry
    document = agnt("version", env={"AGNT_PYPI_URL": url}).ok()
    assert document == {"name": "agnt", "version": __version__, "python": document["python"]}
    assert state.asked == []


def test_check_reports_a_newer_release_and_how_to_upgrade(agnt, registry) -> None:
    state, url = registry
    state.answers["/pypi/agnt-cli/json"] = pypi_answer("99.0.0")
    document = agnt("version", "--check", env={"AGNT_PYPI_URL": url}).ok()
    assert document["version"] == __version__
    assert document["channel"] == "pypi"
    assert document["package"] == "agnt-cli"
    assert document["latest"] == "99.0.0"
    assert document["update_available"] is True
    assert document["upgrade"] == "pip install --upgrade agnt-cli"
    assert state.asked == ["/pypi/agnt-cli/json"]


def test_check_when_current_says_no_update(agnt, registry) -> None:
    state, url = registry
    state.answers["/pypi/agnt-cli/json"] = pypi_answer(__version__)
    document = agnt("version", "--check", env={"AGNT_PYPI_URL": url}).ok()
    assert (document["latest"], document["update_available"], document["upgrade"]) == (
        __version__,
        False,
        None,
    )


@pytest.mark.parametrize(
    ("answer", "status"),
    [((404, b'{"message": "Not Found"}'), 404), ((200, b"not json"), None)],
)
def test_check_with_a_registry_that_gives_no_version_is_registry_error(
    agnt, registry, answer: tuple[int, bytes], status: int | None
) -> None:
    state, url = registry
    state.answers["/pypi/agnt-cli/json"] = answer
    run = agnt("version", "--check", env={"AGNT_PYPI_URL": url})
    assert run.exit_code == 1
    assert run.stdout == ""
    error = run.error()
    assert (error["code"], error["status"]) == ("registry_error", status)


def test_check_with_the_registry_down_is_exit_6(agnt, closed_port_url: str) -> None:
    run = agnt("version", "--check", env={"AGNT_PYPI_URL": closed_port_url})
    assert run.exit_code == 6
    assert run.error()["code"] == "registry_unreachable"
