"""A dead executor's leftovers: the next start kills its handler group and removes its dir;
the supervisor passes the command's exit through and dies with it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from agnt_executor import supervisor
from agnt_executor.leftovers import (
    OWNER_FILE,
    mark_work_dir,
    process_start_time,
    record_process_group,
    sweep_work_dirs,
)

linux_only = pytest.mark.skipif(not supervisor.available(), reason="needs Linux /proc")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] != "Z"
    except FileNotFoundError:
        return False


def _dead_pid() -> int:
    done = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    return int(done.stdout)


def _work_dir(tmp_path: Path, name: str, owner_pid: int) -> Path:
    work_dir = tmp_path / f"agnt-job-{name}-x"
    work_dir.mkdir()
    (work_dir / OWNER_FILE).write_text(
        json.dumps({"pid": owner_pid, "started": process_start_time(owner_pid), "keep": False})
    )
    return work_dir


@linux_only
def test_sweep_kills_a_dead_executors_handler_group_and_removes_its_dir(tmp_path: Path) -> None:
    orphan_dir = _work_dir(tmp_path, "orphan", _dead_pid())
    handler = subprocess.Popen(["sleep", "60"], cwd=orphan_dir, start_new_session=True)
    record_process_group(orphan_dir, handler.pid)
    live_dir = tmp_path / "agnt-job-live-x"
    live_dir.mkdir()
    mark_work_dir(live_dir, keep=False)
    stranger = tmp_path / "agnt-job-no-owner-file"
    stranger.mkdir()
    try:
        assert sweep_work_dirs(tmp_path) == [orphan_dir]
        handler.wait(timeout=5)
        assert handler.returncode == -9
        assert not orphan_dir.exists()
        assert live_dir.exists() and stranger.exists()
    finally:
        if handler.poll() is None:
            handler.kill()


@linux_only
def test_sweep_leaves_a_reused_group_id_alone(tmp_path: Path) -> None:
    # The recorded group runs elsewhere (not in the job's dir): a reused id, not ours.
    work_dir = _work_dir(tmp_path, "reused", _dead_pid())
    innocent = subprocess.Popen(["sleep", "60"], cwd=tmp_path, start_new_session=True)
    record_process_group(work_dir, innocent.pid)
    try:
        assert sweep_work_dirs(tmp_path) == [work_dir]
        time.sleep(0.2)
        assert innocent.poll() is None
    finally:
        innocent.kill()
        innocent.wait()


@linux_only
def test_supervised_command_exits_as_the_command_did(tmp_path: Path) -> None:
    def run(code: str) -> int:
        argv = supervisor.supervised_argv(
            [sys.executable, "-c", code], grace=1, work_dir=str(tmp_path)
        )
        return subprocess.run(argv, start_new_session=True, timeout=30).returncode

    assert run("raise SystemExit(3)") == 3
    assert run("import os, signal; os.kill(os.getpid(), signal.SIGTERM)") == -15
    assert tmp_path.exists()


@linux_only
def test_supervised_command_sees_exactly_the_environment_it_was_given(tmp_path: Path) -> None:
    argv = supervisor.supervised_argv(
        [sys.executable, "-c", "import json, os; print(json.dumps(dict(os.environ)))"],
        grace=1,
        work_dir=None,
    )
    env = {"PATH": os.environ["PATH"], "ONLY": "this"}
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=30, check=True)
    seen = json.loads(done.stdout)
    # The child's own interpreter may coerce the C locale; nothing else is added.
    seen.pop("LC_CTYPE", None)
    assert seen == env


@linux_only
def test_a_killed_parent_takes_the_supervised_command_with_it(tmp_path: Path) -> None:
    work_dir = _work_dir(tmp_path, "parent", os.getpid())
    # The parent builds the command line itself: the supervisor watches its caller's pid.
    parent_code = (
        "import subprocess, time\n"
        "from agnt_executor.supervisor import supervised_argv\n"
        f"argv = supervised_argv(['sleep', '60'], grace=1, work_dir={str(work_dir)!r})\n"
        f"subprocess.Popen(argv, cwd={str(work_dir)!r}, start_new_session=True)\n"
        "time.sleep(60)\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", parent_code])
    deadline = time.monotonic() + 20
    sleepers: list[int] = []
    while time.monotonic() < deadline and not sleepers:
        sleepers = [
            int(p.name)
            for p in Path("/proc").iterdir()
            if p.name.isdigit() and _cmdline(p) == ["sleep", "60"] and _cwd(p) == str(work_dir)
        ]
        time.sleep(0.05)
    assert sleepers, "the supervised command never started"
    parent.kill()
    parent.wait()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and (
        work_dir.exists() or any(_alive(pid) for pid in sleepers)
    ):
        time.sleep(0.05)
    assert not any(_alive(pid) for pid in sleepers)
    assert not work_dir.exists()


def _cmdline(proc: Path) -> list[str]:
    try:
        return (proc / "cmdline").read_bytes().decode().split("\0")[:-1]
    except OSError:
        return []


def _cwd(proc: Path) -> str:
    try:
        return os.readlink(proc / "cwd")
    except OSError:
        return ""
