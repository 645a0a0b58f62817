"""``agnt-executor publish`` and ``agnt-handoff`` against a live API: one exit code per outcome."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from agnt_client import Client
from agnt_executor.demo import manifest_path
from agnt_models import AgentPublish, JobStatus

pytestmark = pytest.mark.slow

BIN = Path(sys.executable).parent


def run(command: str, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / command), *args], env=env, capture_output=True, text=True, timeout=120
    )


def test_publish_is_idempotent_and_refuses_another_owners_id(
    live_api: Any, executor_env: dict[str, str], buyer: Client
) -> None:
    for _ in range(2):
        done = run("agnt-executor", "publish", str(manifest_path()), env=executor_env)
        assert done.returncode == 0, done.stderr
        assert [a["id"] for a in json.loads(done.stdout)] == [
            "demo-echo",
            "demo-wordcount",
            "demo-slow",
        ]
    assert buyer.get_agent("demo-echo").tags == ["demo", "text", "offline"]

    other = {**executor_env, "AGNT_API_KEY": live_api.create_key("executor", "rival")}
    done = run("agnt-executor", "publish", str(manifest_path()), env=other)
    assert done.returncode == 1
    assert "agent_owned_by_other" in done.stderr


def test_a_refused_key_exits_1(executor_env: dict[str, str]) -> None:
    bogus = {**executor_env, "AGNT_API_KEY": "agnt_not_a_real_key"}
    done = run("agnt-executor", "run", str(manifest_path()), env=bogus)
    assert done.returncode == 1
    assert "invalid_api_key" in done.stderr
    done = run("agnt-handoff", str(uuid.uuid4()), "--manifest", str(manifest_path()), env=bogus)
    assert (done.returncode, json.loads(done.stdout)["outcome"]) == (1, "api_error")


def test_handoff_exit_code_tells_the_outcome(
    executor_env: dict[str, str],
    buyer: Client,
    write_manifest: Callable[[str], Path],
    write_script: Callable[[str, str], Path],
) -> None:
    broken = write_script("broken", "import sys\nsys.stderr.write('out of paper')\nsys.exit(1)\n")
    demo = manifest_path().read_text()
    manifest = write_manifest(
        demo + f'\n[[agents]]\nid = "broken-agent"\nname = "Broken"\n'
        f'handler = {{ type = "command", argv = ["{broken}"] }}\n'
    )
    assert run("agnt-executor", "publish", str(manifest), env=executor_env).returncode == 0

    def handoff(job_id: object) -> tuple[int, dict[str, Any]]:
        done = run("agnt-handoff", str(job_id), "--manifest", str(manifest), env=executor_env)
        return done.returncode, json.loads(done.stdout)

    echo = buyer.create_job("demo-echo", "handed off")
    assert handoff(echo.id) == (0, {"job_id": str(echo.id), "outcome": "completed", "exit_code": 0})
    assert buyer.get_job(echo.id).status is JobStatus.COMPLETED

    # The API refuses what the published rules forbid; an agent published without them (an
    # older executor) lets the order through, and the handoff rejects it by its policy.
    with Client(executor_env["AGNT_API_URL"], executor_env["AGNT_API_KEY"]) as owner:
        loose = owner.get_agent("demo-echo")
        owner.publish_agent(
            "demo-echo",
            AgentPublish.model_validate(
                loose.model_dump(include=set(AgentPublish.model_fields) - {"accept_rules"})
            ),
        )
    too_long = buyer.create_job("demo-echo", "x" * 20_001)
    assert handoff(too_long.id)[0] == 3
    assert (
        buyer.get_job(too_long.id).decision_reason
        == "the prompt is 20001 bytes; this agent accepts at most 20000"
    )

    failing = buyer.create_job("broken-agent", "print it")
    assert handoff(failing.id)[0] == 4
    failed = buyer.get_job(failing.id)
    assert failed.status is JobStatus.FAILED
    assert failed.decision_reason == "command exited with status 1: out of paper"

    missing = uuid.uuid4()
    assert handoff(missing) == (5, {"job_id": str(missing), "outcome": "not_found", "exit_code": 5})

    code, outcome = handoff(echo.id)
    assert (code, outcome["outcome"]) == (6, "not_claimable")
    canceled = buyer.create_job("demo-echo", "never mind")
    buyer.cancel_job(canceled.id)
    assert handoff(canceled.id)[0] == 6
    assert buyer.get_job(canceled.id).status is JobStatus.CANCELED


def test_handoff_exits_7_on_buyer_cancel_and_4_on_sigterm(
    executor_env: dict[str, str],
    buyer: Client,
    write_manifest: Callable[[str], Path],
    until: Callable[..., None],
) -> None:
    # Renew every second (a third of 3 s), so a cancel is noticed at once.
    manifest = write_manifest(
        manifest_path().read_text().replace("[executor]", "[executor]\nlease_seconds = 3", 1)
    )
    assert run("agnt-executor", "publish", str(manifest), env=executor_env).returncode == 0

    def start_handoff(job_id: object) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [str(BIN / "agnt-handoff"), str(job_id), "--manifest", str(manifest)],
            env=executor_env,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )

    def running(job_id: object) -> bool:
        return buyer.get_job(job_id).status is JobStatus.RUNNING  # type: ignore[arg-type]

    canceled = buyer.create_job("demo-slow", "cancel me", params={"seconds": 60})
    handoff = start_handoff(canceled.id)
    until(lambda: running(canceled.id), what="the handed-off job to run")
    buyer.cancel_job(canceled.id)
    assert handoff.wait(timeout=60) == 7
    assert json.loads(handoff.communicate()[0])["outcome"] == "gone"

    stopped = buyer.create_job("demo-slow", "stop me", params={"seconds": 60})
    handoff = start_handoff(stopped.id)
    until(lambda: running(stopped.id), what="the handed-off job to run")
    handoff.send_signal(signal.SIGTERM)
    assert handoff.wait(timeout=60) == 8
    assert json.loads(handoff.communicate()[0])["outcome"] == "released"
    job = buyer.get_job(stopped.id)
    assert (job.status, job.attempt) == (JobStatus.PENDING, 2)
    assert job.decision_reason == "executor_shutdown"
