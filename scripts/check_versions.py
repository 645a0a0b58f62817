"""Check that every workspace package that changed since its last release has a new version.

Each package under ``packages/`` is released on its own, from a tag ``<package>-v<version>``
(``agnt-client-v0.2.0``). For each package this lists what changed since its newest tag and
fails when shipped files changed but ``pyproject.toml`` still has the tagged version, when
the version went backwards, or when a bumped version has no entry in the package's
CHANGELOG.md. A package with no tag yet is unreleased and passes. Tagged or not, a
``__version__`` in the package's source must equal its pyproject.toml version.

What ships under a version is more than the package's directory: agnt-api's wheel carries
``migrations/``; agnt-cli's version is also that of the `agnt` binary and its npm and pip
wrappers, which bundle ``distribution/``, agnt-client and agnt-models, and the locked
versions of every third-party package they bundle (and of PyInstaller, which builds them).

    uv run python scripts/check_versions.py                       # CI
    uv run python scripts/check_versions.py --release-tag agnt-cli-v0.2.0
        # the release workflow: the tag names a package whose pyproject has that version
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

from packaging.version import InvalidVersion, Version

# What of packages/<name>/ ships in its wheel (code, dependencies, the PyPI description);
# tests and the CHANGELOG's "Unreleased" notes can change without a release.
SHIPPED_PREFIXES = ("src/", "pyproject.toml", "README.md", "LICENSE", "hatch_build.py")
# Sources outside packages/<name>/ that ship under a package's version.
EXTRA_SOURCES = {
    "agnt-api": ("migrations",),
    "agnt-cli": (
        "distribution",
        "LICENSE",
        "packages/agnt-client/src",
        "packages/agnt-client/pyproject.toml",
        "packages/agnt-models/src",
        "packages/agnt-models/pyproject.toml",
    ),
}
# Packages whose release bundles the locked third-party closure of these roots (uv.lock).
LOCK_BUNDLES = {"agnt-cli": ("agnt-cli", "pyinstaller")}
VERSION_ASSIGNMENT = re.compile(r"""^__version__\s*=\s*["']([^"']+)["']""", re.MULTILINE)
TAG_PATTERN = re.compile(r"^(?P<package>[a-z0-9][a-z0-9-]*)-v(?P<version>\d[^\s]*)$")


@dataclass(frozen=True)
class Package:
    """A workspace package: its name, current version and directory in the repository."""

    name: str
    version: Version
    directory: str


@dataclass(frozen=True)
class Verdict:
    """What the check found for one package; ``problem`` is None when it passes."""

    package: Package
    last_tag: str | None
    changed: list[str]
    problem: str | None


def git(repo: Path, *args: str) -> str:
    """Run git in ``repo`` and return its stdout."""
    out = subprocess.run(
        ["git", "-C", str(repo), *args], check=True, capture_output=True, text=True
    )
    return out.stdout


def workspace_packages(repo: Path) -> list[Package]:
    """Every ``packages/*/pyproject.toml`` with its name and version."""
    packages = []
    for pyproject in sorted((repo / "packages").glob("*/pyproject.toml")):
        project = tomllib.loads(pyproject.read_text())["project"]
        directory = pyproject.parent.relative_to(repo).as_posix()
        packages.append(Package(project["name"], Version(project["version"]), directory))
    return packages


def release_tags(repo: Path, package: str) -> list[tuple[Version, str]]:
    """The package's release tags, oldest version first; tags with a bad version are skipped."""
    tags = []
    for tag in git(repo, "tag", "--list", f"{package}-v*").split():
        match = TAG_PATTERN.match(tag)
        if match is None or match["package"] != package:
            continue
        try:
            tags.append((Version(match["version"]), tag))
        except InvalidVersion:
            continue
    return sorted(tags)


def shipped_changes(repo: Path, package: Package, since: str, rev: str) -> list[str]:
    """Files of ``package`` that ship in its wheel and differ between ``since`` and ``rev``."""
    paths = [package.directory, *EXTRA_SOURCES.get(package.name, ())]
    changed = git(repo, "diff", "--name-only", since, rev, "--", *paths).splitlines()
    prefix = package.directory + "/"
    return [
        path
        for path in changed
        if not path.startswith(prefix) or path.removeprefix(prefix).startswith(SHIPPED_PREFIXES)
    ]


def locked_closure(repo: Path, rev: str, roots: tuple[str, ...]) -> dict[str, str]:
    """``{name: version}`` of the third-party packages uv.lock at ``rev`` pulls in for ``roots``."""
    try:
        text = git(repo, "show", f"{rev}:uv.lock")
    except subprocess.CalledProcessError:
        return {}
    packages = {entry["name"]: entry for entry in tomllib.loads(text).get("package", [])}
    versions: dict[str, str] = {}
    seen: set[str] = set()
    todo = list(roots)
    while todo:
        name = todo.pop()
        if name in seen or name not in packages:
            continue
        seen.add(name)
        entry = packages[name]
        source = entry.get("source", {})
        if not ({"editable", "virtual", "directory"} & set(source)):
            versions[name] = str(entry.get("version"))
        todo.extend(dependency["name"] for dependency in entry.get("dependencies", []))
    return versions


def bundled_lock_changes(repo: Path, package: Package, since: str, rev: str) -> list[str]:
    """``uv.lock: name old -> new`` for each bundled third-party package that changed."""
    roots = LOCK_BUNDLES.get(package.name)
    if roots is None:
        return []
    old, new = locked_closure(repo, since, roots), locked_closure(repo, rev, roots)
    return [
        f"uv.lock: {name} {old.get(name, '-')} -> {new.get(name, '-')}"
        for name in sorted(set(old) | set(new))
        if old.get(name) != new.get(name)
    ]


def changelog_mentions(repo: Path, package: Package, version: Version) -> bool:
    """Whether the package's CHANGELOG.md has a heading for ``version``."""
    changelog = repo / package.directory / "CHANGELOG.md"
    if not changelog.is_file():
        return False
    heading = re.compile(rf"^#+\s*\[?v?{re.escape(str(version))}\]?(\s|$)", re.MULTILINE)
    return heading.search(changelog.read_text()) is not None


def source_version_mismatch(repo: Path, package: Package) -> str | None:
    """A ``__version__`` literal in the package's source that disagrees with pyproject.toml.

    `agnt --version` and the client's User-Agent print ``__version__``; a release must not
    say one version on PyPI and another at run time.
    """
    for module in sorted((repo / package.directory / "src").glob("*/")):
        for candidate in ("__init__.py", "__version__.py"):
            path = module / candidate
            if not path.is_file():
                continue
            match = VERSION_ASSIGNMENT.search(path.read_text())
            if match and Version(match[1]) != package.version:
                relative = path.relative_to(repo).as_posix()
                return f"{relative} says __version__ {match[1]}, pyproject.toml {package.version}"
    return None


def check_package(repo: Path, package: Package, rev: str) -> Verdict:
    """The verdict for one package against its newest release tag."""
    mismatch = source_version_mismatch(repo, package)
    tags = release_tags(repo, package.name)
    if not tags:
        return Verdict(package, None, [], mismatch)
    tagged_version, tag = tags[-1]
    changed = shipped_changes(repo, package, tag, rev) + bundled_lock_changes(
        repo, package, tag, rev
    )
    problem = mismatch or _problem_since_tag(repo, package, tag, tagged_version, changed)
    return Verdict(package, tag, changed, problem)


def _problem_since_tag(
    repo: Path, package: Package, tag: str, tagged_version: Version, changed: list[str]
) -> str | None:
    if package.version < tagged_version:
        return f"version {package.version} is older than the released {tagged_version}"
    if changed and package.version == tagged_version:
        return (
            f"changed since {tag} but the version is still {package.version}: "
            f"bump it in {package.directory}/pyproject.toml and add a CHANGELOG entry"
        )
    if package.version > tagged_version and not changelog_mentions(repo, package, package.version):
        return f"{package.directory}/CHANGELOG.md has no entry for {package.version}"
    return None


def check_release_tag(repo: Path, tag: str) -> str | None:
    """The problem with releasing ``tag``, or None when it names a package at that version."""
    match = TAG_PATTERN.match(tag)
    if match is None:
        return f"{tag!r} is not a release tag <package>-v<version>"
    by_name = {package.name: package for package in workspace_packages(repo)}
    package = by_name.get(match["package"])
    if package is None:
        return f"no workspace package named {match['package']!r} (tag {tag})"
    try:
        version = Version(match["version"])
    except InvalidVersion:
        return f"{match['version']!r} in {tag} is not a version"
    if version != package.version:
        return f"{tag} says {version} but {package.directory}/pyproject.toml has {package.version}"
    if not changelog_mentions(repo, package, version):
        return f"{package.directory}/CHANGELOG.md has no entry for {version}"
    return source_version_mismatch(repo, package)


def report(verdicts: list[Verdict]) -> str:
    """A table of every package: version, last tag, changed files, verdict."""
    lines = []
    for verdict in verdicts:
        package = verdict.package
        if verdict.problem:
            state = f"FAIL: {verdict.problem}"
        elif verdict.last_tag is None:
            state = "unreleased (no tag yet)"
        elif verdict.changed:
            state = f"ok: bumped, release as {package.name}-v{package.version}"
        else:
            state = "ok: unchanged"
        lines.append(
            f"{package.name:<16} {package.version!s:<10} {verdict.last_tag or '-':<24} "
            f"{len(verdict.changed):>3} changed  {state}"
        )
        lines.extend(f"    {path}" for path in verdict.changed if verdict.problem)
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the check; return the process exit code."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repo", type=Path, default=Path(__file__).resolve().parent.parent)
    parser.add_argument("--rev", default="HEAD", help="revision to check (default HEAD)")
    parser.add_argument("--release-tag", help="check that this tag can be released, and stop")
    args = parser.parse_args(argv)
    repo: Path = args.repo

    if args.release_tag:
        problem = check_release_tag(repo, args.release_tag)
        if problem:
            print(f"FAIL: {problem}", file=sys.stderr)
            return 1
        print(f"ok: {args.release_tag} matches its package's version")
        return 0

    verdicts = [check_package(repo, package, args.rev) for package in workspace_packages(repo)]
    print(report(verdicts))
    if all(verdict.last_tag is None for verdict in verdicts):
        print("no release tags yet: nothing to compare, every package is unreleased")
    failed = [verdict.package.name for verdict in verdicts if verdict.problem]
    if failed:
        print(f"FAIL: {', '.join(failed)} changed without a proper version bump", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
