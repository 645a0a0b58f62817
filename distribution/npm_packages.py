"""Stage and `npm pack` the two npm packages: the launcher `agnt` and `agnt-<os>-<arch>`.

The launcher source lives in ``distribution/npm/agnt``; the platform package is generated
around the onedir build (``bin/agnt`` beside its contents directory, the shell completions
in ``bin/completions/``). Both get the given version, the repository's LICENSE and its
``repository.url`` (npm's provenance check compares it with the repository that built it),
and the launcher's optionalDependencies pin every platform package to it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

from target import SUPPORTED, Target, current_target

LAUNCHER_SOURCE = Path(__file__).resolve().parent / "npm" / "agnt"
REPO_ROOT = Path(__file__).resolve().parent.parent
_GITHUB_REMOTE = re.compile(
    r"^(?:git@github\.com:|https://github\.com/)(?P<repo>[^/]+/[^/]+?)(?:\.git)?$"
)


def repository_url() -> str | None:
    """``git+https://github.com/<owner>/<repo>.git`` of the repository being built.

    In GitHub Actions it is the repository running the workflow (what ``npm publish
    --provenance`` checks ``repository.url`` against); elsewhere the ``origin`` remote.
    """
    repository = os.environ.get("GITHUB_REPOSITORY")
    if repository:
        server = os.environ.get("GITHUB_SERVER_URL", "https://github.com")
        return f"git+{server}/{repository}.git"
    remote = subprocess.run(
        ["git", "-C", str(REPO_ROOT), "remote", "get-url", "origin"],
        capture_output=True,
        text=True,
    )
    match = _GITHUB_REMOTE.match(remote.stdout.strip()) if remote.returncode == 0 else None
    return f"git+https://github.com/{match['repo']}.git" if match else None


def _common_fields(manifest: dict[str, object]) -> None:
    """The license and repository every agnt npm package declares."""
    manifest["license"] = "MIT"
    url = repository_url()
    if url is not None:
        manifest["repository"] = {"type": "git", "url": url}


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
    _common_fields(manifest)
    shutil.copyfile(REPO_ROOT / "LICENSE", package_dir / "LICENSE")
    manifest_path.write_text(json.dumps(manifest, indent=2) + "\n")
    return package_dir


def stage_platform_package(build_dir: Path, target: Target, version: str, stage_dir: Path) -> Path:
    """Generate ``agnt-<os>-<arch>`` around the onedir build in ``build_dir``."""
    package_dir = stage_dir / f"cli-{target.name}"
    # Symlinks are copied as files: npm pack leaves them out of the tarball.
    shutil.copytree(build_dir, package_dir / "bin")
    manifest: dict[str, object] = {
        "name": target.npm_package,
        "version": version,
        "description": f"The agnt binary for {target.name}; installed by the `agnt` package",
        "os": [target.os],
        "cpu": [target.cpu],
        "files": ["bin/", "LICENSE"],
        # Yarn PnP would otherwise keep the binary inside a zip archive it cannot run from.
        "preferUnplugged": True,
    }
    if target.os == "linux":
        # The build links against glibc; npm skips the package on musl (Alpine).
        manifest["libc"] = ["glibc"]
    _common_fields(manifest)
    shutil.copyfile(REPO_ROOT / "LICENSE", package_dir / "LICENSE")
    (package_dir / "package.json").write_text(json.dumps(manifest, indent=2) + "\n")
    (package_dir / "README.md").write_text(
        f"# {target.npm_package}\n\nThe native `agnt` build for {target.name}. "
        "Install `agnt` instead (`npm install -g agnt`); it depends on this package where "
        "it fits. Third-party licenses: `bin/_internal/THIRD_PARTY_NOTICES.txt`; shell "
        "completions for bash, zsh and fish: `bin/completions/`.\n"
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
