"""Every workspace package builds as a user's installer would see it: sdist, then a wheel
built from that sdist; and the agnt-api wheel, installed into a fresh venv with no
repository around, migrates and serves on its own without the executor or the client.

Third-party dependencies come from the package registry (uv's cache); the agnt packages
only from the wheels built here (--find-links, --no-sources).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tarfile
import time
import tomllib
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

REPO = Path(__file__).resolve().parent.parent
PACKAGES = sorted(p.parent.name for p in (REPO / "packages").glob("*/pyproject.toml"))
UV = shutil.which("uv")


@dataclass(frozen=True)
class Built:
    """The sdists and wheels of every workspace package, in one directory."""

    out_dir: Path

    def sdist(self, package: str) -> Path:
        (path,) = self.out_dir.glob(f"{package.replace('-', '_')}-*.tar.gz")
        return path

    def wheel(self, package: str) -> Path:
        (path,) = self.out_dir.glob(f"{package.replace('-', '_')}-*.whl")
        return path


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    """`uv build --all-packages`: for each package the sdist, then a wheel from the sdist."""
    if UV is None:
        pytest.fail("uv is not on PATH")
    out_dir = tmp_path_factory.mktemp("built")
    done = subprocess.run(
        [UV, "build", "--all-packages", "--out-dir", str(out_dir), "--no-sources"],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    # uv says so when it builds the wheel from the sdist (its default with both targets).
    assert "Building wheel from source distribution" in done.stderr
    return Built(out_dir)


@pytest.mark.parametrize("package", PACKAGES)
def test_every_package_builds_sdist_and_wheel_with_license(built: Built, package: str) -> None:
    with zipfile.ZipFile(built.wheel(package)) as wheel:
        names = wheel.namelist()
        (metadata_name,) = [n for n in names if n.endswith(".dist-info/METADATA")]
        metadata = wheel.read(metadata_name).decode()
    assert "License-Expression: MIT" in metadata
    assert "License-File: LICENSE" in metadata
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    with tarfile.open(built.sdist(package)) as sdist:
        assert any(n.endswith("/LICENSE") for n in sdist.getnames())


def test_package_licenses_are_the_repository_license() -> None:
    license_text = (REPO / "LICENSE").read_text()
    for package in PACKAGES:
        assert (REPO / "packages" / package / "LICENSE").read_text() == license_text, package
        project = tomllib.loads((REPO / "packages" / package / "pyproject.toml").read_text())
        assert project["project"]["license"] == "MIT", package


def test_api_sdist_carries_migrations_and_its_wheel_ships_them(built: Built) -> None:
    migrations = sorted(p.relative_to(REPO).as_posix() for p in (REPO / "migrations").rglob("*.py"))
    with tarfile.open(built.sdist("agnt-api")) as sdist:
        in_sdist = {n.split("/", 1)[1] for n in sdist.getnames()}
    assert set(migrations) <= in_sdist
    with zipfile.ZipFile(built.wheel("agnt-api")) as wheel:
        in_wheel = set(wheel.namelist())
    assert {f"agnt_api/{name}" for name in migrations} <= in_wheel


def _venv_with(built: Built, venv: Path, requirement: str) -> Path:
    """A fresh venv with ``requirement`` installed; agnt-* only from the built wheels."""
    assert UV is not None
    subprocess.run(
        [UV, "venv", "--quiet", "--python", sys.executable, str(venv)],
        check=True,
        capture_output=True,
    )
    python = venv / "bin" / "python"
    done = subprocess.run(
        [UV, "pip", "install", "--quiet", "--python", str(python)]
        + ["--find-links", str(built.out_dir), "--no-sources", requirement],
        capture_output=True,
        text=True,
        env={k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"},
    )
    assert done.returncode == 0, done.stderr
    return python


@pytest.fixture(scope="module")
def api_venv(built: Built, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with the agnt-api wheel, without the [demo] extra."""
    return _venv_with(built, tmp_path_factory.mktemp("api") / "venv", "agnt-api")


def _installed(python: Path) -> set[str]:
    code = "import importlib.metadata as m, json; print(json.dumps([d.metadata['Name'] for d in m.distributions()]))"
    out = subprocess.run([str(python), "-c", code], check=True, capture_output=True, text=True)
    return {name.lower().replace("_", "-") for name in json.loads(out.stdout)}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_installed_api_wheel_has_no_executor_or_client(api_venv: Path) -> None:
    installed = _installed(api_venv)
    assert {"agnt-api", "agnt-models"} <= installed
    assert installed & {"agnt-executor", "agnt-client"} == set()


def test_installed_api_wheel_migrates_and_serves_outside_the_repository(
    api_venv: Path, tmp_path: Path
) -> None:
    bin_dir = api_venv.parent
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AGNT_", "VIRTUAL_ENV"))}
    env.update(
        AGNT_DATA_DIR=str(tmp_path / "data"),
        AGNT_DATABASE_URL=f"sqlite:///{tmp_path / 'agnt.db'}",
        AGNT_STORAGE_URL=(tmp_path / "objects").as_uri(),
    )
    # Run from a directory with no checkout around: nothing may come from the repository.
    migrate = subprocess.run(
        [str(bin_dir / "agnt-server"), "migrate"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    )
    assert migrate.returncode == 0, migrate.stderr
    assert "database is at revision" in migrate.stderr
    port = _free_port()
    with subprocess.Popen(
        [str(bin_dir / "agnt-server"), "serve", "--host", "127.0.0.1", "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    ) as server:
        try:
            body = _get_when_up(f"http://127.0.0.1:{port}/healthz", server)
        finally:
            server.terminate()
            server.wait(timeout=30)
    assert json.loads(body)


def _get_when_up(url: str, server: subprocess.Popen[bytes]) -> bytes:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            assert server.stdout is not None
            raise AssertionError(server.stdout.read().decode())
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                assert response.status == 200
                body: bytes = response.read()
                return body
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"{url} never answered")


def test_demo_without_the_extra_names_the_extra(api_venv: Path, tmp_path: Path) -> None:
    demo = subprocess.run(
        [str(api_venv.parent / "agnt-server"), "demo", "--data-dir", str(tmp_path / "demo")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert demo.returncode == 1
    assert "pip install 'agnt-api[demo]'" in demo.stderr
    assert not (tmp_path / "demo").exists(), "nothing is set up for a demo that cannot run"


def test_api_wheel_with_the_demo_extra_brings_the_executor(built: Built, tmp_path: Path) -> None:
    python = _venv_with(built, tmp_path / "venv", "agnt-api[demo]")
    assert {"agnt-executor", "agnt-client"} <= _installed(python)
