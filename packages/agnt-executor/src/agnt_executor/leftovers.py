"""What a killed executor leaves behind: job work directories and handler process groups.

Each job's work directory (``$TMPDIR/agnt-job-<id>-*``) carries two small files: who owns
it (``.agnt-owner``: the executor's pid and start time, and whether to keep the
directory) and the handler's process group (``.agnt-pgid``). The supervisor
(``agnt_executor.supervisor``) cleans up after an executor that died, on Linux; where it
cannot (another system, or the supervisor was killed too), the next executor start sweeps
the directories whose owner is gone: it SIGKILLs what is left of their handler's group
and removes them (unless ``keep_work_dirs``).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import sys
import tempfile
from pathlib import Path

WORK_DIR_PREFIX = "agnt-job-"
OWNER_FILE = ".agnt-owner"
PGID_FILE = ".agnt-pgid"


def process_start_time(pid: int) -> str | None:
    """The start time of process ``pid`` (Linux ``/proc``), to tell a reused pid apart."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # Field 22 (starttime); the command name (field 2) may hold spaces and parentheses.
    return stat.rpartition(")")[2].split()[19]


def mark_work_dir(work_dir: Path, *, keep: bool) -> None:
    """Record this executor as the owner of ``work_dir``."""
    owner = {"pid": os.getpid(), "started": process_start_time(os.getpid()), "keep": keep}
    (work_dir / OWNER_FILE).write_text(json.dumps(owner))


def record_process_group(work_dir: Path, pgid: int) -> None:
    """Record the handler's process group in its work directory (best effort)."""
    with contextlib.suppress(OSError):
        (work_dir / PGID_FILE).write_text(str(pgid))


def _owner(work_dir: Path) -> dict[str, object] | None:
    try:
        owner = json.loads((work_dir / OWNER_FILE).read_text())
    except (OSError, ValueError):
        return None
    return owner if isinstance(owner, dict) and isinstance(owner.get("pid"), int) else None


def removable(work_dir: Path) -> bool:
    """Whether ``work_dir`` is a job directory that its executor does not keep."""
    owner = _owner(work_dir)
    return owner is not None and not owner.get("keep")


def _owner_alive(owner: dict[str, object]) -> bool:
    pid = owner["pid"]
    assert isinstance(pid, int)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    started = owner.get("started")
    return started is None or process_start_time(pid) == started


def _group_members(pgid: int) -> list[tuple[int, str]]:
    """(pid, cwd) of each process in group ``pgid`` that this user may inspect (Linux)."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rpartition(")")[2].split()
            if int(fields[2]) != pgid:
                continue
            members.append((int(entry.name), os.readlink(entry / "cwd")))
        except (OSError, ValueError, IndexError):
            continue
    return members


def _kill_group(work_dir: Path) -> bool:
    """SIGKILL the handler group recorded in ``work_dir``; True if one was still there."""
    try:
        pgid = int((work_dir / PGID_FILE).read_text())
    except (OSError, ValueError):
        return False
    if pgid <= 1:
        return False
    if sys.platform.startswith("linux"):
        # A reused group id must not cost an innocent group: one member must still work
        # in this job's directory (its leader's cwd, unless it changed it).
        members = _group_members(pgid)
        if not any(cwd.startswith(str(work_dir)) for _, cwd in members):
            return False
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def sweep_work_dirs(temp_dir: Path | None = None) -> list[Path]:
    """Clean up after dead executors of this user: kill their handlers, remove their dirs.

    Returns the work directories whose owner was gone.
    """
    base = temp_dir or Path(tempfile.gettempdir())
    swept = []
    for work_dir in sorted(base.glob(f"{WORK_DIR_PREFIX}*")):
        try:
            if work_dir.is_symlink() or not work_dir.is_dir():
                continue
            if work_dir.stat().st_uid != os.geteuid():
                continue
        except OSError:
            continue
        owner = _owner(work_dir)
        if owner is None or _owner_alive(owner):
            continue
        _kill_group(work_dir)
        if not owner.get("keep"):
            shutil.rmtree(work_dir, ignore_errors=True)
        swept.append(work_dir)
    return swept
