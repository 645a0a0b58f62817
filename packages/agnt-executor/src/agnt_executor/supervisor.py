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

import contextlib
import os
import signal
import sys
from collections.abc import Sequence

# Only the standard library, imported lazily where it can be: the supervisor starts once
# per job (``python -I -S``: no site-packages), so its start-up is the job's overhead.

PR_SET_PDEATHSIG = 1
PARENT_GONE_SIGNAL = signal.SIGHUP
"""What the kernel sends the supervisor when the executor (its parent) dies."""
CANNOT_START_STATUS = 127
OWNER_FILE = ".agnt-owner"
"""The job directory's owner record (``agnt_executor.leftovers`` writes it)."""


class _ParentGone(Exception):
    """Raised by the death signal's handler: it interrupts the wait for the command."""


def available() -> bool:
    """Whether handlers run under the supervisor here: Linux, with ``/proc`` mounted."""
    return sys.platform.startswith("linux") and os.path.exists("/proc/self/environ")


def supervised_argv(argv: Sequence[str], *, grace: float, work_dir: str | None) -> list[str]:
    """The command line that runs ``argv`` under the supervisor, child of this process."""
    if __file__.endswith(".py"):
        command = [sys.executable, "-I", "-S", __file__]
    else:
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


def _initial_environment() -> dict[bytes, bytes]:
    """The environment this process was started with, exactly (``/proc/self/environ``)."""
    with open("/proc/self/environ", "rb") as source:
        entries = source.read().split(b"\0")
    environment: dict[bytes, bytes] = {}
    for entry in entries:
        name, sep, value = entry.partition(b"=")
        if sep:
            environment[name] = value
    return environment


def _removable(work_dir: str) -> bool:
    """Whether the job directory's owner record says it may go (``leftovers.removable``)."""
    import json

    try:
        with open(os.path.join(work_dir, OWNER_FILE)) as source:
            owner = json.load(source)
    except (OSError, ValueError):
        return False
    return isinstance(owner, dict) and not owner.get("keep")


def _exit_like(status: int) -> None:
    """Exit with the command's status; a command killed by a signal is killed by it here."""
    if status < 0:
        signal.signal(-status, signal.SIG_DFL)
        os.kill(os.getpid(), -status)
        os._exit(128 - status)  # not reached: the signal is delivered at once
    os._exit(status)


def _wait(pid: int, timeout: float | None = None) -> int | None:
    """The exit code of child ``pid`` (negative: killed by that signal); None at timeout."""
    if timeout is None:
        return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
    import time

    deadline = time.monotonic() + timeout
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        if time.monotonic() >= deadline:
            return None
        time.sleep(0.02)


def _end_orphaned_job(pid: int, grace: float, work_dir: str | None) -> None:
    """The executor is gone: stop the job's group, clean its directory, end everything."""
    signal.signal(PARENT_GONE_SIGNAL, signal.SIG_IGN)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(os.getpgrp(), signal.SIGTERM)
    if pid:
        _wait(pid, grace)
    if work_dir is not None and _removable(work_dir):
        import shutil

        shutil.rmtree(work_dir, ignore_errors=True)
    # Whatever is left of the group (grandchildren), and the supervisor itself.
    os.killpg(os.getpgrp(), signal.SIGKILL)


def _parse(args: Sequence[str]) -> tuple[int, float, str | None, list[str]]:
    parent, grace, work_dir = 0, 5.0, None
    rest = list(args)
    while rest and rest[0] != "--":
        option, value, rest = rest[0], rest[1], rest[2:]
        if option == "--parent":
            parent = int(value)
        elif option == "--grace":
            grace = float(value)
        elif option == "--remove-work-dir":
            work_dir = value
        else:
            raise SystemExit(f"agnt-supervisor: unknown option {option}")
    if not parent or len(rest) < 2:
        raise SystemExit("usage: supervisor --parent PID [--grace S] [--remove-work-dir D] -- ARGV")
    return parent, grace, work_dir, rest[1:]


def main(args: Sequence[str] | None = None) -> None:
    """Run the command after ``--`` until it exits or the parent dies (never returns)."""
    parent, grace, work_dir, argv = _parse(sys.argv[1:] if args is None else args)
    if os.getpgrp() != os.getpid():
        # Started without a group of its own: never signal the caller's group.
        os.setpgid(0, 0)

    def parent_gone(signum: int, frame: object) -> None:
        raise _ParentGone

    signal.signal(PARENT_GONE_SIGNAL, parent_gone)
    # The group's SIGTERM reaches the command itself; the supervisor waits for its end.
    # (A handler, not SIG_IGN: exec resets handlers, so the command gets the default.)
    signal.signal(signal.SIGTERM, lambda signum, frame: None)
    signal.signal(signal.SIGINT, lambda signum, frame: None)
    pid = 0
    try:
        _ask_for_parent_death_signal()
        environment = _initial_environment()
        try:
            pid = os.posix_spawnp(argv[0], argv, environment)
        except OSError as exc:
            sys.stderr.write(f"cannot start command '{argv[0]}': {exc.strerror}\n")
            sys.stderr.flush()
            os._exit(CANNOT_START_STATUS)
        # The parent may have died before the death signal was asked for.
        if os.getppid() != parent:
            raise _ParentGone
        status = _wait(pid)
    except _ParentGone:
        _end_orphaned_job(pid, grace, work_dir)
        raise
    assert status is not None
    _exit_like(status)


if __name__ == "__main__":
    main()
