"""Pieces of the runtime that need no API: reasons, result names, log lines, leases."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from agnt_client import AsyncClient
from agnt_executor.demo import manifest_path
from agnt_executor.job_run import MIN_HEARTBEAT_SECONDS, JobRun, fit_reason, result_files
from agnt_executor.logs import JsonLineFormatter
from agnt_executor.manifest import ExecutorSettings, load_manifest
from agnt_executor.orphans import MIN_CONFIRM_SECONDS, confirm_seconds
from agnt_models import Job, JobStatus
from agnt_models.common import MAX_REASON_CHARS


def test_short_reason_is_kept_and_blank_gets_a_placeholder() -> None:
    assert fit_reason("  disk full \n") == "disk full"
    assert fit_reason("") == "unknown error"


def test_long_reason_keeps_its_start_and_end_within_the_limit() -> None:
    reason = fit_reason("START" + "x" * 10_000 + "THE REAL ERROR")
    assert len(reason) <= MAX_REASON_CHARS
    assert reason.startswith("START")
    assert reason.endswith("THE REAL ERROR")
    assert " ... " in reason


def test_result_files_flatten_subdirectories(tmp_path: Path) -> None:
    (tmp_path / "charts").mkdir()
    (tmp_path / "charts" / "a.png").write_bytes(b"png")
    (tmp_path / "report.md").write_text("# r")
    (tmp_path / "empty-dir").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "report.md")
    assert result_files(tmp_path) == [
        ("charts__a.png", tmp_path / "charts" / "a.png"),
        ("report.md", tmp_path / "report.md"),
    ]


@pytest.mark.parametrize(
    ("names", "bad"),
    [
        (["CON"], "'CON'"),
        (["ok.txt", "a.txt:stream"], "'a.txt:stream'"),
        (["A.txt", "a.txt"], "'a.txt'"),
    ],
)
def test_result_files_refuses_names_that_are_not_portable(
    tmp_path: Path, names: list[str], bad: str
) -> None:
    for name in names:
        (tmp_path / name).write_text("x")
    with pytest.raises(ValueError, match=bad):
        result_files(tmp_path)


def test_log_line_is_one_json_object_with_the_event_fields() -> None:
    record = logging.LogRecord(
        "agnt_executor", logging.WARNING, __file__, 1, "api_retry", None, None
    )
    record.fields = {"job_id": "j1", "attempt": 2}
    line = JsonLineFormatter().format(record)
    assert "\n" not in line
    parsed = json.loads(line)
    assert parsed["event"] == "api_retry"
    assert parsed["level"] == "warning"
    assert (parsed["job_id"], parsed["attempt"]) == ("j1", 2)
    assert parsed["ts"].endswith("+00:00")


def test_orphans_are_confirmed_after_a_third_of_the_shortest_lease(
    make_job: Callable[..., Job],
) -> None:
    def leased(seconds: float) -> Job:
        job = make_job(status=JobStatus.ACCEPTED)
        return job.model_copy(
            update={"lease_expires_at": job.updated_at + timedelta(seconds=seconds)}
        )

    assert confirm_seconds([leased(60), leased(9)]) == pytest.approx(3.0)
    assert confirm_seconds([leased(0.3)]) == MIN_CONFIRM_SECONDS
    assert confirm_seconds([make_job(status=JobStatus.ACCEPTED)]) == MIN_CONFIRM_SECONDS


@pytest.mark.parametrize(
    ("lease_setting", "expected"), [(None, 3.0), (1.5, 0.5), (0.3, MIN_HEARTBEAT_SECONDS)]
)
async def test_heartbeat_is_a_third_of_the_lease_by_the_apis_clock(
    make_job: Callable[..., Job], lease_setting: float | None, expected: float
) -> None:
    stamped = datetime.now(UTC) - timedelta(hours=1)  # as if our clock ran an hour ahead
    job = make_job(agent_id="demo-echo", status=JobStatus.ACCEPTED).model_copy(
        update={"updated_at": stamped, "lease_expires_at": stamped + timedelta(seconds=9)}
    )
    agent = load_manifest(manifest_path()).agents["demo-echo"]
    settings = ExecutorSettings(lease_seconds=lease_setting)
    async with AsyncClient(base_url="http://127.0.0.1:9", api_key="unused") as client:
        run = JobRun(client, agent, job, settings)
        assert await run.decide() is None
    assert run.heartbeat_seconds == pytest.approx(expected)
