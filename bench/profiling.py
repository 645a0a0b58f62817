"""Sampling a running API server with py-spy and summarising where its CPU time went.

``sampled(pid, path)`` records raw (collapsed) stacks while the block runs, without
pausing the process; ``summary(path)`` turns them into two markdown tables: the library
that owns the innermost frame of each sample, and the functions with the most samples
(self, and including callees).
"""

from __future__ import annotations

import contextlib
import re
import shutil
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

from harness import markdown_table

_FRAME = re.compile(r"^(?P<function>.*) \((?P<path>[^():]*)(?::\d+)?\)$")


def py_spy() -> str:
    """The py-spy executable of this environment."""
    beside = Path(sys.executable).parent / "py-spy"
    found = str(beside) if beside.exists() else shutil.which("py-spy")
    if not found:
        raise RuntimeError("py-spy is not installed")
    return found


@contextlib.contextmanager
def sampled(pid: int, raw_path: Path, rate: int = 200) -> Iterator[None]:
    """Record the stacks of every thread of ``pid`` while the block runs."""
    process = subprocess.Popen(
        [
            py_spy(),
            "record",
            "--pid",
            str(pid),
            "--format",
            "raw",
            "--output",
            str(raw_path),
            "--rate",
            str(rate),
            "--nonblocking",
            # Only the thread holding the GIL: CPU work, not threads waiting on I/O or locks.
            "--gil",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _frames(stack: str) -> list[tuple[str, str]]:
    frames = []
    for raw in stack.split(";"):
        match = _FRAME.match(raw.strip())
        if match:
            frames.append((match["function"], match["path"]))
        elif raw.strip():
            frames.append((raw.strip(), ""))
    return frames


def library_of(path: str) -> str:
    """The top-level package a source path belongs to; ``stdlib:<module>`` for the stdlib."""
    for marker in ("site-packages/", "/src/"):
        if marker in path:
            return path.split(marker, 1)[1].split("/", 1)[0].removesuffix(".py")
    if "/lib/python3" in path:
        path = path.split("/lib/python3", 1)[1].split("/", 1)[1]
    if not path:
        return "(native)"
    top = path.split("/", 1)[0].removesuffix(".py")
    return f"stdlib:{top}" if top in sys.stdlib_module_names else top


def summary(raw_path: Path, top: int = 15) -> str:
    """Markdown tables of where the samples in ``raw_path`` were: by library, by function."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    ours: Counter[str] = Counter()
    libraries: Counter[str] = Counter()
    total = 0
    if not raw_path.exists():
        return "(no profile recorded)"
    for line in raw_path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = _frames(stack)
        if not frames:
            continue
        total += count
        function, path = frames[-1]
        own[f"{function} ({library_of(path)})"] += count
        libraries[library_of(path)] += count
        for name in {f"{f} ({library_of(p)})" for f, p in frames}:
            inclusive[name] += count
        for name in {f for f, p in frames if library_of(p) == "agnt_api"}:
            ours[name] += count
    if not total:
        return "(no samples)"

    def share(count: int) -> str:
        return f"{100 * count / total:.1f} %"

    by_library = markdown_table(
        ["library of the innermost frame", "samples"],
        [[name, share(count)] for name, count in libraries.most_common(top)],
    )
    by_function = markdown_table(
        ["function (self)", "self", "including callees"],
        [[name, share(count), share(inclusive[name])] for name, count in own.most_common(top)],
    )
    by_our_function = markdown_table(
        ["agnt_api function", "including callees"],
        [[name, share(count)] for name, count in ours.most_common(top)],
    )
    return (
        f"{total} samples (py-spy, the GIL-holding thread only, so CPU work and not waits)."
        f"\n\n{by_library}\n\n{by_function}\n\n{by_our_function}"
    )
