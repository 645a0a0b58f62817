"""Transfer: a large result file uploaded and downloaded through the API, file and S3 storage.

For each backend and size: the executor uploads the file with ``agnt_client``
(``complete_job``, streamed from disk) and the buyer downloads it (``download_result``,
streamed to disk and sha256-verified). Input-file rows: the buyer uploads the file as a
job's input (``upload_file``, ``POST /v1/files``) and the executor holding the job
downloads it (``download_inputs``, sha256-verified). The baseline in the same run is ``cp`` of the same
file plus an fsync of the copy (the file backend fsyncs too). The API's resident memory
is sampled every 5 ms: the extra over its idle RSS should stay flat as the file grows.
With S3 the download goes straight to the bucket through a presigned URL, so the API is
not in that path.

    uv run python bench/transfer.py [--quick] [--sizes-mb 256,1000] [--no-record]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil
from harness import (
    ApiServer,
    Deployment,
    auth,
    markdown_table,
    publish_agent,
    report,
    require_env,
)

from agnt_client import Client
from agnt_models import InputRef

AGENT_ID = "bench-transfer"
MB = 1_000_000
TARGET_EXTRA_RSS_MB = 100


class PeakMemory:
    """Samples a process's RSS in a thread; ``peak`` since the last ``reset``."""

    def __init__(self, pid: int, interval: float = 0.005) -> None:
        self.process = psutil.Process(pid)
        self.interval = interval
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(psutil.Error):
                self.peak = max(self.peak, self.process.memory_info().rss)
            time.sleep(self.interval)

    def reset(self) -> int:
        """Start a new window; the RSS right now."""
        self.peak = self.process.memory_info().rss
        return self.peak

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


@dataclass
class Transfer:
    """One file through one backend."""

    backend: str
    size: int
    upload_seconds: float
    download_seconds: float
    copy_seconds: float
    idle_rss: int
    upload_peak_rss: int
    download_peak_rss: int

    def row(self) -> list[str]:
        """The table row."""
        extra = max(self.upload_peak_rss, self.download_peak_rss) - self.idle_rss
        return [
            self.backend,
            f"{self.size / MB:,.0f} MB",
            f"{self.size / MB / self.upload_seconds:,.0f}",
            f"{self.size / MB / self.download_seconds:,.0f}",
            f"{self.size / MB / self.copy_seconds:,.0f}",
            f"{self.idle_rss / MB:.0f} MB",
            f"+{(self.upload_peak_rss - self.idle_rss) / MB:.0f} MB",
            f"+{(self.download_peak_rss - self.idle_rss) / MB:.0f} MB",
            f"+{extra / MB:.0f} MB",
        ]


def write_source(path: Path, size: int) -> None:
    """A file of ``size`` bytes (a random 16 MB block, repeated; nothing compresses it)."""
    block = os.urandom(16 * MB)
    with path.open("wb") as out:
        remaining = size
        while remaining > 0:
            out.write(block[: min(remaining, len(block))])
            remaining -= len(block)


def copy_seconds(source: Path, target: Path) -> float:
    """Seconds for ``cp source target`` plus an fsync of the copy."""
    started = time.perf_counter()
    subprocess.run(["cp", str(source), str(target)], check=True)
    descriptor = os.open(target, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
    seconds = time.perf_counter() - started
    target.unlink()
    return seconds


def transfer(server: ApiServer, backend: str, source: Path, downloads: Path) -> Transfer:
    """Upload ``source`` as a job's result through ``server`` and download it again."""
    keys = server.deployment.keys
    with httpx.Client(base_url=server.url, timeout=60) as http:
        created = http.post(
            "/v1/jobs",
            headers=auth(keys.buyer),
            json={"agent_id": AGENT_ID, "prompt": f"transfer {source.stat().st_size}"},
        )
        created.raise_for_status()
        job_id = created.json()["id"]
        http.post(
            "/v1/executor/claims", headers=auth(keys.executor), json={"job_ids": [job_id]}
        ).raise_for_status()
        http.post(
            f"/v1/executor/jobs/{job_id}/status",
            headers=auth(keys.executor),
            json={"status": "running"},
        ).raise_for_status()
    size = source.stat().st_size
    with (
        PeakMemory(server.pid) as memory,
        Client(server.url, keys.executor, timeout=600, max_retries=0) as executor,
        Client(server.url, keys.buyer, timeout=600, max_retries=0) as buyer,
    ):
        buyer.get_job(job_id)  # warm: both connections open, the routes imported
        idle = memory.reset()
        started = time.perf_counter()
        executor.complete_job(job_id, [source])
        upload = time.perf_counter() - started
        upload_peak = memory.peak
        memory.reset()
        started = time.perf_counter()
        (downloaded,) = buyer.download_result(job_id, downloads)
        download = time.perf_counter() - started
        download_peak = memory.peak
    assert downloaded.size == size
    downloaded.path.unlink()
    return Transfer(
        backend,
        size,
        upload,
        download,
        copy_seconds(source, downloads / "cp-copy"),
        idle,
        upload_peak,
        download_peak,
    )


def input_transfer(server: ApiServer, backend: str, source: Path, downloads: Path) -> Transfer:
    """Upload ``source`` as an input file, order a job with it, and fetch it as its executor."""
    keys = server.deployment.keys
    size = source.stat().st_size
    with (
        PeakMemory(server.pid) as memory,
        Client(server.url, keys.executor, timeout=600, max_retries=0) as executor,
        Client(server.url, keys.buyer, timeout=600, max_retries=0) as buyer,
    ):
        buyer.get_agent(AGENT_ID)  # warm: both connections open, the routes imported
        executor.list_executor_jobs()
        idle = memory.reset()
        started = time.perf_counter()
        uploaded = buyer.upload_file(source)
        upload = time.perf_counter() - started
        upload_peak = memory.peak
        job = buyer.create_job(AGENT_ID, f"input {size}", inputs=[InputRef(file_id=uploaded.id)])
        executor.claim_jobs(job_ids=[job.id])
        memory.reset()
        started = time.perf_counter()
        (downloaded,) = executor.download_inputs(job.id, downloads, as_executor=True)
        download = time.perf_counter() - started
        download_peak = memory.peak
    assert downloaded.size == size
    downloaded.path.unlink()
    return Transfer(
        f"{backend}, input",
        size,
        upload,
        download,
        copy_seconds(source, downloads / "cp-copy"),
        idle,
        upload_peak,
        download_peak,
    )


@contextlib.contextmanager
def s3_bucket() -> Iterator[tuple[str, str]]:
    """A fresh bucket on the test S3 server, emptied and removed afterwards."""
    import boto3

    endpoint = require_env("AGNT_TEST_S3_ENDPOINT")
    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name=os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
        aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID", "testing"),
        aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY", "testing"),
    )
    bucket = f"agnt-bench-transfer-{uuid.uuid4().hex[:8]}"
    client.create_bucket(Bucket=bucket)
    try:
        yield bucket, endpoint
    finally:
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            for item in page.get("Contents", []):
                client.delete_object(Bucket=bucket, Key=item["Key"])
        client.delete_bucket(Bucket=bucket)


def run_backend(
    name: str, deployment: Deployment, sources: list[Path], downloads: Path
) -> list[Transfer]:
    """Every size through one backend."""
    keys = deployment.prepare()
    with deployment.server() as server:
        publish_agent(server.url, keys, AGENT_ID)
        results = [transfer(server, name, source, downloads) for source in sources]
        results += [input_transfer(server, name, source, downloads) for source in sources]
        return results


def main() -> None:
    """Measure file and S3 storage at each size and report."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="8 and 32 MB, to catch breakage")
    parser.add_argument("--sizes-mb", help="comma-separated file sizes in MB (default 256,1000)")
    parser.add_argument("--no-record", action="store_true", help="do not append to RESULTS.md")
    args = parser.parse_args()
    sizes_mb = args.sizes_mb or ("8,32" if args.quick else "256,1000")
    sizes = [int(float(size) * MB) for size in sizes_mb.split(",")]
    limits = {
        "AGNT_MAX_UPLOAD_BYTES": str(max(sizes) * 2),
        "AGNT_MAX_INPUT_BYTES": str(max(sizes) * 2),
        # A 1 GB upload to S3 on a loaded machine can outlast the default 60 s lease, and
        # nothing renews it here (no executor runs): the job would fail mid-measurement.
        "AGNT_LEASE_SECONDS": "3600",
    }
    results: list[Transfer] = []
    with tempfile.TemporaryDirectory(prefix="agnt-bench-transfer-") as tmp:
        work = Path(tmp)
        downloads = work / "downloads"
        downloads.mkdir()
        sources = []
        for size in sizes:
            source = work / f"result-{size // MB}mb.bin"
            write_source(source, size)
            sources.append(source)
        files = Deployment(
            work / "file",
            f"sqlite:///{work / 'file.db'}",
            (work / "file" / "objects").as_uri(),
            extra_env=limits,
        )
        results += run_backend("file", files, sources, downloads)
        shutil.rmtree(work / "file" / "objects", ignore_errors=True)
        with s3_bucket() as (bucket, endpoint):
            s3 = Deployment(
                work / "s3",
                f"sqlite:///{work / 's3.db'}",
                f"s3://{bucket}/bench",
                extra_env={**limits, "AGNT_S3_ENDPOINT_URL": endpoint},
            )
            results += run_backend("S3 (download presigned)", s3, sources, downloads)
    table = markdown_table(
        [
            "backend",
            "file",
            "upload MB/s",
            "download MB/s (input: executor)",
            "cp + fsync MB/s",
            "API idle RSS",
            "peak extra, upload",
            "peak extra, download",
            "peak extra",
        ],
        [result.row() for result in results],
    )
    worst = max(max(r.upload_peak_rss, r.download_peak_rss) - r.idle_rss for r in results) / MB
    notes = (
        f"Target: the API's peak RSS < {TARGET_EXTRA_RSS_MB} MB over idle and flat with size — "
        f"{'met' if worst < TARGET_EXTRA_RSS_MB else 'NOT met'} (worst +{worst:.0f} MB). "
        "Client and server share the machine; the S3 server is SeaweedFS (weed, on loopback)."
    )
    report("Transfer", f"{table}\n\n{notes}", record=not args.no_record, quick=args.quick)


if __name__ == "__main__":
    main()
