"""The platform a build of `agnt` is for, named the way each wrapper names it.

One build directory per platform, ``dist/agnt-<os>-<arch>/``, uses Node's names
(``linux-x64``, ``darwin-arm64``, ``win32-x64``) because the npm platform packages
(``agnt-<os>-<arch>``) must match ``process.platform`` / ``process.arch``; the wheel
tag is derived from the same build.
"""

from __future__ import annotations

import platform
import re
import sys
import sysconfig
from dataclasses import dataclass
from pathlib import Path

NPM_OS = {"linux": "linux", "darwin": "darwin", "win32": "win32"}
NPM_CPU = {
    "x86_64": "x64",
    "amd64": "x64",
    "aarch64": "arm64",
    "arm64": "arm64",
}
SUPPORTED = ("linux-x64", "linux-arm64", "darwin-x64", "darwin-arm64", "win32-x64")

_WHEEL_CPU = {
    ("linux", "x64"): "x86_64",
    ("linux", "arm64"): "aarch64",
    ("darwin", "x64"): "x86_64",
    ("darwin", "arm64"): "arm64",
}
_GLIBC_SYMBOL = re.compile(rb"GLIBC_2\.(\d+)(?:\.\d+)?\x00")


class UnsupportedPlatformError(RuntimeError):
    """The machine is not one of the platforms agnt publishes a binary for."""


@dataclass(frozen=True)
class Target:
    """One platform: its npm ``os``/``cpu`` pair and the file names that follow from it."""

    os: str
    cpu: str

    @property
    def name(self) -> str:
        """``<os>-<arch>`` as in ``dist/agnt-linux-x64`` and the npm package ``agnt-linux-x64``."""
        return f"{self.os}-{self.cpu}"

    @property
    def exe_name(self) -> str:
        """File name of the executable inside the build directory."""
        return "agnt.exe" if self.os == "win32" else "agnt"

    @property
    def npm_package(self) -> str:
        """Name of the npm package that carries this platform's build."""
        return f"agnt-{self.name}"

    def build_dir(self, dist_dir: Path) -> Path:
        """The onedir build of this platform under ``dist_dir``."""
        return dist_dir / f"agnt-{self.name}"

    def wheel_platform_tag(self, build_dir: Path) -> str:
        """The wheel platform tag the build in ``build_dir`` can honestly claim.

        On Linux it is ``manylinux_2_<N>_<arch>`` with N the newest glibc symbol version that
        any file of the build needs, so pip refuses the wheel where the binary could not run.
        """
        if self.os == "win32":
            return "win_amd64"
        if self.os == "darwin":
            # The bundled interpreter's deployment target, e.g. "macosx-11.0-arm64".
            _, release, _ = sysconfig.get_platform().split("-")
            major, minor = release.split(".")[:2]
            if int(major) >= 11:
                minor = "0"  # pip only generates macosx_<major>_0 tags from macOS 11 on
            return f"macosx_{major}_{minor}_{_WHEEL_CPU[(self.os, self.cpu)]}"
        return f"manylinux_2_{required_glibc_minor(build_dir)}_{_WHEEL_CPU[(self.os, self.cpu)]}"


def current_target() -> Target:
    """The platform this Python runs on, or UnsupportedPlatformError."""
    os_name = NPM_OS.get(sys.platform)
    cpu = NPM_CPU.get(platform.machine().lower())
    if os_name is None or cpu is None or f"{os_name}-{cpu}" not in SUPPORTED:
        raise UnsupportedPlatformError(
            f"no agnt binary for {sys.platform}/{platform.machine()}; "
            f"supported: {', '.join(SUPPORTED)}"
        )
    if os_name == "linux" and platform.libc_ver()[0] != "glibc":
        raise UnsupportedPlatformError(
            "the Linux binary is built for glibc (manylinux_2_28); on musl (Alpine) "
            "install the Python package instead: pip install agnt-cli"
        )
    return Target(os=os_name, cpu=cpu)


def required_glibc_minor(build_dir: Path) -> int:
    """Newest ``GLIBC_2.N`` symbol version referenced by any ELF file of the build."""
    newest = 17  # manylinux2014, the oldest tag pip still understands
    for path in build_dir.rglob("*"):
        if not path.is_file() or path.is_symlink():
            continue
        with path.open("rb") as handle:
            if handle.read(4) != b"\x7fELF":
                continue
            data = handle.read()
        for match in _GLIBC_SYMBOL.finditer(data):
            newest = max(newest, int(match.group(1)))
    return newest
