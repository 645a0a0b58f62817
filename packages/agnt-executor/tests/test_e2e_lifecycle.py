"""End to end with a real API and a real executor process: the demo agents' lifecycle."""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from agnt_client import Client
from agnt_executor.demo import manifest_path
from agnt_executor.manifest import load_manifest
from agnt_models import JobStatus

pytestmark = pytest.mark.slow


def test_demo_agents_complete_with_their_files(
    start_executor: Callable[..., Any], buyer: Client, tmp_path: Path
) -> None:
    executor = start_executor("run", str(manifest_path()))
    assert buyer.get_agent("demo-wordcount").name == "Word count report (demo)"

    echo = buyer.create_job("demo-echo", "hello there")
    words = buyer.create_job("demo-wordcount", "a b a", params={"top": 1})
    slow = buyer.create_job("demo-slow", "big", params={"seconds": 2, "size_kb": 2048})

    done = buyer.wait_for_job(echo.id, timeout=30)
    assert done.status is JobStatus.COMPLETED
    assert done.started_at is not None and done.duration_seconds is not None
    files = buyer.download_result(echo.id, tmp_path / "echo")
    assert [f.name for f in files] == ["echo.txt"]
    assert (tmp_path / "echo" / "echo.txt").read_text() == "HELLO THERE\n"

    assert buyer.wait_for_job(words.id, timeout=30).status is JobStatus.COMPLETED
    names = sorted(f.name for f in buyer.get_result(words.id).files)
    assert names == ["report.json", "report.md"]

    progress_seen = set()
    job = buyer.get_job(slow.id)
    while job.status not in {JobStatus.COMPLETED, JobStatus.FAILED}:
        progress_seen.add(job.progress)
        job = buyer.get_job(slow.id, wait=5)
    assert job.status is JobStatus.COMPLETED, job.decision_reason
    assert any(0 < p < 100 for p in progress_seen), progress_seen
    payload = next(f for f in buyer.get_result(slow.id).files if f.name == "payload.bin")
    expected = random.Random(str(slow.id)).randbytes(2048 * 1024)
    assert payload.size == len(expected)
    assert payload.sha256 == hashlib.sha256(expected).hexdigest()
    executor.wait_for_event("job_completed", job_id=str(slow.id))


def test_rejected_jobs_carry_the_policy_reason(
    start_executor: Callable[..., Any], buyer: Client, live_api: Any
) -> None:
    # Published without accept rules (as an older executor would), so the API queues
    # what the executor's policy then rejects.
    with Client(base_url=live_api.url, api_key=live_api.executor_key) as owner:
        for served in load_manifest(manifest_path()).agents.values():
            body = served.spec.publish_body().model_copy(update={"accept_rules": None})
            owner.publish_agent(served.id, body)
    too_long = buyer.create_job("demo-echo", "x" * 20_001)
    empty = buyer.create_job("demo-echo", "   ")
    start_executor("run", str(manifest_path()), "--no-publish")
    for job_id, reason in [
        (too_long.id, "the prompt is 20001 bytes; this agent accepts at most 20000"),
        (empty.id, "the prompt is empty"),
    ]:
        job = buyer.wait_for_job(job_id, timeout=30)
        assert job.status is JobStatus.REJECTED
        assert job.decision_reason == reason


def test_handler_failure_fails_the_job_with_its_message(
    start_executor: Callable[..., Any],
    buyer: Client,
    write_manifest: Callable[[str], Path],
    write_script: Callable[[str, str], Path],
) -> None:
    script = write_script(
        "broken", "import sys\nsys.stderr.write('cannot parse the recipe')\nsys.exit(4)\n"
    )
    manifest = write_manifest(
        f'[[agents]]\nid = "broken-agent"\nname = "Broken"\n'
        f'handler = {{ type = "command", argv = ["{script}"] }}\n'
    )
    start_executor("run", str(manifest))
    job = buyer.wait_for_job(buyer.create_job("broken-agent", "soup").id, timeout=30)
    assert job.status is JobStatus.FAILED
    assert job.decision_reason == "command exited with status 4: cannot parse the recipe"


def test_a_handler_output_with_a_non_portable_name_fails_the_job_naming_it(
    start_executor: Callable[..., Any],
    buyer: Client,
    write_manifest: Callable[[str], Path],
    write_script: Callable[[str, str], Path],
) -> None:
    script = write_script(
        "devices",
        "import os, pathlib\nout = pathlib.Path(os.environ['AGNT_OUTPUT_DIR'])\n"
        "(out / 'report.md').write_text('fine')\n(out / 'con.txt').write_text('a device')\n",
    )
    manifest = write_manifest(
        f'[[agents]]\nid = "device-agent"\nname = "Device"\n'
        f'handler = {{ type = "command", argv = ["{script}"] }}\n'
    )
    start_executor("run", str(manifest))
    job = buyer.wait_for_job(buyer.create_job("device-agent", "go").id, timeout=30)
    assert job.status is JobStatus.FAILED
    assert job.decision_reason is not None
    assert "'con.txt'" in job.decision_reason
    assert "reserved device name" in job.decision_reason
