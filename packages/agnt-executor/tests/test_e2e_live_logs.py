"""End to end: a handler's stderr reaches the buyer's ``agnt logs --follow`` while it runs.

A real executor runs a command that writes stderr lines slowly (one carries a manifest
secret, one is an ``AGNT_PROGRESS`` line) and then waits for the test's go-ahead. The
buyer's ``agnt logs --follow`` must print the lines before the job ends, the secret as
``***``, and no progress line; ``agnt events`` then prints the whole log as JSON lines.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from agnt_client import Client
from agnt_models import JobStatus

pytestmark = pytest.mark.slow

TOKEN = "tok-9f1e2d3c4b5a69788796"

SLOW_TALKER = """
import os, pathlib, sys, time
go = pathlib.Path(os.environ["GO_FILE"])
for line in ["starting up", "AGNT_PROGRESS 40", "using " + os.environ["AGENT_TOKEN"]]:
    sys.stderr.write(line + "\\n")
    sys.stderr.flush()
    time.sleep(0.3)
while not go.exists():
    time.sleep(0.05)
sys.stderr.write("all done\\n")
(pathlib.Path(os.environ["AGNT_OUTPUT_DIR"]) / "out.txt").write_text("ok")
"""


def read_lines(stream: Any) -> queue.Queue[str | None]:
    """The lines of ``stream`` as they come (``None`` at its end), read on a thread."""
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        for line in stream:
            lines.put(line.rstrip("\n"))
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    return lines


def agnt(live_api: Any, tmp_path: Path, *args: str) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "AGNT_API_URL": live_api.url,
        "AGNT_API_KEY": live_api.buyer_key,
        "AGNT_CONFIG_DIR": str(tmp_path / "agnt-config"),
    }
    return subprocess.Popen(
        [sys.executable, "-m", "agnt_cli", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def test_agnt_logs_follow_shows_stderr_lines_while_the_job_runs_with_secrets_masked(
    start_executor: Callable[..., Any],
    buyer: Client,
    live_api: Any,
    write_manifest: Callable[[str], Path],
    write_script: Callable[[str, str], Path],
    tmp_path: Path,
) -> None:
    go = tmp_path / "go"
    script = write_script("slow-talker", SLOW_TALKER)
    manifest = write_manifest(
        '[[agents]]\nid = "slow-talker"\nname = "Slow talker"\n'
        f'handler = {{ type = "command", argv = ["{script}"], secrets = ["AGENT_TOKEN"], '
        'pass_env = ["GO_FILE"] }\n'
    )
    start_executor("run", str(manifest), env={"AGENT_TOKEN": TOKEN, "GO_FILE": str(go)})
    job = buyer.create_job("slow-talker", "talk")

    follower = agnt(live_api, tmp_path, "logs", str(job.id), "--follow")
    try:
        lines = read_lines(follower.stdout)
        seen = [lines.get(timeout=30) for _ in range(2)]
        assert seen == ["starting up", "using ***"]
        assert buyer.get_job(job.id).status is JobStatus.RUNNING  # shown while it runs
        go.touch()
        assert lines.get(timeout=30) == "all done"
        assert lines.get(timeout=30) is None
        assert follower.wait(timeout=30) == 0
    finally:
        go.touch()
        follower.kill()
        follower.wait()
        for pipe in (follower.stdout, follower.stderr):
            if pipe is not None:
                pipe.close()

    finished = buyer.wait_for_job(job.id, timeout=30)
    assert finished.status is JobStatus.COMPLETED

    dump = agnt(live_api, tmp_path, "events", str(job.id))
    out, err = dump.communicate(timeout=30)
    assert dump.returncode == 0, err
    events = [json.loads(line) for line in out.splitlines()]
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert events[-1]["kind"] == "completed"
    texts = [
        line["text"] for e in events if e["kind"] == "log" for line in e["data"].get("lines", [])
    ]
    assert texts == ["starting up", "using ***", "all done"]
    assert TOKEN not in out
    assert any(e["kind"] == "progress" and e["data"]["progress"] == 40 for e in events)

    snapshot = agnt(live_api, tmp_path, "logs", str(job.id))
    out, err = snapshot.communicate(timeout=30)
    assert snapshot.returncode == 0, err
    assert out.splitlines() == ["starting up", "using ***", "all done"]
