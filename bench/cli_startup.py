"""Startup time of ``agnt --version`` and ``agnt --help`` against a bare interpreter.

Each command runs ``--runs`` times (default 20), interleaved so that load on the machine
hits every command alike; the table shows each median and how far it is above
``python -c pass`` measured in the same run. ``import typer`` is the framework's floor.
Prints a markdown table and appends it, with machine, date and commit, to
bench/RESULTS.md (created with a header when missing).

    uv run python bench/cli_startup.py [--runs N] [--no-record]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "RESULTS.md"
RESULTS_HEADER = "# Benchmark results\n\nEach section is appended by one script in bench/.\n"
TARGET_MS = 150.0


def commands() -> dict[str, list[str]]:
    """The commands to time, by label; the console script of this interpreter's environment."""
    agnt = str(Path(sys.executable).parent / "agnt")
    return {
        "python -c pass": [sys.executable, "-c", "pass"],
        "python -c 'import typer'": [sys.executable, "-c", "import typer"],
        "agnt --version": [agnt, "--version"],
        "agnt --help": [agnt, "--help"],
    }


def time_once(argv: list[str]) -> float:
    """Wall time of one run of ``argv`` in milliseconds (output discarded)."""
    started = time.perf_counter()
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return (time.perf_counter() - started) * 1000


def measure(runs: int) -> dict[str, list[float]]:
    """Timings in ms per command label, interleaved round by round (after one warm-up)."""
    argvs = commands()
    for argv in argvs.values():
        time_once(argv)
    samples: dict[str, list[float]] = {label: [] for label in argvs}
    for _ in range(runs):
        for label, argv in argvs.items():
            samples[label].append(time_once(argv))
    return samples


def table(samples: dict[str, list[float]]) -> str:
    """The markdown table of medians, minimums and the overhead above bare python."""
    bare = statistics.median(samples["python -c pass"])
    lines = [
        "| command | median ms | min ms | above bare python, ms | target ≤ 150 ms above |",
        "|---|---:|---:|---:|---|",
    ]
    for label, values in samples.items():
        median = statistics.median(values)
        above = median - bare
        verdict = "" if label.startswith("python") else ("met" if above <= TARGET_MS else "MISSED")
        lines.append(f"| `{label}` | {median:.1f} | {min(values):.1f} | {above:.1f} | {verdict} |")
    typer_label = "python -c 'import typer'"
    own = statistics.median(samples["agnt --help"]) - statistics.median(samples[typer_label])
    own_min = min(samples["agnt --help"]) - min(samples[typer_label])
    lines.append("")
    lines.append(
        f"`agnt --help` above `import typer` alone (agnt's own share): {own:.1f} ms "
        f"by medians, {own_min:.1f} ms by minimums."
    )
    return "\n".join(lines)


def commit() -> str:
    """The commit measured, marked ``-dirty`` when agnt-cli has uncommitted changes."""
    head = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--", "packages/agnt-cli"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    return f"{head or 'unknown'}{'-dirty' if dirty else ''}"


def machine() -> str:
    """One line about where this ran: OS, CPU count, load, Python."""
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return (
        f"{platform.platform()}, {os.cpu_count()} CPUs, load {load}, "
        f"Python {platform.python_version()}"
    )


def record(section: str) -> None:
    """Append ``section`` to bench/RESULTS.md, creating the file with its header if missing."""
    if not RESULTS.exists():
        RESULTS.write_text(RESULTS_HEADER, encoding="utf-8")
    with RESULTS.open("a", encoding="utf-8") as handle:
        handle.write("\n" + section + "\n")


def main() -> None:
    """Measure, print the table, and record it unless --no-record."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--no-record", action="store_true")
    options = parser.parse_args()
    context = machine()
    samples = measure(options.runs)
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    section = (
        f"## CLI startup (bench/cli_startup.py)\n\n"
        f"{when}, commit {commit()}, median of {options.runs} runs each, interleaved.\n"
        f"Machine: {context}.\n\n{table(samples)}"
    )
    print(section)
    if not options.no_record:
        record(section)


if __name__ == "__main__":
    main()
