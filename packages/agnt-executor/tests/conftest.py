"""Fixtures of the executor tests: jobs and job contexts built in memory, fake binaries."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from agnt_client import Client
from agnt_executor.handlers import JobContext
from agnt_models import Job, JobStatus


@pytest.fixture
def make_job() -> Callable[..., Job]:
    """Factory of a ``Job`` as the API would send it (pending unless told otherwise)."""

    def make(
        prompt: str = "hello world",
        params: dict[str, Any] | None = None,
        agent_id: str = "test-agent",
        status: JobStatus = JobStatus.PENDING,
    ) -> Job:
        now = datetime.now(UTC)
        return Job(
            id=uuid.uuid4(),
            agent_id=agent_id,
            buyer_id=uuid.uuid4(),
            prompt=prompt,
            params=params or {},
            status=status,
            created_at=now,
            updated_at=now,
        )

    return make


@pytest.fixture
def make_context(tmp_path: Path, make_job: Callable[..., Job]) -> Callable[..., JobContext]:
    """Factory of a ``JobContext`` with a fresh work and output dir (call it inside a test)."""

    def make(job: Job | None = None, **job_fields: Any) -> JobContext:
        job = job or make_job(**job_fields)
        work_dir = tmp_path / f"work-{job.id}"
        output_dir = work_dir / "output"
        output_dir.mkdir(parents=True)
        return JobContext(job=job, work_dir=work_dir, output_dir=output_dir)

    return make


@pytest.fixture
def write_script(tmp_path: Path) -> Callable[[str, str], Path]:
    """Write an executable Python script ``name`` with ``body`` into a bin dir; returns it."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)

    def write(name: str, body: str) -> Path:
        path = bin_dir / name
        path.write_text(f"#!{sys.executable}\n{body}")
        path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
        return path

    return write


@pytest.fixture
def fake_bin_on_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, write_script: Callable[[str, str], Path]
) -> Callable[[str, str], Path]:
    """Like ``write_script``, with the bin dir first on PATH (for fakes of outside binaries)."""
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    return write_script


class ExecutorProcess:
    """A real ``python -m agnt_executor`` process; its JSON-line log goes to a file."""

    def __init__(self, args: list[str], env: dict[str, str], log_path: Path) -> None:
        self.log_path = log_path
        with log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "agnt_executor", *args],
                env=env,
                stdout=subprocess.PIPE,
                stderr=log,
            )

    def events(self, event: str | None = None) -> list[dict[str, Any]]:
        """Parsed log lines so far (only ``event`` ones, when given)."""
        if not self.log_path.exists():
            return []
        lines = [json.loads(line) for line in self.log_path.read_text().splitlines() if line]
        return [line for line in lines if event is None or line["event"] == event]

    def wait_for_event(self, event: str, timeout: float = 30.0, **fields: Any) -> dict[str, Any]:
        """Block until a log line with ``event`` (and matching ``fields``) appears."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in self.events(event):
                if all(line.get(k) == v for k, v in fields.items()):
                    return line
            if self.process.poll() is not None:
                break
            time.sleep(0.05)
        raise AssertionError(f"no {event} {fields} in the executor log:\n{self.log_tail()}")

    def signal(self, signum: int) -> None:
        """Send ``signum`` to the executor."""
        self.process.send_signal(signum)

    def wait(self, timeout: float = 30.0) -> int:
        """Wait for the executor to exit; its exit code."""
        return self.process.wait(timeout=timeout)

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it does not exit in 15 s."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        if self.process.stdout is not None:
            self.process.stdout.close()

    def log_tail(self, lines: int = 40) -> str:
        """The end of the executor's log."""
        if not self.log_path.exists():
            return "(no log)"
        return "\n".join(self.log_path.read_text().splitlines()[-lines:])


@pytest.fixture
def executor_env(live_api: Any) -> dict[str, str]:
    """Environment of an executor process: the live API's URL and its executor key."""
    return {**os.environ, "AGNT_API_URL": live_api.url, "AGNT_API_KEY": live_api.executor_key}


@pytest.fixture
def start_executor(
    tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[Callable[..., ExecutorProcess]]:
    """Factory: ``start_executor("run", str(manifest), ..., env={...})`` -> a running executor.

    Without ``AGNT_API_URL`` in ``env`` it serves the ``live_api`` fixture (started only
    then, so a test with its own API does not pay for a second one). A ``run`` executor is
    returned once it has published its agents and polls for jobs. Every executor started
    is stopped at teardown.
    """
    started: list[ExecutorProcess] = []

    def start(*args: str, env: dict[str, str] | None = None, ready: bool = True) -> ExecutorProcess:
        env = dict(env or {})
        if "AGNT_API_URL" not in env:
            env = {**request.getfixturevalue("executor_env"), **env}
        log_path = tmp_path / f"executor{len(started)}.log"
        process = ExecutorProcess(list(args), {**os.environ, **env}, log_path)
        started.append(process)
        if ready and args[0] == "run":
            process.wait_for_event("executor_ready", timeout=60)
        return process

    yield start
    for process in started:
        process.stop()


@pytest.fixture
def buyer(live_api: Any) -> Iterator[Client]:
    """A synchronous client with the live API's buyer key."""
    with Client(base_url=live_api.url, api_key=live_api.buyer_key) as client:
        yield client


@pytest.fixture
def write_manifest(tmp_path: Path) -> Callable[[str], Path]:
    """Write manifest TOML into the test's tmp dir; returns its path."""

    def write(text: str) -> Path:
        path = tmp_path / f"manifest-{uuid.uuid4().hex[:8]}.toml"
        path.write_text(text)
        return path

    return write


def wait_until(predicate: Callable[[], bool], timeout: float = 30.0, what: str = "") -> None:
    """Poll ``predicate`` until true; fail with ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what or predicate}")


@pytest.fixture
def until() -> Callable[..., None]:
    """``until(predicate, timeout=30, what="...")``: poll until the predicate holds."""
    return wait_until
