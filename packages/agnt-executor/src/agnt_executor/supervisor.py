"""A handler command's tiny supervisor: the command dies with the executor (Linux).

A SIGKILLed executor cannot stop its handlers, and a handler's process group outlives it
under init for as long as the handler runs. So on Linux the command handler starts
``python -I -m agnt_executor.supervisor ... -- ARGV`` as the leader of the job's process
group; the supervisor asks the kernel for a signal when its parent dies
(``PR_SET_PDEATHSIG``), starts ARGV in the same group with the environment the executor
gave it (read from ``/proc/self/environ``: what Python adds at start-up never reaches the
command) and waits. When the command exits, the supervisor exits the same way (the same
status, or the same signal). When the executor dies first, it SIGTERMs the group, gives
the command ``--grace`` seconds, removes the job's work directory (when its owner file
says so, see ``leftovers``) and SIGKILLs the group, itself included. The executor's own SIGTERM/SIGKILL of the group reaches the command
directly; the supervisor ignores SIGTERM and waits for the command to finish.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from agnt_executor.leftovers import removable

PR_SET_PDEATHSIG = 1
PARENT_GONE_SIGNAL = signal.SIGHUP
"""What the kernel sends the supervisor when the executor (its parent) dies."""
CANNOT_START_STATUS = 127
POLL_SECONDS = 0.2


def available() -> bool:
    """Whether handlers run under the supervisor here: Linux, with ``/proc`` mounted."""
    return sys.platform.startswith("linux") and os.path.exists("/proc/self/environ")


def supervised_argv(argv: Sequence[str], *, grace: float, work_dir: str | None) -> list[str]:
    """The command line that runs ``argv`` under the supervisor, child of this process."""
    command = [sys.executable, "-I", "-m", "agnt_executor.supervisor"]
    command += ["--parent", str(os.getpid()), "--grace", f"{grace:g}"]
    if work_dir is not None:
        command += ["--remove-work-dir", work_dir]
    return [*command, "--", *argv]


def _ask_for_parent_death_signal() -> bool:
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return int(libc.prctl(PR_SET_PDEATHSIG, int(PARENT_GONE_SIGNAL), 0, 0, 0)) == 0
    except (OSError, AttributeError):
        return False


def _initial_environment() -> dict[str, str]:
    """The environment this process was started with, exactly (``/proc/self/environ``)."""
    with open("/proc/self/environ", "rb") as source:
        entries = source.read().split(b"\0")
    environment: dict[str, str] = {}
    for entry in entries:
        name, sep, value = entry.partition(b"=")
        if sep:
            environment[os.fsdecode(name)] = os.fsdecode(value)
    return environment


def _exit_like(status: int) -> None:
    """Exit with the command's status; a command killed by a signal is killed by it here."""
    if status < 0:
        signal.signal(-status, signal.SIG_DFL)
        os.kill(os.getpid(), -status)
        time.sleep(1)  # the signal is delivered at once; this is not reached
        os._exit(128 - status)
    os._exit(status)


def _end_orphaned_job(command: subprocess.Popen[bytes], grace: float, work_dir: str | None) -> None:
    """The executor is gone: stop the job's group, clean its directory, end everything."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(os.getpgrp(), signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        command.wait(timeout=grace)
    if work_dir is not None and removable(Path(work_dir)):
        shutil.rmtree(work_dir, ignore_errors=True)
    # Whatever is left of the group (grandchildren), and the supervisor itself.
    os.killpg(os.getpgrp(), signal.SIGKILL)


def main(args: Sequence[str] | None = None) -> None:
    """Run the command under ``--`` until it exits or the parent dies (never returns)."""
    parser = argparse.ArgumentParser(prog="agnt-supervisor")
    parser.add_argument("--parent", type=int, required=True)
    parser.add_argument("--grace", type=float, default=5.0)
    parser.add_argument("--remove-work-dir", default=None)
    parser.add_argument("argv", nargs=argparse.REMAINDER)
    options = parser.parse_args(args)
    argv = options.argv[1:] if options.argv[:1] == ["--"] else options.argv
    orphaned = False

    def parent_gone(signum: int, frame: object) -> None:
        nonlocal orphaned
        orphaned = True

    signal.signal(PARENT_GONE_SIGNAL, parent_gone)
    # The group's SIGTERM reaches the command itself; the supervisor waits for its end.
    signal.signal(signal.SIGTERM, lambda signum, frame: None)
    signal.signal(signal.SIGINT, lambda signum, frame: None)
    _ask_for_parent_death_signal()
    environment = _initial_environment()
    try:
        # Handlers reset to the default in the child by exec; SIG_IGN would be inherited.
        command = subprocess.Popen(argv, env=environment)
    except OSError as exc:
        sys.stderr.write(f"cannot start command '{argv[0] if argv else ''}': {exc.strerror}\n")
        sys.stderr.flush()
        os._exit(CANNOT_START_STATUS)
    while True:
        # The parent may have died before the death signal was asked for: check it too.
        if orphaned or os.getppid() != options.parent:
            _end_orphaned_job(command, options.grace, options.remove_work_dir)
        try:
            status = command.wait(timeout=POLL_SECONDS)
        except subprocess.TimeoutExpired:
            continue
        _exit_like(status)


if __name__ == "__main__":
    main()
