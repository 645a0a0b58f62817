"""Errors that need no API: server down (6), request timeout (7), no key (4); TTY output."""

from __future__ import annotations

import json
import os
import pty
import subprocess
from pathlib import Path

JOB_ID = "6f1c1c55-0f6b-4d6e-9a43-5b1d7f7e1a01"
KEY = "k" * 24


def test_server_down_is_exit_6(agnt, closed_port_url: str) -> None:
    run = agnt("--api-url", closed_port_url, "--api-key", KEY, "status", JOB_ID)
    assert run.exit_code == 6
    assert run.stdout == ""
    error = run.error()
    assert error["code"] == "connection_error"
    assert error["status"] is None


def test_api_that_never_answers_is_exit_7(agnt, silent_server_url: str) -> None:
    run = agnt(
        "--api-url",
        silent_server_url,
        "--api-key",
        KEY,
        "--request-timeout",
        "0.3",
        "info",
        "demo-echo",
    )
    assert run.exit_code == 7
    assert run.error()["code"] == "request_timeout"


def test_no_api_key_anywhere_is_exit_4_before_any_request(agnt, closed_port_url: str) -> None:
    run = agnt("--api-url", closed_port_url, "jobs")
    assert run.exit_code == 4
    error = run.error()
    assert error["code"] == "not_authenticated"
    assert "AGNT_API_KEY" in error["message"]


def test_the_winning_url_is_the_one_requested(
    agnt, closed_port_url: str, silent_server_url: str
) -> None:
    # A closed port fails with 6, a silent server with 7: the exit code shows which URL won.
    agnt("config", "set", "api_url", closed_port_url).ok()
    agnt("config", "set", "api_key", KEY).ok()
    timeout = ("--request-timeout", "0.3")
    assert agnt(*timeout, "jobs").exit_code == 6
    env = {"AGNT_API_URL": silent_server_url}
    assert agnt(*timeout, "jobs", env=env).exit_code == 7
    assert agnt("--api-url", closed_port_url, *timeout, "jobs", env=env).exit_code == 6


def run_on_terminal(agnt_executable: Path, args: list[str], env: dict[str, str]) -> str:
    """stdout of ``agnt *args`` when stdout is a terminal (a pty)."""
    controller, terminal = pty.openpty()
    try:
        completed = subprocess.run(
            [str(agnt_executable), *args],
            stdout=terminal,
            stderr=subprocess.PIPE,
            env=env,
            timeout=60,
            check=True,
        )
        assert completed.stderr == b""
        os.close(terminal)
        terminal = -1
        chunks = []
        while True:
            try:
                chunk = os.read(controller, 4096)
            except OSError:
                break
            if not chunk:
                break
            chunks.append(chunk)
        return b"".join(chunks).decode().replace("\r\n", "\n")
    finally:
        os.close(controller)
        if terminal != -1:
            os.close(terminal)


def test_stdout_is_pretty_on_a_terminal_and_compact_in_a_pipe(
    agnt, agnt_executable: Path, config_dir: Path
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGNT_")}
    env["AGNT_CONFIG_DIR"] = str(config_dir)
    pretty = run_on_terminal(agnt_executable, ["config", "path"], env)
    assert pretty.startswith('{\n  "path": ')
    assert "\x1b" not in pretty
    compact = agnt("config", "path").stdout
    assert compact.count("\n") == 1
    assert json.loads(pretty) == json.loads(compact)
