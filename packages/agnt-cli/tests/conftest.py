"""Fixtures for agnt-cli tests: run the real ``agnt`` console script as a subprocess.

Each run gets a config directory of its own (``AGNT_CONFIG_DIR``) and no ``AGNT_API_*``
variables from the outer environment, and every run is checked for the two promises
that hold for any call: no ANSI codes (stdout and stderr are pipes here) and, on failure,
exactly one JSON error object on stderr.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

AGNT = Path(sys.executable).with_name("agnt")
if not AGNT.exists():
    AGNT = Path(shutil.which("agnt") or "agnt")

SCRUBBED = ("AGNT_API_URL", "AGNT_API_KEY", "AGNT_CONFIG_DIR", "AGNT_DEBUG", "XDG_CONFIG_HOME")


@dataclass(frozen=True)
class AgntRun:
    """One finished ``agnt`` call."""

    args: tuple[str, ...]
    exit_code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        """stdout as its one JSON document."""
        assert self.stdout.endswith("\n"), self
        return json.loads(self.stdout)

    def warnings(self) -> list[dict[str, Any]]:
        """The ``warning`` objects written on stderr before any error (one JSON line each)."""
        lines = [json.loads(line) for line in self.stderr.splitlines() if line.strip()]
        return [line["warning"] for line in lines if set(line) == {"warning"}]

    def created(self) -> str | None:
        """The id ``agnt order --wait`` announced on stderr (``{"created": id}``), if any."""
        first = self.stderr.split("\n", 1)[0]
        if not first.startswith('{"created":'):
            return None
        document = json.loads(first)
        assert set(document) == {"created"}, document
        return str(document["created"])

    def _stderr_after_created(self) -> str:
        if self.created() is None:
            return self.stderr
        return self.stderr.split("\n", 1)[1]

    def error(self) -> dict[str, Any]:
        """The ``error`` object of stderr: its last line, after a created line and warnings."""
        *before, last = self._stderr_after_created().strip().split("\n")
        assert all(set(json.loads(line)) == {"warning"} for line in before), self.stderr
        document = json.loads(last)
        assert set(document) == {"error"}, document
        error: dict[str, Any] = document["error"]
        assert {"code", "message", "status"} <= set(error), error
        return error

    def ok(self) -> Any:
        """stdout's document, after checking the call succeeded with nothing on stderr
        (but the created line of ``agnt order --wait``)."""
        assert self.exit_code == 0, self
        assert self._stderr_after_created() == "", self
        return self.json()


AgntRunner = Callable[..., AgntRun]


@pytest.fixture
def agnt_executable() -> Path:
    """The ``agnt`` console script of this environment."""
    return AGNT


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    """The config directory the runs of this test use (``AGNT_CONFIG_DIR``)."""
    return tmp_path / "agnt-config"


@dataclass(frozen=True)
class TerminalRun:
    """An ``agnt`` call whose stderr was a terminal (a pty); stdout was a pipe."""

    exit_code: int
    stdout: str
    terminal: str


def run_with_terminal_stderr(argv: list[str], env: dict[str, str], cwd: Path) -> TerminalRun:
    """Run ``argv`` with stderr on a pty, draining the pty as it goes (so it never blocks)."""
    import fcntl
    import pty
    import struct
    import termios
    import threading

    controller, terminal = pty.openpty()
    # A real terminal has a size; 120x40 like a roomy window.
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    chunks: list[bytes] = []

    def drain() -> None:
        while True:
            try:
                chunk = os.read(controller, 65536)
            except OSError:
                return
            if not chunk:
                return
            chunks.append(chunk)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    try:
        completed = subprocess.run(
            argv, stdout=subprocess.PIPE, stderr=terminal, env=env, cwd=cwd, timeout=90, check=False
        )
    finally:
        os.close(terminal)
    reader.join(timeout=10)
    os.close(controller)
    text = b"".join(chunks).decode(errors="replace")
    return TerminalRun(completed.returncode, completed.stdout.decode(), text)


@pytest.fixture
def agnt(tmp_path: Path, config_dir: Path) -> AgntRunner:
    """Run ``agnt *args``; ``env`` adds or (with ``None``) removes variables.

    With ``terminal_stderr=True`` stderr is a pty and the run is a ``TerminalRun``.
    """
    base_env = {k: v for k, v in os.environ.items() if k not in SCRUBBED}
    base_env["AGNT_CONFIG_DIR"] = str(config_dir)
    workdir = tmp_path / "work"
    workdir.mkdir()

    def run(
        *args: str,
        env: dict[str, str | None] | None = None,
        input: str | None = None,
        cwd: Path | None = None,
        timeout: float = 90,
        terminal_stderr: bool = False,
    ) -> Any:
        full_env = dict(base_env)
        for key, value in (env or {}).items():
            if value is None:
                full_env.pop(key, None)
            else:
                full_env[key] = value
        if terminal_stderr:
            return run_with_terminal_stderr([str(AGNT), *args], full_env, cwd or workdir)
        completed = subprocess.run(
            [str(AGNT), *args],
            env=full_env,
            input=input,
            capture_output=True,
            text=True,
            cwd=cwd or workdir,
            timeout=timeout,
            check=False,
        )
        result = AgntRun(tuple(args), completed.returncode, completed.stdout, completed.stderr)
        assert "\x1b" not in result.stdout + result.stderr, result
        if result.exit_code != 0:
            result.error()
        return result

    return run


@pytest.fixture
def buyer(agnt: AgntRunner, live_api: Any) -> AgntRunner:
    """``agnt`` pointed at the live API with the buyer's key (through the environment)."""

    def run(*args: str, **kwargs: Any) -> AgntRun:
        env = {"AGNT_API_URL": live_api.url, "AGNT_API_KEY": live_api.buyer_key}
        env.update(kwargs.pop("env", None) or {})
        return agnt(*args, env=env, **kwargs)

    return run


@pytest.fixture
def executor(live_api: Any) -> Iterator[Any]:
    """An ``agnt_client.Client`` with the executor's key: plays the agent's owner."""
    from agnt_client import Client

    with Client(live_api.url, live_api.executor_key) as client:
        yield client


@pytest.fixture
def echo_agent(executor: Any) -> str:
    """Publish the agent ``cli-echo`` (params: integer ``count`` >= 1, object ``style``)."""
    from agnt_models import AgentPublish

    agent = AgentPublish(
        name="CLI echo",
        description="Repeats the prompt; published by the agnt-cli tests",
        tags=["text", "cli-test"],
        input_schema={
            "type": "object",
            "properties": {
                "count": {"type": "integer", "minimum": 1},
                "style": {"type": "object"},
            },
            "additionalProperties": False,
        },
    )
    return str(executor.publish_agent("cli-echo", agent).id)


@pytest.fixture
def closed_port_url() -> str:
    """An http:// URL on a loopback port where nothing listens."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.fixture
def silent_server_url() -> Iterator[str]:
    """An http:// URL whose server accepts connections and never answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
