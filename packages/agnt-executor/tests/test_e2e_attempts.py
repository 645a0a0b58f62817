"""End to end: deadlines, retries on a lost executor, handlers that die with the executor.

Real processes: ``agnt-server serve`` (SQLite and files; Postgres and S3 where marked),
``agnt-executor run`` and a command handler script that records its pid and its SIGTERM.
"""

from __future__ import annotations

import os
import signal
import tempfile
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from agnt_client import Client, UnprocessableEntityError
from agnt_models import Job, JobStatus

pytestmark = pytest.mark.slow

WriteScript = Callable[[str, str], Path]
WriteManifest = Callable[[str], Path]

REAPER_SECONDS = 0.5
LEASE_SECONDS = 3
API_ENV = {
    "AGNT_LEASE_SECONDS": str(LEASE_SECONDS),
    "AGNT_REAPER_INTERVAL_SECONDS": str(REAPER_SECONDS),
}

SLEEPER = """
import json, os, signal, sys, time
marks = {marks!r}
job = os.environ["AGNT_JOB_ID"]
stem = os.path.join(marks, f"{{job}}.{{os.getpid()}}")
open(stem + ".pid", "w").write(str(os.getpid()))
def on_term(signum, frame):
    open(stem + ".sigterm", "w").write("1")
    sys.exit(143)
signal.signal(signal.SIGTERM, on_term)
seconds = float(json.loads(os.environ["AGNT_PARAMS_JSON"]).get("seconds", 10))
end = time.time() + seconds
while time.time() < end:
    time.sleep(0.02)
open(os.path.join(os.environ["AGNT_OUTPUT_DIR"], "done.txt"), "w").write(job)
"""


def alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] != "Z"
    except FileNotFoundError:
        return False


class Sleeper:
    """A manifest whose agent ``sleeper`` runs the SLEEPER script; marks land in a dir."""

    def __init__(
        self, tmp_path: Path, write_script: WriteScript, write_manifest: WriteManifest, extra: str
    ) -> None:
        self.marks = tmp_path / "marks"
        self.marks.mkdir()
        script = write_script("sleeper", SLEEPER.format(marks=str(self.marks)))
        self.manifest = write_manifest(
            f'[[agents]]\nid = "sleeper"\nname = "Sleeper"\n{extra}'
            f'handler = {{ type = "command", argv = ["{script}"], kill_grace_seconds = 2 }}\n'
        )

    def pids(self, job: Job) -> list[int]:
        """Pids of the handler runs of ``job`` so far, in start order."""
        found = sorted(self.marks.glob(f"{job.id}.*.pid"), key=lambda p: p.stat().st_mtime)
        return [int(path.read_text()) for path in found if path.read_text()]

    def sigtermed(self, job: Job, pid: int) -> bool:
        """Whether the handler run ``pid`` of ``job`` got SIGTERM."""
        return (self.marks / f"{job.id}.{pid}.sigterm").exists()


@pytest.fixture
def sleeper(
    tmp_path: Path, write_script: WriteScript, write_manifest: WriteManifest
) -> Callable[..., Sleeper]:
    """Factory: ``sleeper(extra_toml_lines)`` -> a ``Sleeper`` manifest."""
    return lambda extra="": Sleeper(tmp_path, write_script, write_manifest, extra)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=[pytest.mark.postgres])])
def api(request: pytest.FixtureRequest, live_api_factory: Callable[..., Any]) -> Any:
    """A live API with 3-second leases and a reaper twice a second: SQLite and files, or
    Postgres and S3."""
    if request.param == "sqlite":
        return live_api_factory(env=API_ENV)
    make_database: Callable[[], str] = request.getfixturevalue("make_postgres_database")
    bucket: str = request.getfixturevalue("s3_bucket")
    endpoint: str = request.getfixturevalue("s3_endpoint")
    return live_api_factory(
        database_url=make_database(),
        storage_url=f"s3://{bucket}/results",
        env={**API_ENV, "AGNT_S3_ENDPOINT_URL": endpoint},
    )


def serve(api: Any, start_executor: Callable[..., Any], manifest: Path, *args: str) -> Any:
    env = {"AGNT_API_URL": api.url, "AGNT_API_KEY": api.executor_key}
    return start_executor("run", str(manifest), *args, env=env)


def test_deadline_ends_a_running_job_and_sigterms_its_handler(
    api: Any,
    start_executor: Callable[..., Any],
    sleeper: Callable[..., Sleeper],
    until: Callable[..., None],
) -> None:
    agent = sleeper()
    executor = serve(api, start_executor, agent.manifest)
    with Client(base_url=api.url, api_key=api.buyer_key) as buyer:
        job = buyer.create_job("sleeper", "slow", params={"seconds": 10}, timeout_seconds=2)
        assert job.deadline_at is not None
        done = buyer.wait_for_job(job.id, timeout=30)
        assert (done.status, done.decision_reason) == (JobStatus.FAILED, "deadline_exceeded")
        assert done.completed_at is not None
        # The reaper ends it within two of its periods after the deadline.
        assert done.completed_at - job.deadline_at <= timedelta(seconds=2 * REAPER_SECONDS)
        executor.wait_for_event("job_gone", job_id=str(job.id), timeout=10)
        (pid,) = agent.pids(job)
        until(lambda: agent.sigtermed(job, pid), timeout=10, what="the handler's SIGTERM")
        until(lambda: not alive(pid), timeout=10, what="the handler to end")
        kinds = [event.kind.value for event in buyer.events(job.id).items]
    assert kinds[-1] == "failed"


def test_killed_executor_job_completes_on_another_and_its_handler_dies(
    api: Any,
    start_executor: Callable[..., Any],
    sleeper: Callable[..., Sleeper],
    until: Callable[..., None],
) -> None:
    agent = sleeper()
    first = serve(api, start_executor, agent.manifest)
    with Client(base_url=api.url, api_key=api.buyer_key) as buyer:
        job = buyer.create_job("sleeper", "survive", params={"seconds": 4})
        first.wait_for_event("job_running", job_id=str(job.id))
        until(lambda: bool(agent.pids(job)), what="the first handler to start")
        (doomed,) = agent.pids(job)
        work_dirs = list(Path(tempfile.gettempdir()).glob(f"agnt-job-{job.id}-*"))
        assert work_dirs
        first.signal(signal.SIGKILL)
        first.wait(timeout=10)
        # Orphan-free: the supervisor ends the handler (SIGTERM first) and its work dir.
        until(lambda: not alive(doomed), timeout=3, what="the orphaned handler to die")
        assert agent.sigtermed(job, doomed)
        until(lambda: not any(d.exists() for d in work_dirs), timeout=3, what="work dir gone")

        serve(api, start_executor, agent.manifest)
        done = buyer.wait_for_job(job.id, timeout=60)
        assert done.status is JobStatus.COMPLETED, done.decision_reason
        assert done.attempt == 2
        assert len(agent.pids(job)) == 2
        events = [(e.kind.value, e.data) for e in buyer.events(job.id).items]
    assert ("requeued", {"status": "pending", "reason": "lease_expired", "attempt": 2}) in events


def test_sigterm_gives_the_unfinished_job_to_another_executor(
    api: Any,
    start_executor: Callable[..., Any],
    sleeper: Callable[..., Sleeper],
) -> None:
    agent = sleeper()
    leaving = serve(api, start_executor, agent.manifest, "--shutdown-grace", "0.5")
    with Client(base_url=api.url, api_key=api.buyer_key) as buyer:
        job = buyer.create_job("sleeper", "hand over", params={"seconds": 3})
        leaving.wait_for_event("job_running", job_id=str(job.id))
        leaving.signal(signal.SIGTERM)
        assert leaving.wait(timeout=30) == 0
        leaving.wait_for_event("job_released", job_id=str(job.id))
        released = buyer.get_job(job.id)
        assert (released.status, released.attempt) == (JobStatus.PENDING, 2)
        assert released.decision_reason == "executor_shutdown"
        serve(api, start_executor, agent.manifest)
        done = buyer.wait_for_job(job.id, timeout=60)
        kinds = [event.kind.value for event in buyer.events(job.id).items]
    assert done.status is JobStatus.COMPLETED, done.decision_reason
    assert done.attempt == 2
    # Released, not lost: no lease had to run out first.
    assert "lease_expired" not in kinds
    assert kinds.count("requeued") == 1


def test_a_job_that_uses_its_last_attempt_fails_with_the_last_reason(
    api: Any,
    start_executor: Callable[..., Any],
    sleeper: Callable[..., Sleeper],
) -> None:
    agent = sleeper("max_attempts = 2\n")
    first = serve(api, start_executor, agent.manifest, "--shutdown-grace", "0")
    with Client(base_url=api.url, api_key=api.buyer_key) as buyer:
        job = buyer.create_job("sleeper", "unlucky", params={"seconds": 30})
        first.wait_for_event("job_running", job_id=str(job.id))
        first.signal(signal.SIGKILL)
        second = serve(api, start_executor, agent.manifest, "--shutdown-grace", "0")
        second.wait_for_event("job_running", job_id=str(job.id), timeout=60)
        second.signal(signal.SIGTERM)
        assert second.wait(timeout=30) == 0
        done = buyer.get_job(job.id)
    assert (done.status, done.attempt, done.max_attempts) == (JobStatus.FAILED, 2, 2)
    assert done.decision_reason == "executor_shutdown"


def test_a_timeout_above_the_agents_maximum_is_refused(
    api: Any, start_executor: Callable[..., Any], sleeper: Callable[..., Sleeper]
) -> None:
    agent = sleeper("timeout_seconds = { default = 5, max = 60 }\n")
    serve(api, start_executor, agent.manifest)
    with Client(base_url=api.url, api_key=api.buyer_key) as buyer:
        with pytest.raises(UnprocessableEntityError) as refused:
            buyer.create_job("sleeper", "too long", timeout_seconds=61)
        assert refused.value.code == "validation_error"
        defaulted = buyer.create_job("sleeper", "default", params={"seconds": 0.1})
    assert defaulted.deadline_at is not None
    assert defaulted.deadline_at - defaulted.created_at == timedelta(seconds=5)
