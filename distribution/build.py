"""Build the `agnt` binary once and wrap it for npm and pip.

    uv run python distribution/build.py all        # binary, then both wrappers
    uv run python distribution/build.py binary     # dist/agnt-<os>-<arch>/
    uv run python distribution/build.py npm        # dist/npm/*.tgz from the existing binary
    uv run python distribution/build.py wheel      # dist/pip/agnt_bin-*.whl from the existing binary

The wrappers take the binary from ``--dist-dir`` as it is: the release builds it once per
platform and hands the same directory to both. ``SOURCE_DATE_EPOCH`` (default: the time of
the checked-out commit) sets every timestamp, so the same inputs give the same bytes.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

from npm_packages import pack_npm_packages
from pip_wheel import build_wheel
from target import current_target, required_glibc_minor

DISTRIBUTION_DIR = Path(__file__).resolve().parent
REPO_ROOT = DISTRIBUTION_DIR.parent
CLI_PYPROJECT = REPO_ROOT / "packages" / "agnt-cli" / "pyproject.toml"


def cli_version() -> str:
    """agnt-cli's version from its pyproject.toml: every wrapper is published under it."""
    import tomllib

    with CLI_PYPROJECT.open("rb") as handle:
        version: str = tomllib.load(handle)["project"]["version"]
    return version


# Where each shell looks for a completion script named after the command.
COMPLETION_FILES = {"bash": "agnt.bash", "zsh": "_agnt", "fish": "agnt.fish"}


def source_date_epoch() -> str:
    """``SOURCE_DATE_EPOCH`` as given, else the commit time of HEAD, else 1980-01-01."""
    given = os.environ.get("SOURCE_DATE_EPOCH")
    if given:
        return given
    commit_time = subprocess.run(
        ["git", "-C", str(REPO_ROOT), "log", "-1", "--format=%ct"],
        capture_output=True,
        text=True,
    )
    return commit_time.stdout.strip() if commit_time.returncode == 0 else "315532800"


def write_completions(build_dir: Path) -> Path:
    """Write the bash, zsh and fish completion scripts into ``build_dir/completions``.

    typer only prints the script of the shell it detects (``--show-completion``), so the
    scripts come from the same typer the binary bundles, for each shell by name; they call
    the `agnt` on PATH, which answers the completion requests itself.
    """
    from typer._completion_shared import get_completion_script

    directory = build_dir / "completions"
    directory.mkdir(exist_ok=True)
    for shell, name in COMPLETION_FILES.items():
        script = get_completion_script(prog_name="agnt", complete_var="_AGNT_COMPLETE", shell=shell)
        (directory / name).write_text(script.strip() + "\n")
    return directory


def build_binary(dist_dir: Path, work_dir: Path) -> Path:
    """Run PyInstaller on agnt.spec; return the onedir build directory."""
    target = current_target()
    build_dir = target.build_dir(dist_dir)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "PyInstaller",
            "--noconfirm",
            "--clean",
            "--log-level=WARN",
            f"--distpath={dist_dir}",
            f"--workpath={work_dir}",
            str(DISTRIBUTION_DIR / "agnt.spec"),
        ],
        check=True,
    )
    write_completions(build_dir)
    return build_dir


def existing_build(dist_dir: Path) -> Path:
    """The binary built earlier for this platform, or SystemExit naming the command to run."""
    build_dir = current_target().build_dir(dist_dir)
    if not (build_dir / current_target().exe_name).is_file():
        raise SystemExit(f"{build_dir} has no agnt binary: run `build.py binary` first")
    return build_dir


def main(argv: list[str] | None = None) -> None:
    """Parse the command line and run the requested steps."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("step", choices=["all", "binary", "npm", "wheel"])
    parser.add_argument("--dist-dir", type=Path, default=REPO_ROOT / "dist")
    parser.add_argument("--work-dir", type=Path, default=REPO_ROOT / "build" / "pyinstaller")
    parser.add_argument(
        "--out-dir", type=Path, default=None, help="where npm/ and pip/ go (default: --dist-dir)"
    )
    parser.add_argument(
        "--max-glibc",
        type=int,
        default=None,
        help="fail when the Linux build needs a glibc 2.N newer than this (the wheel's tag)",
    )
    parser.add_argument(
        "--version", default=None, help="version of the wrappers (default: agnt-cli's)"
    )
    args = parser.parse_args(argv)
    dist_dir: Path = args.dist_dir.resolve()
    version: str = args.version or cli_version()
    os.environ["SOURCE_DATE_EPOCH"] = source_date_epoch()

    if args.step in ("all", "binary"):
        build_dir = build_binary(dist_dir, args.work_dir.resolve())
        print(f"binary: {build_dir}")
    else:
        build_dir = existing_build(dist_dir)
    if args.max_glibc is not None and current_target().os == "linux":
        needed = required_glibc_minor(build_dir)
        if needed > args.max_glibc:
            raise SystemExit(f"the build needs glibc 2.{needed}, newer than 2.{args.max_glibc}")
    out_dir: Path = (args.out_dir or dist_dir).resolve()
    if args.step in ("all", "npm"):
        for tarball in pack_npm_packages(build_dir, version, out_dir / "npm"):
            print(f"npm: {tarball}")
    if args.step in ("all", "wheel"):
        print(f"wheel: {build_wheel(build_dir, version, out_dir / 'pip')}")


if __name__ == "__main__":
    main()
