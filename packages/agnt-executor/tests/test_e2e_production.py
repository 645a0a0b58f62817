"""The executor against the production set-up: Postgres and S3-compatible storage."""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from agnt_client import Client
from agnt_executor.demo import manifest_path
from agnt_models import JobStatus

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.s3]


def test_results_land_in_s3_and_download_through_presigned_urls(
    live_api_factory: Callable[..., Any],
    make_postgres_database: Callable[[], str],
    s3_endpoint: str,
    s3_bucket: str,
    start_executor: Callable[..., Any],
    tmp_path: Path,
) -> None:
    api = live_api_factory(
        database_url=make_postgres_database(),
        storage_url=f"s3://{s3_bucket}/results",
        env={"AGNT_S3_ENDPOINT_URL": s3_endpoint},
    )
    start_executor(
        "run", str(manifest_path()), env={"AGNT_API_URL": api.url, "AGNT_API_KEY": api.executor_key}
    )
    with Client(base_url=api.url, api_key=api.buyer_key) as buyer:
        job = buyer.create_job("demo-slow", "to s3", params={"seconds": 1, "size_kb": 2048})
        done = buyer.wait_for_job(job.id, timeout=60)
        assert done.status is JobStatus.COMPLETED, done.decision_reason
        result = buyer.get_result(job.id)
        assert all(f.download_url.startswith(s3_endpoint) for f in result.files)
        files = buyer.download_result(job.id, tmp_path / "out")
    assert sorted(f.name for f in files) == ["payload.bin", "summary.txt"]
    payload = (tmp_path / "out" / "payload.bin").read_bytes()
    assert payload == random.Random(str(job.id)).randbytes(2048 * 1024)
