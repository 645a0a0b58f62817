"""The executor's key: stripped where read, never in a log line, a warning for ``--api-key``."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import uuid
from pathlib import Path

from agnt_executor.demo import manifest_path
from agnt_executor.logs import JsonLineFormatter, mask_in_logs


def run_executor(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("AGNT_")}
    return subprocess.run(
        [sys.executable, "-m", "agnt_executor", *args],
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def events(stderr: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]


def test_a_key_with_a_space_inside_is_a_clear_usage_error_without_the_key() -> None:
    key = "agnt_e_0123456789 abcdefghij"
    done = run_executor(
        "publish",
        str(manifest_path()),
        env={"AGNT_API_URL": "http://127.0.0.1:9", "AGNT_API_KEY": key},
    )
    assert done.returncode == 2
    (event,) = [e for e in events(done.stderr) if e["event"] == "usage_error"]
    assert str(event["error"]).startswith("AGNT_API_KEY is not a valid API key")
    assert "0123456789" not in done.stderr and "abcdefghij" not in done.stderr


def test_the_api_key_flag_is_warned_about_and_never_logged(tmp_path: Path) -> None:
    key = f"agnt_e_{uuid.uuid4().hex}"
    done = run_executor(
        "publish",
        str(manifest_path()),
        "--api-key",
        key,
        env={"AGNT_API_URL": "http://127.0.0.1:9"},
    )
    assert done.returncode == 1  # nothing listens on port 9
    names = [e["event"] for e in events(done.stderr)]
    assert "api_key_on_command_line" in names
    assert key not in done.stderr


def test_a_registered_key_is_masked_in_every_log_line_and_traceback() -> None:
    key = f'agnt_e_{uuid.uuid4().hex}"q'
    mask_in_logs(key)
    try:
        raise RuntimeError(f"Illegal header value b'Bearer {key}'")
    except RuntimeError:
        record = logging.LogRecord(
            "agnt_executor", logging.ERROR, __file__, 1, "api_retry", None, sys.exc_info()
        )
    record.fields = {"error": f"failed with {key}"}
    line = JsonLineFormatter().format(record)
    parsed = json.loads(line)
    assert parsed["error"] == "failed with ***"
    assert "Bearer ***" in parsed["traceback"]
    assert key.split('"')[0] not in line


def test_check_lists_the_variables_a_manifest_names_but_the_executor_lacks(
    tmp_path: Path,
) -> None:
    manifest = tmp_path / "m.toml"
    manifest.write_text(
        '[[agents]]\nid = "needs-env"\nname = "Needs env"\n'
        'handler = { type = "command", argv = ["env"], pass_env = ["SET_VAR", "UNSET_VAR"], '
        'secrets = ["UNSET_TOKEN"] }\n'
    )
    done = run_executor("check", str(manifest), env={"SET_VAR": "1"})
    assert done.returncode == 0, done.stderr
    (agent,) = json.loads(done.stdout)["agents"]
    assert agent["unset_variables"] == ["UNSET_VAR", "UNSET_TOKEN"]
