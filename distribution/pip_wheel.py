"""Write the platform wheel `agnt` that carries the onedir build of the `agnt` binary.

The onedir build (executable plus ``_internal/``) goes into the package directory
``agnt_binary/``, and a console script `agnt` runs it: on POSIX the shim ``exec``s the
binary, so the process that remains is the binary itself (same pid, signals, exit code);
on Windows it runs it and passes its exit code on. Why not the wheel's ``.data/scripts``:
a onedir executable needs its ``_internal`` directory beside it, and installers refuse (uv)
or mangle directories there. The name `agnt` does not clash with any workspace package
(``agnt-cli`` is the Python package; both install an `agnt` command, so use one of them).
"""

from __future__ import annotations

import base64
import hashlib
import re
import stat
import zipfile
from pathlib import Path

from target import current_target

DISTRIBUTION = "agnt"
PACKAGE = "agnt_binary"
SUMMARY = "The agnt command as a self-contained binary: find AI agents, order jobs, get results"
DESCRIPTION = """\
# agnt

The `agnt` command, as one native build that needs no Python packages of its own:

    pip install agnt
    agnt --version
    agnt search demo

The same build ships on npm (`npm install -g agnt`). For the Python library and the
command as ordinary Python code, install `agnt-client` / `agnt-cli` instead.
"""
# Imports nothing that Python's start-up has not loaded already: it runs before every call.
SHIM = '''\
"""The `agnt` console script: run the agnt binary bundled in this package."""

import os
import sys


def main() -> None:
    """Replace this process with the binary (POSIX), or run it and exit with its code."""
    here = os.path.dirname(os.path.abspath(__file__))
    if os.name == "nt":
        import subprocess

        binary = os.path.join(here, "agnt.exe")
        sys.exit(subprocess.call([binary, *sys.argv[1:]]))
    binary = os.path.join(here, "agnt")
    os.execv(binary, [binary, *sys.argv[1:]])
'''
# Wheels carry zip timestamps; a fixed one makes the same build give the same wheel.
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)
_VERSION_PATTERN = re.compile(r"^\d+(\.\d+)*((a|b|rc)\d+)?(\.post\d+)?(\.dev\d+)?$")


def _record_hash(data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
    return f"sha256={digest.decode()}"


def _entry(name: str, executable: bool) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=_ZIP_EPOCH)
    mode = 0o755 if executable else 0o644
    info.external_attr = (stat.S_IFREG | mode) << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    return info


def wheel_files(build_dir: Path, version: str, tag: str) -> list[tuple[str, bytes, bool]]:
    """Every file of the wheel but RECORD, as (archive name, content, executable)."""
    dist_info = f"{DISTRIBUTION}-{version}.dist-info"
    files: list[tuple[str, bytes, bool]] = [(f"{PACKAGE}/__init__.py", SHIM.encode(), False)]
    for path in sorted(build_dir.rglob("*")):
        # Symlinks are stored as the file they point to: zip has no portable symlink.
        if path.is_dir():
            continue
        relative = path.relative_to(build_dir).as_posix()
        executable = bool(path.stat().st_mode & 0o111)
        files.append((f"{PACKAGE}/{relative}", path.read_bytes(), executable))
    metadata = (
        "Metadata-Version: 2.1\n"
        f"Name: {DISTRIBUTION}\n"
        f"Version: {version}\n"
        f"Summary: {SUMMARY}\n"
        "Description-Content-Type: text/markdown\n"
        "\n"
        f"{DESCRIPTION}"
    )
    wheel = (
        "Wheel-Version: 1.0\n"
        "Generator: agnt distribution/pip_wheel.py\n"
        "Root-Is-Purelib: false\n"
        f"Tag: {tag}\n"
    )
    entry_points = f"[console_scripts]\nagnt = {PACKAGE}:main\n"
    files.append((f"{dist_info}/METADATA", metadata.encode(), False))
    files.append((f"{dist_info}/WHEEL", wheel.encode(), False))
    files.append((f"{dist_info}/entry_points.txt", entry_points.encode(), False))
    return files


def build_wheel(build_dir: Path, version: str, out_dir: Path) -> Path:
    """Write ``agnt-<version>-py3-none-<platform>.whl`` for the build; return its path."""
    if not _VERSION_PATTERN.match(version):
        raise SystemExit(f"{version!r} is not a plain PEP 440 version")
    tag = f"py3-none-{current_target().wheel_platform_tag(build_dir)}"
    out_dir.mkdir(parents=True, exist_ok=True)
    wheel_path = out_dir / f"{DISTRIBUTION}-{version}-{tag}.whl"
    record_name = f"{DISTRIBUTION}-{version}.dist-info/RECORD"
    record_lines: list[str] = []
    with zipfile.ZipFile(wheel_path, "w") as wheel:
        for name, data, executable in wheel_files(build_dir, version, tag):
            wheel.writestr(_entry(name, executable), data)
            record_lines.append(f"{name},{_record_hash(data)},{len(data)}")
        record_lines.append(f"{record_name},,")
        wheel.writestr(_entry(record_name, False), "\n".join(record_lines) + "\n")
    return wheel_path
