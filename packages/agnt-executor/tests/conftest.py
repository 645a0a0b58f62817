"""Fixtures of the executor tests: jobs and job contexts built in memory, fake binaries."""

from __future__ import annotations

import os
import stat
import sys
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

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
