"""Startup of the PyInstaller `agnt` binary beside the Python ways to run `agnt --version`.

Times, interleaved round by round (so load on the machine hits every command alike),
``--runs`` runs (default 20) of: ``python -c pass``; the onedir binary; the same binary as
the pip wheel installs it (a Python console script that execs it) and behind the npm
launcher (``node`` + binary) with ``node -e 0`` as its floor, each when dist/ has the
wrapper; ``uv run agnt --version``; and the workspace console script
``.venv/bin/agnt --version``. Prints a markdown table and appends it, with
machine, date and commit, to bench/RESULTS.md.

    uv run python distribution/build.py all      # once: binary + npm tarballs + wheel
    uv run python bench/binary_startup.py [--runs N] [--binary PATH] [--no-record]

Without a built binary it builds one first (distribution/build.py binary).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from harness import REPO, markdown_table, report

sys.path.insert(0, str(REPO / "distribution"))
# isort: off
# `build` is distribution/build.py; a ./build folder left by PyInstaller would make the
# import sorter class it first-party on one machine and third-party on another.
from build import cli_version
from target import current_target

# isort: on

DIST = REPO / "dist"


def built_binary(path: Path | None) -> Path:
    """The binary to measure: ``path``, else this platform's build in dist/ (built if missing)."""
    if path is not None:
        return path
    target = current_target()
    binary = target.build_dir(DIST) / target.exe_name
    if not binary.is_file():
        build = [sys.executable, str(REPO / "distribution" / "build.py"), "binary"]
        subprocess.run(build, check=True)
    return binary


def npm_installed_launcher(prefix: Path) -> Path | None:
    """`agnt` from the npm tarballs in dist/npm installed into ``prefix``, if they exist."""
    npm = shutil.which("npm")
    version = cli_version()
    tarballs = [
        DIST / "npm" / f"agnt-{current_target().name}-{version}.tgz",
        DIST / "npm" / f"agnt-{version}.tgz",
    ]
    if npm is None or not all(tarball.is_file() for tarball in tarballs):
        return None
    env = {**os.environ, "npm_config_cache": str(prefix / "cache"), "npm_config_offline": "true"}
    subprocess.run(
        [npm, "install", "--global", "--prefix", str(prefix), "--no-audit", "--no-fund"]
        + [str(tarball) for tarball in tarballs],
        env=env,
        check=True,
        capture_output=True,
    )
    return prefix / "bin" / "agnt"


def pip_installed_shim(venv: Path) -> Path | None:
    """`agnt` from the wheel in dist/pip installed into a fresh venv, if the wheel exists."""
    wheels = sorted((DIST / "pip").glob(f"agnt_bin-{cli_version()}-*.whl"))
    if not wheels:
        return None
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run(
        [str(venv / "bin" / "pip"), "install", "--quiet", "--no-index", str(wheels[-1])],
        check=True,
    )
    return venv / "bin" / "agnt"


def commands(binary: Path, launcher: Path | None, shim: Path | None) -> dict[str, list[str]]:
    """The commands to time, by label."""
    timed = {
        "python -c pass": [sys.executable, "-c", "pass"],
        "binary: agnt --version (onedir)": [str(binary), "--version"],
    }
    if shim is not None:
        timed["pip wheel: agnt --version (python shim execs binary)"] = [str(shim), "--version"]
    node = shutil.which("node")
    if launcher is not None and node is not None:
        timed["node -e 0"] = [node, "-e", "0"]
        timed["npm launcher: agnt --version (node + binary)"] = [str(launcher), "--version"]
    timed["uv run agnt --version"] = ["uv", "run", "--frozen", "agnt", "--version"]
    timed[".venv/bin/agnt --version"] = [str(REPO / ".venv" / "bin" / "agnt"), "--version"]
    return timed


@dataclass(frozen=True)
class Sample:
    """One run: wall time, and CPU time (user + system) of the process and its children."""

    wall_ms: float
    cpu_ms: float


def time_once(argv: list[str]) -> Sample:
    """Run ``argv`` once (output discarded) and time it."""
    started = time.perf_counter()
    process = subprocess.Popen(argv, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    # wait4 gives the rusage of this child alone; children of the child are included once
    # they were waited for (the npm launcher waits for the binary).
    _, status, usage = os.wait4(process.pid, 0)
    wall = (time.perf_counter() - started) * 1000
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise subprocess.CalledProcessError(process.returncode, argv)
    return Sample(wall_ms=wall, cpu_ms=(usage.ru_utime + usage.ru_stime) * 1000)


def measure(argvs: dict[str, list[str]], runs: int) -> dict[str, list[Sample]]:
    """Samples per label, interleaved round by round, after one warm-up run each."""
    for argv in argvs.values():
        time_once(argv)
    samples: dict[str, list[Sample]] = {label: [] for label in argvs}
    for _ in range(runs):
        for label, argv in argvs.items():
            samples[label].append(time_once(argv))
    return samples


def table(samples: dict[str, list[Sample]]) -> str:
    """Median and minimum wall time, median CPU time, and the wall median against the binary.

    CPU time is the steadier figure on a loaded machine; wall time is what a person waits.
    """
    binary = next(
        statistics.median(s.wall_ms for s in v)
        for k, v in samples.items()
        if k.startswith("binary")
    )
    rows = []
    for label, runs in samples.items():
        wall = statistics.median(s.wall_ms for s in runs)
        rows.append(
            [
                f"`{label}`",
                f"{wall:.1f}",
                f"{min(s.wall_ms for s in runs):.1f}",
                f"{statistics.median(s.cpu_ms for s in runs):.1f}",
                f"{wall / binary:.2f}×",
            ]
        )
    headers = ["command", "median wall ms", "min wall ms", "median CPU ms", "wall vs binary"]
    return markdown_table(headers, rows)


def main() -> None:
    """Measure, print the table, and append it to bench/RESULTS.md unless --no-record."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--binary", type=Path, default=None)
    parser.add_argument("--no-record", action="store_true")
    options = parser.parse_args()
    binary = built_binary(options.binary)
    with tempfile.TemporaryDirectory(prefix="agnt-bench-") as scratch:
        launcher = npm_installed_launcher(Path(scratch) / "npm")
        shim = pip_installed_shim(Path(scratch) / "venv")
        samples = measure(commands(binary, launcher, shim), options.runs)
    body = (
        f"`agnt --version` and friends, median of {options.runs} runs each, interleaved; "
        f"binary {binary.relative_to(REPO) if binary.is_relative_to(REPO) else binary}.\n\n"
        f"{table(samples)}"
    )
    report(
        "Binary startup (bench/binary_startup.py)",
        body,
        record=not options.no_record,
        quick=options.runs < 20,
    )


if __name__ == "__main__":
    main()
