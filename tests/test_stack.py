"""The native production topology end to end: ``scripts/stack`` starts Postgres, the S3
server, migrations, two API replicas and a demo executor; a job ordered through replica A
is claimed by the executor long-polling replica B, completes with files in S3, and
downloads through A with presigned URLs.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest

from agnt_client import Client

# The first test also pays for starting the stack (about a minute on two busy cores).
pytestmark = [pytest.mark.slow, pytest.mark.timeout(480)]

ROOT = Path(__file__).resolve().parents[1]
STACK = ROOT / "scripts" / "stack"


def run_stack(command: str, stack_dir: Path, timeout: float) -> subprocess.CompletedProcess[str]:
    """``scripts/stack <command>``, output kept in a file (daemons must not hold our pipes)."""
    log = stack_dir / f"stack-{command}.out"
    with log.open("w") as out:
        completed = subprocess.run(
            [str(STACK), command],
            env={**os.environ, "AGNT_STACK_DIR": str(stack_dir)},
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            timeout=timeout,
            check=False,
        )
    return subprocess.CompletedProcess(completed.args, completed.returncode, log.read_text())


def log_tails(stack_dir: Path) -> str:
    """The end of every log of the stack, for a failure message."""
    return "\n".join(
        f"--- {log.name}\n{log.read_text(errors='replace')[-2000:]}"
        for log in sorted(stack_dir.glob("*.log"))
    )


@pytest.fixture(scope="module")
def stack() -> Iterator[dict[str, Any]]:
    """A running stack in a directory of its own; its ``env`` values plus the directory."""
    if not list(Path("/usr/lib/postgresql").glob("*/bin/initdb")) and not os.environ.get("CI"):
        pytest.skip("PostgreSQL server binaries are not installed (apt-get install postgresql)")
    # Not pytest's tmp_path: that is private to root, and the Postgres server runs as postgres.
    stack_dir = Path(tempfile.mkdtemp(prefix="agnt-stack-test-"))
    stack_dir.chmod(0o755)
    try:
        started = run_stack("start", stack_dir, timeout=300)
        assert started.returncode == 0, f"{started.stdout}\n{log_tails(stack_dir)}"
        exported = run_stack("env", stack_dir, timeout=30)
        assert exported.returncode == 0, exported.stdout
        values: dict[str, Any] = dict(
            line.removeprefix("export ").split("=", 1) for line in exported.stdout.splitlines()
        )
        values["dir"] = stack_dir
        yield values
    finally:
        pids = [int(p.read_text()) for p in stack_dir.glob("*.pid")]
        stopped = run_stack("stop", stack_dir, timeout=120)
        alive = [pid for pid in pids if _alive(pid)]
        shutil.rmtree(stack_dir, ignore_errors=True)
        assert stopped.returncode == 0, stopped.stdout
        assert not alive, f"scripts/stack stop left processes running: {alive}"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def access_log(stack: dict[str, Any], replica: str) -> str:
    return (stack["dir"] / f"api-{replica}.log").read_text(errors="replace")


def test_job_ordered_on_replica_a_runs_via_replica_b_and_downloads_from_s3(
    stack: dict[str, Any], tmp_path: Path
) -> None:
    prompt = f"the stack runs the stack {uuid.uuid4().hex}"
    with Client(stack["AGNT_API_URL"], stack["AGNT_API_KEY"]) as buyer_on_a:
        job = buyer_on_a.create_job("demo-wordcount", prompt, {"top": 3})
        done = buyer_on_a.wait_for_job(job.id, timeout=90)
        assert done.status == "completed", done
        result = buyer_on_a.get_result(job.id)
        downloaded = buyer_on_a.download_result(job.id, tmp_path)

    # The files sit in the bucket under the job's id, and the result hands out presigned
    # S3 URLs, not API URLs: a plain GET without a key fetches them.
    endpoint = stack["AGNT_STACK_S3_ENDPOINT"]
    assert {f.name for f in result.files} == {"report.json", "report.md"}
    for file in result.files:
        assert file.download_url.startswith(f"{endpoint}/{stack['AGNT_STACK_BUCKET']}/")
        assert "X-Amz-Signature=" in file.download_url
        assert httpx.get(file.download_url).status_code == 200
    s3 = boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=stack["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=stack["AWS_SECRET_ACCESS_KEY"],
        region_name=stack["AWS_DEFAULT_REGION"],
    )
    listed = s3.list_objects_v2(Bucket=stack["AGNT_STACK_BUCKET"], Prefix="results/jobs/")
    assert sum(str(job.id) in o["Key"] for o in listed["Contents"]) == 2

    by_name = {d.name: d for d in downloaded}
    assert {f.name: f.sha256 for f in result.files} == {n: d.sha256 for n, d in by_name.items()}
    report = json.loads(by_name["report.json"].path.read_text())
    assert report["words"] == len(prompt.split())

    # Replica B served the executor (claim, status, upload), replica A the buyer.
    assert f"POST /v1/executor/jobs/{job.id}/complete" in access_log(stack, "b")
    assert "/v1/executor/" not in access_log(stack, "a")
    assert "POST /v1/jobs " in access_log(stack, "a")


def test_both_replicas_see_the_same_jobs(stack: dict[str, Any]) -> None:
    with (
        Client(stack["AGNT_API_URL"], stack["AGNT_API_KEY"]) as on_a,
        Client(stack["AGNT_STACK_API_B_URL"], stack["AGNT_API_KEY"]) as on_b,
    ):
        job = on_a.create_job("demo-echo", "seen from both", {"uppercase": False})
        done = on_b.wait_for_job(job.id, timeout=60)
        assert done.status == "completed"
        assert on_a.get_job(job.id).status == "completed"
        assert on_b.get_result(job.id).files[0].sha256 == on_a.get_result(job.id).files[0].sha256


def test_stack_status_reports_every_part(stack: dict[str, Any]) -> None:
    status = run_stack("status", stack["dir"], timeout=30)
    assert status.returncode == 0, status.stdout
    for part in ("api-a: running", "api-b: running", "executor: running", "s3: running"):
        assert part in status.stdout
    assert "replica A ready" in status.stdout and "replica B ready" in status.stdout
