"""The release workflow, checked without running it: actionlint, the runner labels it asks
for, and the order of its jobs (nothing is published before every build has succeeded).
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
WORKFLOW = REPO / ".github" / "workflows" / "release.yml"
JOBS: dict[str, dict[str, Any]] = yaml.safe_load(WORKFLOW.read_text())["jobs"]

# GitHub-hosted runner labels offered in 2026 (macos-13 is retired, macos-14 on its way
# out); a label outside this list leaves a job queued until it times out.
GITHUB_HOSTED_LABELS = {
    "ubuntu-latest",
    "ubuntu-22.04",
    "ubuntu-24.04",
    "ubuntu-26.04",
    "ubuntu-22.04-arm",
    "ubuntu-24.04-arm",
    "ubuntu-26.04-arm",
    "ubuntu-slim",
    "windows-latest",
    "windows-2022",
    "windows-2025",
    "windows-11-arm",
    "macos-latest",
    "macos-15",
    "macos-15-intel",
    "macos-26",
    "macos-26-intel",
}
# Jobs that build or check what gets published; every publishing job must wait for them all.
BUILD_JOBS = {"check", "test", "python-package", "binary", "checksums"}


def _needs(job: str) -> set[str]:
    needs = JOBS[job].get("needs") or []
    return {needs} if isinstance(needs, str) else set(needs)


def _ancestors(job: str) -> set[str]:
    found: set[str] = set()
    todo = list(_needs(job))
    while todo:
        name = todo.pop()
        if name not in found:
            found.add(name)
            todo.extend(_needs(name))
    return found


def _steps(job: str | dict[str, Any]) -> str:
    """The job's steps as text: every `uses`, `with` and `run`, one after another."""
    spec = JOBS[job] if isinstance(job, str) else job
    return "\n".join(
        f"{step.get('uses', '')} {step.get('with', '')}\n{step.get('run', '')}"
        for step in spec.get("steps", [])
    )


def _publishes(job: dict[str, Any]) -> bool:
    text = _steps(job)
    words = ("uv publish", "npm publish", "gh release", "gh-action-pypi-publish")
    return any(word in text for word in words)


def test_actionlint_finds_nothing() -> None:
    actionlint = Path(sys.executable).with_name("actionlint")
    if not actionlint.exists():
        actionlint = Path(shutil.which("actionlint") or "actionlint")
    done = subprocess.run(
        [str(actionlint), "-no-color", "-oneline", str(WORKFLOW)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_runner_label_is_a_current_github_hosted_one() -> None:
    labels: set[str] = set()
    for job in JOBS.values():
        runs_on = job["runs-on"]
        if "matrix.runner" in str(runs_on):
            labels |= {entry["runner"] for entry in job["strategy"]["matrix"]["include"]}
        else:
            labels.add(runs_on)
    assert labels
    assert labels - GITHUB_HOSTED_LABELS == set()


def test_binaries_cover_every_supported_platform_and_linux_builds_in_manylinux_2_28() -> None:
    spec = importlib.util.spec_from_file_location("target", REPO / "distribution" / "target.py")
    assert spec is not None and spec.loader is not None
    target = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("target", target)  # its dataclasses look their module up
    spec.loader.exec_module(target)
    matrix = JOBS["binary"]["strategy"]["matrix"]["include"]
    assert sorted(entry["target"] for entry in matrix) == sorted(target.SUPPORTED)
    for entry in matrix:
        if entry["target"].startswith("linux-"):
            assert "manylinux_2_28" in entry["manylinux"], entry
    assert "--max-glibc 28" in _steps("binary")


@pytest.mark.parametrize("job", [name for name, job in JOBS.items() if _publishes(job)])
def test_no_job_publishes_before_every_build_succeeded(job: str) -> None:
    assert job not in BUILD_JOBS
    assert _ancestors(job) >= BUILD_JOBS, f"{job} may run before {BUILD_JOBS - _ancestors(job)}"
    # A skipped or failed build must not let a publish through.
    condition = str(JOBS[job].get("if", ""))
    assert "checksums.result == 'success'" in condition or "publish-pypi.result" in condition


def test_checksums_wait_for_every_build_and_attest_them() -> None:
    assert {"test", "python-package", "binary"} <= _needs("checksums")
    steps = _steps("checksums")
    assert "SHA256SUMS" in steps
    assert "actions/attest-build-provenance" in steps
    assert JOBS["checksums"]["permissions"] == {"id-token": "write", "attestations": "write"}


def test_publishing_skips_what_is_already_out() -> None:
    pypi = _steps("publish-pypi")
    assert "pypa/gh-action-pypi-publish" in pypi
    assert "'skip-existing': True" in pypi and "'attestations': True" in pypi
    npm = _steps("publish-npm")
    assert 'npm view "$name@$VERSION"' in npm
    assert "--provenance" in npm
    release = _steps("github-release")
    assert "--clobber" in release


def test_tests_run_before_anything_is_built_for_publishing() -> None:
    steps = _steps("test")
    assert "pytest" in steps
    assert "test" in _needs("checksums")
