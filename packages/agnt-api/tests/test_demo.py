"""``agnt-server demo``: one command gives a working API, keys and a demo executor."""

from __future__ import annotations

import os
import signal
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _start_demo(data_dir: Path, port: int, log: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGNT_")}
    with log.open("ab") as out:
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "agnt_api.cli",
                "demo",
                "--data-dir",
                str(data_dir),
                "--port",
                str(port),
            ],
            env=env,
            stdout=out,
            stderr=out,
        )


def _read_env(path: Path, process: subprocess.Popen[bytes], log: Path) -> dict[str, str]:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        assert process.poll() is None, log.read_text()
        if path.exists():
            pairs = [line.split("=", 1) for line in path.read_text().splitlines() if "=" in line]
            values = dict(pairs)
            if "AGNT_API_KEY" in values:
                return values
        time.sleep(0.1)
    pytest.fail(f"demo.env never appeared:\n{log.read_text()}")


def _stop(process: subprocess.Popen[bytes]) -> list[psutil.Process]:
    children = psutil.Process(process.pid).children(recursive=True)
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=30) == 0
    gone, alive = psutil.wait_procs(children, timeout=20)
    return alive


@pytest.mark.slow
def test_demo_serves_runs_a_demo_job_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    data_dir = tmp_path / "demo"
    port = _free_port()
    log = tmp_path / "demo.log"
    process = _start_demo(data_dir, port, log)
    try:
        env = _read_env(data_dir / "demo.env", process, log)
        assert env["AGNT_API_URL"] == f"http://127.0.0.1:{port}"
        assert stat.S_IMODE((data_dir / "demo.env").stat().st_mode) == 0o600
        assert stat.S_IMODE((data_dir / "demo-keys.json").stat().st_mode) == 0o600
        buyer = {"Authorization": f"Bearer {env['AGNT_API_KEY']}"}
        with httpx.Client(base_url=env["AGNT_API_URL"], headers=buyer, timeout=60) as client:
            assert client.get("/readyz").status_code == 200
            deadline = time.monotonic() + 90
            while client.get("/v1/agents/demo-echo").status_code != 200:
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.2)
            job = client.post(
                "/v1/jobs", json={"agent_id": "demo-echo", "prompt": "hello demo"}
            ).json()
            status = job["status"]
            while status not in ("completed", "failed", "rejected"):
                assert time.monotonic() < deadline, log.read_text()
                status = client.get(f"/v1/jobs/{job['id']}", params={"wait": 20}).json()["status"]
            assert status == "completed", log.read_text()
            files = client.get(f"/v1/jobs/{job['id']}/result").json()["files"]
            contents = [client.get(f["download_url"]).content for f in files]
            assert any(b"HELLO DEMO" in content for content in contents)
        assert _stop(process) == []
    finally:
        if process.poll() is None:
            process.kill()
    (data_dir / "demo.env").unlink()
    restarted = _start_demo(data_dir, port, log)
    try:
        again = _read_env(data_dir / "demo.env", restarted, log)
        assert again["AGNT_API_KEY"] == env["AGNT_API_KEY"]
        assert _stop(restarted) == []
    finally:
        if restarted.poll() is None:
            restarted.kill()
