"""Stage and `npm pack` the two npm packages: the launcher `agnt` and `@agnt/cli-<os>-<arch>`.

The launcher source lives in ``distribution/npm/agnt``; the platform package is generated
around the onedir build (``bin/agnt`` beside its contents directory). Both get the given
version, and the launcher's optionalDependencies pin every platform package to it.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from target import SUPPORTED, Target, current_target

LAUNCHER_SOURCE = Path(__file__).resolve().parent / "npm" / "agnt"


def stage_launcher(version: str, stage_dir: Path) -> Path:
    """Copy the launcher package into ``stage_dir/agnt`` with ``version`` everywhere."""
    package_dir = stage_dir / "agnt"
    shutil.copytree(LAUNCHER_SOURCE, package_dir)
    manifest_path = package_dir / "package.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["version"] = version
    manifest["optionalDependencies"] = {
        Target(*name.split("-")).npm_package: version for name in SUPPORTED
    }
    manifest_path.write_text(json.dumps(manifest, indent=2) + "\n")
    return package_dir


def stage_platform_package(build_dir: Path, target: Target, version: str, stage_dir: Path) -> Path:
    """Generate ``@agnt/cli-<os>-<arch>`` around the onedir build in ``build_dir``."""
    package_dir = stage_dir / f"cli-{target.name}"
    # Symlinks are copied as files: npm pack leaves them out of the tarball.
    shutil.copytree(build_dir, package_dir / "bin")
    manifest: dict[str, object] = {
        "name": target.npm_package,
        "version": version,
        "description": f"The agnt binary for {target.name}; installed by the `agnt` package",
        "os": [target.os],
        "cpu": [target.cpu],
        "files": ["bin/"],
        # Yarn PnP would otherwise keep the binary inside a zip archive it cannot run from.
        "preferUnplugged": True,
    }
    if target.os == "linux":
        # The build links against glibc; npm skips the package on musl (Alpine).
        manifest["libc"] = ["glibc"]
    (package_dir / "package.json").write_text(json.dumps(manifest, indent=2) + "\n")
    (package_dir / "README.md").write_text(
        f"# {target.npm_package}\n\nThe native `agnt` build for {target.name}. "
        "Install `agnt` instead; it depends on this package where it fits.\n"
    )
    return package_dir


def npm_pack(package_dir: Path, out_dir: Path) -> Path:
    """`npm pack` ``package_dir`` into ``out_dir``; return the tarball."""
    npm = shutil.which("npm")
    if npm is None:
        raise SystemExit("npm is not on PATH: install Node.js to build the npm packages")
    out = subprocess.run(
        [npm, "pack", "--json", "--pack-destination", str(out_dir)],
        cwd=package_dir,
        check=True,
        capture_output=True,
        text=True,
    )
    filename: str = json.loads(out.stdout)[0]["filename"]
    return out_dir / filename


def pack_npm_packages(build_dir: Path, version: str, out_dir: Path) -> list[Path]:
    """Build both npm tarballs for this platform's build; return [platform, launcher]."""
    stage_dir = out_dir / "stage"
    if stage_dir.exists():
        shutil.rmtree(stage_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    target = current_target()
    platform_dir = stage_platform_package(build_dir, target, version, stage_dir)
    launcher_dir = stage_launcher(version, stage_dir)
    return [npm_pack(platform_dir, out_dir), npm_pack(launcher_dir, out_dir)]
