"""scripts/check_versions.py against real git repositories made in a temp directory."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "check_versions.py"
GIT_ENV = {
    "GIT_AUTHOR_NAME": "test",
    "GIT_AUTHOR_EMAIL": "test@example.invalid",
    "GIT_COMMITTER_NAME": "test",
    "GIT_COMMITTER_EMAIL": "test@example.invalid",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_CONFIG_NOSYSTEM": "1",
}


class Repo:
    """A throwaway git repository shaped like the workspace: packages/<name>/pyproject.toml."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.git("init", "-q", "-b", "main")

    def git(self, *args: str) -> str:
        out = subprocess.run(
            ["git", *args],
            cwd=self.root,
            env={**os.environ, **GIT_ENV},
            check=True,
            capture_output=True,
            text=True,
        )
        return out.stdout

    def write(self, relative: str, text: str) -> None:
        path = self.root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)

    def package(self, name: str, version: str, changelog: tuple[str, ...] = ()) -> None:
        self.write(
            f"packages/{name}/pyproject.toml",
            f'[project]\nname = "{name}"\nversion = "{version}"\n',
        )
        module = name.replace("-", "_")
        self.write(f"packages/{name}/src/{module}/__init__.py", '"""pkg."""\n')
        if changelog:
            entries = "".join(f"## {entry}\n\n- changes\n\n" for entry in changelog)
            self.write(f"packages/{name}/CHANGELOG.md", f"# Changelog\n\n{entries}")

    def commit(self, message: str = "change") -> None:
        self.git("add", "-A")
        self.git("commit", "-q", "-m", message)

    def tag(self, name: str) -> None:
        self.git("tag", name)

    def check(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, str(SCRIPT), "--repo", str(self.root), *args],
            capture_output=True,
            text=True,
        )


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    repo = Repo(tmp_path)
    repo.package("agnt-models", "0.1.0", ("0.1.0",))
    repo.package("agnt-client", "0.1.0", ("0.1.0",))
    repo.commit("initial")
    return repo


def test_no_tags_passes_and_says_so(repo: Repo) -> None:
    result = repo.check()
    assert result.returncode == 0, result.stderr
    assert "no release tags yet" in result.stdout
    assert "agnt-client" in result.stdout and "unreleased" in result.stdout


def test_tagged_package_unchanged_since_its_tag_passes(repo: Repo) -> None:
    repo.tag("agnt-client-v0.1.0")
    result = repo.check()
    assert result.returncode == 0, result.stderr
    assert "ok: unchanged" in result.stdout


def test_change_without_version_bump_fails_naming_package_and_file(repo: Repo) -> None:
    repo.tag("agnt-client-v0.1.0")
    repo.write("packages/agnt-client/src/agnt_client/__init__.py", '"""pkg, changed."""\n')
    repo.commit()
    result = repo.check()
    assert result.returncode == 1
    assert "agnt-client" in result.stderr
    assert "still 0.1.0" in result.stdout
    assert "packages/agnt-client/src/agnt_client/__init__.py" in result.stdout


def test_change_of_untagged_package_passes(repo: Repo) -> None:
    repo.tag("agnt-client-v0.1.0")
    repo.write("packages/agnt-models/src/agnt_models/__init__.py", '"""changed."""\n')
    repo.commit()
    result = repo.check()
    assert result.returncode == 0, result.stdout + result.stderr


def test_change_with_bump_and_changelog_entry_passes(repo: Repo) -> None:
    repo.tag("agnt-client-v0.1.0")
    repo.package("agnt-client", "0.2.0", ("0.2.0", "0.1.0"))
    repo.write("packages/agnt-client/src/agnt_client/__init__.py", '"""pkg, changed."""\n')
    repo.commit()
    result = repo.check()
    assert result.returncode == 0, result.stdout + result.stderr
    assert "release as agnt-client-v0.2.0" in result.stdout


def test_bump_without_changelog_entry_fails(repo: Repo) -> None:
    repo.tag("agnt-client-v0.1.0")
    repo.package("agnt-client", "0.2.0", ("0.1.0",))
    repo.commit()
    result = repo.check()
    assert result.returncode == 1
    assert "no entry for 0.2.0" in result.stdout


def test_version_older_than_released_fails(repo: Repo) -> None:
    repo.tag("agnt-client-v0.3.0")
    result = repo.check()
    assert result.returncode == 1
    assert "older than the released 0.3.0" in result.stdout


def test_test_and_changelog_only_changes_need_no_release(repo: Repo) -> None:
    repo.tag("agnt-client-v0.1.0")
    repo.write("packages/agnt-client/tests/test_new.py", "def test_x() -> None: ...\n")
    repo.write("packages/agnt-client/CHANGELOG.md", "# Changelog\n\n## Unreleased\n\n## 0.1.0\n")
    repo.commit()
    result = repo.check()
    assert result.returncode == 0, result.stdout + result.stderr


def test_newest_tag_is_chosen_by_version_not_by_name(repo: Repo) -> None:
    repo.tag("agnt-client-v0.9.0")
    repo.package("agnt-client", "0.10.0", ("0.10.0",))
    repo.commit()
    repo.tag("agnt-client-v0.10.0")
    result = repo.check()
    assert result.returncode == 0, result.stdout + result.stderr
    assert "agnt-client-v0.10.0" in result.stdout


def test_migrations_count_as_agnt_api_changes(tmp_path: Path) -> None:
    repo = Repo(tmp_path)
    repo.package("agnt-api", "0.1.0", ("0.1.0",))
    repo.write("migrations/env.py", "# env\n")
    repo.commit()
    repo.tag("agnt-api-v0.1.0")
    repo.write("migrations/versions/0002_more.py", "# new revision\n")
    repo.commit()
    result = repo.check()
    assert result.returncode == 1
    assert "migrations/versions/0002_more.py" in result.stdout


def test_release_tag_matching_the_package_version_passes(repo: Repo) -> None:
    result = repo.check("--release-tag", "agnt-client-v0.1.0")
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    ("tag", "message"),
    [
        ("agnt-client-v0.2.0", "pyproject.toml has 0.1.0"),
        ("agnt-nothing-v0.1.0", "no workspace package named 'agnt-nothing'"),
        ("v0.1.0", "is not a release tag"),
    ],
)
def test_release_tag_not_matching_a_package_version_fails(
    repo: Repo, tag: str, message: str
) -> None:
    result = repo.check("--release-tag", tag)
    assert result.returncode == 1
    assert message in result.stderr


def test_source_version_disagreeing_with_pyproject_fails_even_untagged(repo: Repo) -> None:
    repo.write("packages/agnt-client/src/agnt_client/__version__.py", '__version__ = "0.0.9"\n')
    repo.commit()
    result = repo.check()
    assert result.returncode == 1
    assert "packages/agnt-client/src/agnt_client/__version__.py says __version__ 0.0.9" in (
        result.stdout
    )


def test_release_tag_fails_when_source_version_disagrees(repo: Repo) -> None:
    repo.write("packages/agnt-client/src/agnt_client/__init__.py", '__version__ = "0.2.0"\n')
    repo.commit()
    result = repo.check("--release-tag", "agnt-client-v0.1.0")
    assert result.returncode == 1
    assert "says __version__ 0.2.0" in result.stderr


def lock(*packages: tuple[str, str, tuple[str, ...]]) -> str:
    """A uv.lock with (name, version, dependencies); agnt-* are workspace members."""
    entries = []
    for name, version, dependencies in packages:
        source = (
            f'{{ editable = "packages/{name}" }}'
            if name.startswith("agnt-")
            else '{ registry = "https://pypi.org/simple" }'
        )
        deps = ", ".join(f'{{ name = "{d}" }}' for d in dependencies)
        entries.append(
            f'[[package]]\nname = "{name}"\nversion = "{version}"\nsource = {source}\n'
            f"dependencies = [{deps}]\n"
        )
    return "version = 1\n\n" + "\n".join(entries)


@pytest.fixture
def cli_repo(tmp_path: Path) -> Repo:
    """agnt-cli released at 0.1.0, bundling agnt-client, agnt-models and typer (uv.lock)."""
    repo = Repo(tmp_path)
    for name in ("agnt-models", "agnt-client", "agnt-cli", "agnt-api"):
        repo.package(name, "0.1.0", ("0.1.0",))
    repo.write("distribution/agnt.spec", "# spec\n")
    repo.write(
        "uv.lock",
        lock(
            ("agnt-cli", "0.1.0", ("agnt-client", "typer")),
            ("agnt-client", "0.1.0", ("agnt-models",)),
            ("agnt-models", "0.1.0", ()),
            ("typer", "0.12.0", ()),
            ("pytest", "8.0.0", ()),
        ),
    )
    repo.commit()
    repo.tag("agnt-cli-v0.1.0")
    return repo


@pytest.mark.parametrize(
    "changed",
    [
        "distribution/agnt.spec",
        "packages/agnt-client/src/agnt_client/__init__.py",
        "packages/agnt-models/src/agnt_models/__init__.py",
        "packages/agnt-cli/LICENSE",
    ],
)
def test_what_the_binary_bundles_counts_as_agnt_cli_changes(cli_repo: Repo, changed: str) -> None:
    cli_repo.write(changed, "# changed\n")
    cli_repo.commit()
    result = cli_repo.check()
    assert result.returncode == 1
    assert "agnt-cli" in result.stderr
    assert changed in result.stdout


def test_a_bundled_package_bumped_in_the_lock_counts_as_an_agnt_cli_change(
    cli_repo: Repo,
) -> None:
    text = (cli_repo.root / "uv.lock").read_text()
    cli_repo.write("uv.lock", text.replace('version = "0.12.0"', 'version = "0.13.0"'))
    cli_repo.commit()
    result = cli_repo.check()
    assert result.returncode == 1
    assert "uv.lock: typer 0.12.0 -> 0.13.0" in result.stdout


def test_a_dev_only_package_bumped_in_the_lock_needs_no_release(cli_repo: Repo) -> None:
    text = (cli_repo.root / "uv.lock").read_text()
    cli_repo.write("uv.lock", text.replace('version = "8.0.0"', 'version = "9.0.0"'))
    cli_repo.commit()
    result = cli_repo.check()
    assert result.returncode == 0, result.stdout + result.stderr
