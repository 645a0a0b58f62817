"""The commands' usage errors and ``check``, as a user runs them (no API needed)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

from agnt_executor.demo import manifest_path

BIN = Path(sys.executable).parent


def run(
    command: str, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("AGNT_")}
    return subprocess.run(
        [str(BIN / command), *args],
        env={**base, **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
    )


def log_events(stderr: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]


def test_check_describes_the_demo_manifest() -> None:
    done = run("agnt-executor", "check", str(manifest_path()))
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert [a["id"] for a in report["agents"]] == ["demo-echo", "demo-wordcount", "demo-slow"]
    assert all(
        a["handler"] == "python" and a["unavailable_reason"] is None for a in report["agents"]
    )


def test_check_reports_a_missing_gemini_cli(tmp_path: Path) -> None:
    manifest = tmp_path / "gemini.toml"
    manifest.write_text(
        '[[agents]]\nid = "ask"\nname = "Ask"\n'
        'handler = { type = "gemini", binary = "agnt-no-gemini-cli" }\n'
    )
    done = run("agnt-executor", "check", str(manifest))
    assert done.returncode == 3
    (agent,) = json.loads(done.stdout)["agents"]
    assert agent["handler"] == "gemini"
    assert agent["unavailable_reason"].startswith("the Gemini CLI ('agnt-no-gemini-cli')")
    allowed = run("agnt-executor", "check", "--allow-unavailable", str(manifest))
    assert allowed.returncode == 0, allowed.stderr
    assert json.loads(allowed.stdout) == json.loads(done.stdout)


def test_run_and_publish_refuse_an_agent_whose_handler_cannot_run_here(tmp_path: Path) -> None:
    manifest = tmp_path / "mixed.toml"
    manifest.write_text(
        '[[agents]]\nid = "ask"\nname = "Ask"\n'
        'handler = { type = "gemini", binary = "agnt-no-gemini-cli" }\n'
    )
    # No API is reached: the manifest is refused first.
    env = {"AGNT_API_URL": "http://127.0.0.1:9", "AGNT_API_KEY": "agnt_x_0000000000000000000000"}
    for command in ("run", "publish"):
        done = run("agnt-executor", command, str(manifest), env=env)
        assert done.returncode == 3, done.stderr
        (event,) = [e for e in log_events(done.stderr) if e.get("event") == "agent_unavailable"]
        assert event["agent_id"] == "ask"
        assert str(event["error"]).startswith("the Gemini CLI ('agnt-no-gemini-cli')")
    # Skipping it leaves nothing to serve: still an error, never a claim for all agents.
    done = run("agnt-executor", "run", "--allow-unavailable", str(manifest), env=env)
    assert done.returncode == 3, done.stderr


def test_python_dash_m_runs_the_same_command() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "agnt_executor", "check", str(manifest_path())],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0
    assert json.loads(done.stdout)["agents"][0]["id"] == "demo-echo"


def test_invalid_manifest_exits_2_with_a_json_error(tmp_path: Path) -> None:
    manifest = tmp_path / "bad.toml"
    manifest.write_text('[[agents]]\nid = "x1"\nname = "x"\n')
    done = run("agnt-executor", "run", str(manifest))
    assert done.returncode == 2
    (event,) = log_events(done.stderr)
    assert event["event"] == "manifest_invalid"
    assert "agents.0.handler: Field required" in str(event["error"])


def test_run_without_an_api_url_exits_2() -> None:
    done = run("agnt-executor", "run", str(manifest_path()))
    assert done.returncode == 2
    assert "AGNT_API_URL" in log_events(done.stderr)[-1]["error"]  # type: ignore[operator]


def test_bad_concurrency_exits_2() -> None:
    done = run(
        "agnt-executor",
        "run",
        str(manifest_path()),
        "--concurrency",
        "-1",
        env={"AGNT_API_URL": "http://127.0.0.1:9"},
    )
    assert done.returncode == 2
    assert log_events(done.stderr)[-1]["error"] == "--concurrency must be at least 1"


def test_unreachable_api_on_publish_exits_1() -> None:
    done = run(
        "agnt-executor",
        "publish",
        str(manifest_path()),
        env={"AGNT_API_URL": "http://127.0.0.1:9", "AGNT_API_KEY": "k"},
    )
    assert done.returncode == 1
    assert log_events(done.stderr)[-1]["event"] == "publish_failed"


def test_handoff_usage_error_exits_2_and_prints_the_outcome(tmp_path: Path) -> None:
    job_id = str(uuid.uuid4())
    done = run("agnt-handoff", job_id, "--manifest", str(tmp_path / "missing.toml"))
    assert done.returncode == 2
    assert json.loads(done.stdout) == {"job_id": job_id, "outcome": "usage_error", "exit_code": 2}


def test_handoff_needs_a_uuid() -> None:
    done = run("agnt-handoff", "not-a-uuid", "--manifest", str(manifest_path()))
    assert done.returncode == 2
    assert "invalid UUID value" in done.stderr
