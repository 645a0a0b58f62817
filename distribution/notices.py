"""THIRD_PARTY_NOTICES.txt of the `agnt` binary, generated from what the build bundles.

agnt.spec calls ``write_notices`` after PyInstaller's analysis: the bundled Python modules
are mapped to their installed distributions (name, version, license, and the license files
their dist-info carries, e.g. certifi's MPL-2.0), the interpreter adds CPython's LICENSE
(which covers what CPython incorporates), and each bundled shared library outside the
interpreter (OpenSSL's libssl/libcrypto, ...) is named with its license, with the license
text of the operating system's package where the build machine has one (dpkg or rpm).
"""

from __future__ import annotations

import re
import shutil
import ssl
import subprocess
import sys
import sysconfig
from collections.abc import Iterable
from importlib import metadata
from pathlib import Path

HEADER = """\
Third-party software in the agnt binary
=======================================

agnt itself is under the MIT license (LICENSE beside this file). The binary bundles the
software below; each entry names its version and license and carries its license text.
"""
# Shared libraries a build may bundle: (file name prefix, component, SPDX license, where).
SHARED_LIBRARIES = [
    ("libssl", "OpenSSL", "Apache-2.0", "https://www.openssl.org/source/license.html"),
    ("libcrypto", "OpenSSL", "Apache-2.0", "https://www.openssl.org/source/license.html"),
    ("libffi", "libffi", "MIT", "https://github.com/libffi/libffi/blob/master/LICENSE"),
    ("libz.", "zlib", "Zlib", "https://zlib.net/zlib_license.html"),
    ("libbz2", "bzip2", "bzip2-1.0.6", "https://sourceware.org/bzip2/"),
    ("liblzma", "XZ Utils (liblzma)", "0BSD", "https://tukaani.org/xz/"),
    ("libexpat", "Expat", "MIT", "https://github.com/libexpat/libexpat"),
    ("libmpdec", "mpdecimal", "BSD-2-Clause", "https://www.bytereef.org/mpdecimal/"),
    ("libuuid", "libuuid (util-linux)", "BSD-3-Clause", "https://github.com/util-linux"),
]
_MODULE_NAME = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)")
_LICENSE_FILE = re.compile(r"(LICEN[CS]E|COPYING|NOTICE|AUTHORS)", re.IGNORECASE)


def bundled_distributions(module_names: Iterable[str]) -> list[metadata.Distribution]:
    """The installed distributions that provide the given (dotted or file) module names.

    The standard library maps to none; the agnt packages are ours (LICENSE) and left out.
    """
    providers = metadata.packages_distributions()
    names: set[str] = set()
    for module in module_names:
        match = _MODULE_NAME.match(module.replace("\\", "/").split("/")[0])
        if match:
            names.update(providers.get(match.group(1), []))
    distributions = {}
    for name in names:
        if name.lower().startswith("agnt"):
            continue
        distribution = metadata.distribution(name)
        distributions[distribution.metadata["Name"].lower()] = distribution
    return [distributions[key] for key in sorted(distributions)]


def license_of(distribution: metadata.Distribution) -> str:
    """The SPDX expression, else the License field, else the license classifiers."""
    meta = distribution.metadata
    expression = meta.get("License-Expression")
    if expression:
        return str(expression)
    classifiers = [
        c.rsplit(" :: ", 1)[-1] for c in meta.get_all("Classifier") or [] if "License ::" in c
    ]
    field = meta.get("License")
    if field and len(field) < 80 and "\n" not in field:
        return str(field)
    return ", ".join(classifiers) or "see the license text below"


def license_texts(distribution: metadata.Distribution) -> list[tuple[str, str]]:
    """(file name, text) of the license files in the distribution's dist-info."""
    texts = []
    for file in distribution.files or []:
        parts = file.parts
        if not parts[0].endswith(".dist-info") or not _LICENSE_FILE.search(file.name):
            continue
        text = distribution.read_text(str(Path(*parts[1:])))
        if text:
            texts.append((file.name, text))
    return sorted(texts)


def cpython_license() -> str:
    """The interpreter's LICENSE: the PSF license and what CPython incorporates."""
    candidates = [
        Path(sysconfig.get_paths()["stdlib"]) / "LICENSE.txt",
        Path(sys.base_prefix) / "LICENSE.txt",
        Path(sys.base_prefix) / "share" / "doc" / "python3" / "LICENSE",
    ]
    for path in candidates:
        if path.is_file():
            return path.read_text(errors="replace")
    return "Python Software Foundation License Version 2: https://docs.python.org/3/license.html\n"


def os_package_license(library: Path) -> str | None:
    """The license text the OS package of ``library`` installed (Debian or RPM), if any."""
    if shutil.which("dpkg"):
        found = subprocess.run(["dpkg", "-S", str(library)], capture_output=True, text=True)
        if found.returncode == 0:
            package = found.stdout.split(":", 1)[0]
            copyright_file = Path("/usr/share/doc") / package / "copyright"
            if copyright_file.is_file():
                return copyright_file.read_text(errors="replace")
    if shutil.which("rpm"):
        found = subprocess.run(
            ["rpm", "-qf", "--qf", "%{NAME}", str(library)], capture_output=True, text=True
        )
        if found.returncode == 0:
            directory = Path("/usr/share/licenses") / found.stdout.strip()
            texts = [p.read_text(errors="replace") for p in sorted(directory.glob("*"))]
            if texts:
                return "\n".join(texts)
    return None


def shared_library_notices(binaries: Iterable[tuple[str, str]]) -> list[str]:
    """A notice for each bundled shared library of a known component, one per component."""
    notices: dict[str, str] = {}
    for name, source in binaries:
        file_name = Path(name).name
        for prefix, component, spdx, where in SHARED_LIBRARIES:
            if not file_name.startswith(prefix) or component in notices:
                continue
            version = f" ({ssl.OPENSSL_VERSION})" if component == "OpenSSL" else ""
            text = os_package_license(Path(source).resolve()) or f"License text: {where}\n"
            notices[component] = _section(f"{component}{version}", spdx, [(file_name, text)])
    return [notices[key] for key in sorted(notices)]


def _section(title: str, license_name: str, texts: list[tuple[str, str]]) -> str:
    lines = [f"{title}\n{'-' * len(title)}\nLicense: {license_name}\n"]
    for file_name, text in texts:
        lines.append(f"--- {file_name} ---\n{text.rstrip()}\n")
    return "\n".join(lines)


def notices_text(module_names: Iterable[str], binaries: Iterable[tuple[str, str]]) -> str:
    """The whole notices file for a build with these modules and (name, source) binaries."""
    binaries = list(binaries)
    python = ".".join(str(part) for part in sys.version_info[:3])
    sections = [HEADER, _section(f"CPython {python}", "PSF-2.0", [("LICENSE", cpython_license())])]
    sections += shared_library_notices(binaries)
    names = list(module_names) + [name for name, _ in binaries]
    for distribution in bundled_distributions(names):
        title = f"{distribution.metadata['Name']} {distribution.version}"
        sections.append(_section(title, license_of(distribution), license_texts(distribution)))
    return "\n\n".join(sections)


def write_notices(
    path: Path, module_names: Iterable[str], binaries: Iterable[tuple[str, str]]
) -> Path:
    """Write THIRD_PARTY_NOTICES.txt to ``path``; return it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(notices_text(module_names, binaries), encoding="utf-8")
    return path
