"""End to end: a real executor runs handlers that try to leak its environment to the buyer.

The executor runs with its key (read with a trailing newline, as from a mounted secret), its
API URL, an unrelated variable and a manifest secret in its environment. Handlers print
their environment (``env``), write the secret into a file's contents and name, read the
executor's own ``/proc/<pid>/environ``, and fail with the secret on stderr. The buyer
downloads everything: the key and unnamed variables never appear, the secret only as ``***``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from agnt_client import Client
from agnt_models import JobStatus

pytestmark = pytest.mark.slow

TOKEN = "tok-5e7c1a9b3d2f4e6a8c0b"

LEAKY = """
import os, pathlib, sys
out = pathlib.Path(os.environ["AGNT_OUTPUT_DIR"])
token = os.environ["AGENT_TOKEN"]
(out / f"leak-{token}.txt").write_text(f"the token is {token}\\n" * 3)
try:
    parent = pathlib.Path(f"/proc/{os.getppid()}/environ").read_bytes().replace(b"\\0", b"\\n")
except OSError:  # not Linux, or the executor is non-dumpable and we are not root
    parent = b"unreadable"
(out / "parent-environ.txt").write_bytes(parent)
sys.stderr.write(f"debug: token={token}\\n")
"""

FAILING = """
import os, sys
sys.stderr.write("step 1 ok\\nauth failed for " + os.environ["AGENT_TOKEN"] + "\\n")
sys.exit(3)
"""


def test_handlers_never_hand_the_executor_key_or_unnamed_variables_to_the_buyer(
    start_executor: Callable[..., Any],
    buyer: Client,
    live_api: Any,
    write_manifest: Callable[[str], Path],
    write_script: Callable[[str, str], Path],
    tmp_path: Path,
) -> None:
    leaky = write_script("leaky", LEAKY)
    failing = write_script("failing", FAILING)
    secrets = 'secrets = ["AGENT_TOKEN"]'
    manifest = write_manifest(
        '[[agents]]\nid = "env-dump"\nname = "Env dump"\n'
        'handler = { type = "command", argv = ["env"], env = { LITERAL_VAR = "literal-value" }, '
        f'pass_env = ["PASSED_VAR"], {secrets} }}\n'
        '[[agents]]\nid = "leaky"\nname = "Leaky"\n'
        f'handler = {{ type = "command", argv = ["{leaky}"], {secrets} }}\n'
        '[[agents]]\nid = "failing"\nname = "Failing"\n'
        f'handler = {{ type = "command", argv = ["{failing}"], {secrets}, stderr_file = false }}\n'
    )
    executor_key = live_api.executor_key
    executor = start_executor(
        "run",
        str(manifest),
        env={
            "AGNT_API_URL": live_api.url,
            "AGNT_API_KEY": executor_key + "\n",
            "UNLISTED_VAR": "unlisted-value",
            "PASSED_VAR": "passed-value",
            "AGENT_TOKEN": TOKEN,
        },
    )
    dump = buyer.create_job("env-dump", "show me")
    leak = buyer.create_job("leaky", "leak it")
    fail = buyer.create_job("failing", "fail")

    for job in (dump, leak):
        done = buyer.wait_for_job(job.id, timeout=60)
        assert done.status is JobStatus.COMPLETED, done.decision_reason
    dump_dir, leak_dir = tmp_path / "dump", tmp_path / "leak"
    buyer.download_result(dump.id, dump_dir)
    buyer.download_result(leak.id, leak_dir)

    printed = (dump_dir / "stdout.txt").read_text()
    variables = dict(line.split("=", 1) for line in printed.splitlines() if "=" in line)
    assert variables["PASSED_VAR"] == "passed-value"
    assert variables["LITERAL_VAR"] == "literal-value"
    assert variables["AGENT_TOKEN"] == "***"
    assert variables["AGNT_JOB_ID"] == str(dump.id)
    assert not {"AGNT_API_KEY", "AGNT_API_URL", "UNLISTED_VAR"} & set(variables)

    names = sorted(p.name for p in leak_dir.iterdir())
    assert "leak-masked.txt" in names and "stderr.txt" in names
    assert (leak_dir / "leak-masked.txt").read_text() == "the token is ***\n" * 3
    assert (leak_dir / "stderr.txt").read_text() == "debug: token=***\n"
    # A handler reading its parent's environment block: on Linux the parent is the handler
    # supervisor, whose environment is the handler's own (no key); elsewhere the executor,
    # which is non-dumpable unless we run as root, and even then holds the key only as ***.
    parent = (leak_dir / "parent-environ.txt").read_text()
    assert parent == "unreadable" or "AGNT_API_KEY=" not in parent or "AGNT_API_KEY=***" in parent
    assert live_api.executor_key not in parent

    failed = buyer.wait_for_job(fail.id, timeout=60)
    assert failed.status is JobStatus.FAILED
    assert failed.decision_reason == "command exited with status 3: step 1 ok\nauth failed for ***"
    assert buyer.get_job(fail.id).decision_reason == failed.decision_reason

    for path in (*dump_dir.iterdir(), *leak_dir.iterdir()):
        text = path.read_bytes()
        assert executor_key.encode() not in text
        assert TOKEN.encode() not in text
        if path.name != "parent-environ.txt":
            assert b"unlisted-value" not in text
    executor.wait_for_event("job_failed", job_id=str(fail.id))
    log = executor.log_path.read_text()
    assert executor_key not in log and TOKEN not in log


def test_a_manifest_passing_the_executor_key_is_refused_before_any_job(
    start_executor: Callable[..., Any], write_manifest: Callable[[str], Path]
) -> None:
    manifest = write_manifest(
        '[[agents]]\nid = "greedy"\nname = "Greedy"\n'
        'handler = { type = "command", argv = ["env"], pass_env = ["AGNT_API_KEY"] }\n'
    )
    executor = start_executor(
        "run",
        str(manifest),
        env={"AGNT_API_URL": "http://127.0.0.1:9", "AGNT_API_KEY": "k"},
        ready=False,
    )
    assert executor.wait() == 2
    (event,) = executor.events("manifest_invalid")
    assert "pass_env names AGNT_API_KEY: the executor's API key never reaches" in event["error"]
