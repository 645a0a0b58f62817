"""Write the platform wheel `agnt-bin` that carries the onedir build of the `agnt` binary.

The onedir build (executable plus ``_internal/``) goes into the package directory
``agnt_binary/``, and a console script `agnt` runs it: on POSIX the shim ``exec``s the
binary, so the process that remains is the binary itself (same pid, signals, exit code);
on Windows it runs it and passes its exit code on. Why not the wheel's ``.data/scripts``:
a onedir executable needs its ``_internal`` directory beside it, and installers refuse (uv)
or mangle directories there. The PyPI name `agnt` belongs to another project, hence
`agnt-bin`; it does not clash with any workspace package (``agnt-cli`` is the Python
package; both install an `agnt` command, so use one of them). The shell completions go to
``share/`` of the environment too, where bash-completion, zsh and fish look under a prefix.

Reproducible: entries sorted, every timestamp ``SOURCE_DATE_EPOCH`` (build.py sets it to
the commit's time), so the same build and version give the same bytes.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import stat
import time
import zipfile
from pathlib import Path

from target import current_target

DISTRIBUTION = "agnt-bin"
PACKAGE = "agnt_binary"
SUMMARY = "The agnt command as a self-contained binary: find AI agents, order jobs, get results"
DESCRIPTION = """\
# agnt

The `agnt` command, as one native build that needs no Python packages of its own:

    pip install agnt-bin        # or: pipx install agnt-bin / uv tool install agnt-bin
    agnt --version
    agnt search demo

The same build ships on npm (`npm install -g agnt`). For the Python library and the
command as ordinary Python code, install `agnt-client` / `agnt-cli` instead. Linux wheels
need glibc 2.28 or newer (manylinux_2_28); on Alpine (musl) install `agnt-cli`.

Shell completions for bash, zsh and fish are installed under the environment's `share/`
(and `agnt --install-completion` adds them to your shell's start-up file). License: MIT;
what the binary bundles is listed with its licenses in
`agnt_binary/_internal/THIRD_PARTY_NOTICES.txt`.
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
# Where installers put a wheel's data files: the environment's prefix (PEP 427 .data/data).
COMPLETION_DATA = {
    "agnt.bash": "share/bash-completion/completions/agnt",
    "_agnt": "share/zsh/site-functions/_agnt",
    "agnt.fish": "share/fish/vendor_completions.d/agnt.fish",
}
LICENSE = Path(__file__).resolve().parent.parent / "LICENSE"
_ZIP_MIN_EPOCH = 315532800  # 1980-01-01, the oldest time a zip entry can hold
_VERSION_PATTERN = re.compile(r"^\d+(\.\d+)*((a|b|rc)\d+)?(\.post\d+)?(\.dev\d+)?$")


def _record_hash(data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
    return f"sha256={digest.decode()}"


def zip_date_time() -> tuple[int, int, int, int, int, int]:
    """``SOURCE_DATE_EPOCH`` (default 1980-01-01) as a zip entry's date and time, in UTC."""
    epoch = max(int(os.environ.get("SOURCE_DATE_EPOCH", _ZIP_MIN_EPOCH)), _ZIP_MIN_EPOCH)
    return time.gmtime(epoch)[:6]


def _entry(name: str, executable: bool) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=zip_date_time())
    mode = 0o755 if executable else 0o644
    info.external_attr = (stat.S_IFREG | mode) << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    return info


def wheel_files(build_dir: Path, version: str, tag: str) -> list[tuple[str, bytes, bool]]:
    """Every file of the wheel but RECORD, as (archive name, content, executable)."""
    dist_info = f"{_normalized()}-{version}.dist-info"
    data = f"{_normalized()}-{version}.data/data"
    files: list[tuple[str, bytes, bool]] = [(f"{PACKAGE}/__init__.py", SHIM.encode(), False)]
    for path in sorted(build_dir.rglob("*")):
        # Symlinks are stored as the file they point to: zip has no portable symlink.
        if path.is_dir():
            continue
        relative = path.relative_to(build_dir).as_posix()
        executable = bool(path.stat().st_mode & 0o111)
        files.append((f"{PACKAGE}/{relative}", path.read_bytes(), executable))
    for name, destination in COMPLETION_DATA.items():
        script = build_dir / "completions" / name
        if script.is_file():
            files.append((f"{data}/{destination}", script.read_bytes(), False))
    metadata = (
        "Metadata-Version: 2.4\n"
        f"Name: {DISTRIBUTION}\n"
        f"Version: {version}\n"
        f"Summary: {SUMMARY}\n"
        "License-Expression: MIT\n"
        "License-File: LICENSE\n"
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
    files.append((f"{dist_info}/licenses/LICENSE", LICENSE.read_bytes(), False))
    return files


def _normalized() -> str:
    """The distribution name as wheel file names spell it (PEP 427: ``-`` becomes ``_``)."""
    return DISTRIBUTION.replace("-", "_")


def build_wheel(build_dir: Path, version: str, out_dir: Path) -> Path:
    """Write ``agnt_bin-<version>-py3-none-<platform>.whl`` for the build; return its path."""
    if not _VERSION_PATTERN.match(version):
        raise SystemExit(f"{version!r} is not a plain PEP 440 version")
    tag = f"py3-none-{current_target().wheel_platform_tag(build_dir)}"
    out_dir.mkdir(parents=True, exist_ok=True)
    wheel_path = out_dir / f"{_normalized()}-{version}-{tag}.whl"
    record_name = f"{_normalized()}-{version}.dist-info/RECORD"
    record_lines: list[str] = []
    with zipfile.ZipFile(wheel_path, "w") as wheel:
        for name, data, executable in wheel_files(build_dir, version, tag):
            wheel.writestr(_entry(name, executable), data)
            record_lines.append(f"{name},{_record_hash(data)},{len(data)}")
        record_lines.append(f"{record_name},,")
        wheel.writestr(_entry(record_name, False), "\n".join(record_lines) + "\n")
    return wheel_path
