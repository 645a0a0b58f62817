"""The `agnt` binary and its two wrappers, installed as a user would, against a live API.

Builds the binary once (distribution/build.py, shared by every xdist worker through a lock),
installs the npm tarballs into a temporary global prefix with npm offline, and the wheel
into a fresh venv with pip --no-index; then runs `agnt` from each against `agnt-server`
on loopback, and checks that errors look the same as from the Python CLI.
"""

from __future__ import annotations

import fcntl
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tarfile
import threading
import time
import tomllib
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import psutil
import pytest

from agnt_client import Client
from agnt_models import AgentPublish

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]
if sys.platform != "linux" or platform.machine() != "x86_64":
    pytest.skip("the distribution is tested on Linux x64 (CI)", allow_module_level=True)

REPO = Path(__file__).resolve().parent.parent
BUILD_SCRIPT = REPO / "distribution" / "build.py"
CLI_VERSION = tomllib.loads((REPO / "packages/agnt-cli/pyproject.toml").read_text())["project"][
    "version"
]
# Server side and dev tools: none of it may be bundled (the CLI never imports it).
SERVER_SIDE = ("agnt_api", "fastapi", "starlette", "sqlalchemy", "alembic", "uvicorn", "boto3")
SERVER_SIDE += ("botocore", "psycopg", "jinja2", "pytest", "mypy", "PyInstaller", "uvloop")
UNKNOWN_JOB = "00000000-0000-4000-8000-000000000000"


def _require_tool(name: str) -> str:
    path = shutil.which(name)
    if path:
        return path
    message = f"{name} is not on PATH"
    if os.environ.get("CI"):
        pytest.fail(f"{message} (CI must test the npm wrapper)")
    pytest.skip(message)


@dataclass(frozen=True)
class Build:
    """What distribution/build.py made: the onedir build and both wrappers."""

    build_dir: Path
    npm_platform: Path
    npm_launcher: Path
    wheel: Path

    @property
    def exe(self) -> Path:
        return self.build_dir / "agnt"


@pytest.fixture(scope="session")
def build(tmp_path_factory: pytest.TempPathFactory) -> Build:
    """Build once per test session, whichever xdist worker gets here first."""
    _require_tool("npm")
    base = tmp_path_factory.getbasetemp()
    # Under xdist each worker's basetemp sits in the run's own directory: share that one.
    shared = (base.parent if "PYTEST_XDIST_WORKER" in os.environ else base) / "agnt-distribution"
    shared.mkdir(exist_ok=True)
    dist = shared / "dist"
    with (shared / "lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (shared / "built").exists():
            done = subprocess.run(
                [sys.executable, str(BUILD_SCRIPT), "all"]
                + ["--dist-dir", str(dist), "--work-dir", str(shared / "work")],
                capture_output=True,
                text=True,
            )
            assert done.returncode == 0, done.stdout + done.stderr
            (shared / "built").touch()
    (wheel,) = (dist / "pip").glob("agnt_bin-*.whl")
    return Build(
        build_dir=dist / "agnt-linux-x64",
        npm_platform=dist / "npm" / f"agnt-linux-x64-{CLI_VERSION}.tgz",
        npm_launcher=dist / "npm" / f"agnt-{CLI_VERSION}.tgz",
        wheel=wheel,
    )


@pytest.fixture(scope="session")
def npm_prefix(build: Build, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A global npm prefix with the two local tarballs installed (npm offline)."""
    root = tmp_path_factory.mktemp("npm")
    env = {**os.environ, "npm_config_cache": str(root / "cache"), "npm_config_offline": "true"}
    done = subprocess.run(
        [_require_tool("npm"), "install", "--global", "--prefix", str(root / "prefix")]
        + ["--no-audit", "--no-fund", str(build.npm_platform), str(build.npm_launcher)],
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    return root / "prefix"


@pytest.fixture(scope="session")
def pip_venv(build: Build, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with the agnt wheel installed from its file, without an index."""
    venv = tmp_path_factory.mktemp("venv") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    done = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "--no-index", str(build.wheel)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return venv


@pytest.fixture
def user_env(tmp_path: Path) -> dict[str, str]:
    """An environment with no user config and no agnt settings of the machine's."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGNT_")}
    env.pop("NODE_PATH", None)
    env["AGNT_CONFIG_DIR"] = str(tmp_path / "config")
    return env


@dataclass(frozen=True)
class DemoApi:
    """A live API with the agent `demo-echo` and one pending job of the buyer's."""

    env: dict[str, str]
    pending_job: str


@pytest.fixture
def demo_api(live_api: Any, user_env: dict[str, str]) -> DemoApi:
    """A live API with a published demo agent and a job that stays pending (no executor)."""
    with Client(live_api.url, live_api.executor_key) as executor:
        executor.publish_agent(
            "demo-echo",
            AgentPublish(name="Demo echo", description="Echoes the prompt", tags=["demo"]),
        )
    with Client(live_api.url, live_api.buyer_key) as buyer:
        job = buyer.create_job("demo-echo", "stays pending: no executor runs")
    env = {**user_env, "AGNT_API_URL": live_api.url, "AGNT_API_KEY": live_api.buyer_key}
    return DemoApi(env=env, pending_job=str(job.id))


def agnt(
    command: Path | str, *args: str, env: dict[str, str], cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """Run one `agnt` call to the end."""
    return subprocess.run(
        [str(command), *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=60
    )


def python_cli() -> Path:
    """The Python console script of agnt-cli in the workspace venv."""
    return Path(sys.executable).parent / "agnt"


def error_of(result: subprocess.CompletedProcess[str]) -> dict[str, object]:
    """The stderr error object without its request id (unique per request)."""
    error: dict[str, object] = json.loads(result.stderr)["error"]
    error.pop("request_id", None)
    return error


def test_binary_reports_the_agnt_cli_version(build: Build, user_env: dict[str, str]) -> None:
    result = agnt(build.exe, "--version", env=user_env)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["version"] == CLI_VERSION


def test_binary_bundles_the_cli_and_nothing_of_the_server(build: Build) -> None:
    from PyInstaller.archive.readers import CArchiveReader

    modules = set(CArchiveReader(str(build.exe)).open_embedded_archive("PYZ.pyz").toc)
    assert {"agnt_cli.app", "agnt_cli.commands.jobs", "agnt_client.client"} <= modules
    bundled = sorted(m for m in modules if m.split(".")[0] in SERVER_SIDE)
    assert bundled == []


def test_binary_bundles_licenses_and_no_checkout_path(build: Build) -> None:
    internal = build.build_dir / "_internal"
    assert (internal / "LICENSE").read_text() == (REPO / "LICENSE").read_text()
    notices = (internal / "THIRD_PARTY_NOTICES.txt").read_text()
    for component in ("CPython", "OpenSSL", "certifi", "httpx", "rich", "pydantic", "typer"):
        assert f"\n{component} " in notices, component
    for component in ("click", "shellingham", "anyio", "idna"):
        assert f"\n{component} " in notices, component
    assert "License: MPL-2.0" in notices  # certifi
    assert "Mozilla Public License" in notices  # its text, from its dist-info
    assert not list(build.build_dir.rglob("direct_url.json"))
    checkout = str(REPO).encode()
    leaking = [
        p.name for p in build.build_dir.rglob("*") if p.is_file() and checkout in p.read_bytes()
    ]
    assert leaking == []


def test_completion_works_in_the_binary(build: Build, user_env: dict[str, str]) -> None:
    # typer detects the shell from the parent process (shellingham): here bash.
    shown = subprocess.run(
        ["bash", "-c", '"$0" --show-completion', str(build.exe)],
        env=user_env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert shown.returncode == 0, shown.stderr
    assert "complete -o default -F _agnt_completion agnt" in shown.stdout
    env = {
        **user_env,
        "_AGNT_COMPLETE": "complete_bash",
        "COMP_WORDS": "agnt sea",
        "COMP_CWORD": "1",
    }
    completed = agnt(build.exe, env=env)
    assert (completed.returncode, completed.stdout.split()) == (0, ["search"])


COMPLETIONS = {
    "agnt.bash": "complete -o default",
    "_agnt": "#compdef agnt",
    "agnt.fish": "complete --command agnt",
}


def test_both_wrappers_ship_the_completions_and_the_license(build: Build, pip_venv: Path) -> None:
    with tarfile.open(build.npm_platform) as tarball:
        names = set(tarball.getnames())
        for name, start in COMPLETIONS.items():
            member = tarball.extractfile(f"package/bin/completions/{name}")
            assert member is not None and start in member.read().decode(), name
    assert "package/LICENSE" in names
    assert "package/bin/_internal/THIRD_PARTY_NOTICES.txt" in names
    with tarfile.open(build.npm_launcher) as tarball:
        assert "package/LICENSE" in tarball.getnames()
    with zipfile.ZipFile(build.wheel) as wheel:
        names = set(wheel.namelist())
    assert {f"agnt_binary/completions/{name}" for name in COMPLETIONS} <= names
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    # pip puts the data files under the environment's prefix, where the shells look.
    share = pip_venv / "share"
    assert (share / "bash-completion" / "completions" / "agnt").is_file()
    assert (share / "zsh" / "site-functions" / "_agnt").is_file()
    assert (share / "fish" / "vendor_completions.d" / "agnt.fish").is_file()


def _wrap(build: Build, out_dir: Path, step: str, env: dict[str, str]) -> None:
    done = subprocess.run(
        [sys.executable, str(BUILD_SCRIPT), step, "--dist-dir", str(build.build_dir.parent)]
        + ["--out-dir", str(out_dir)],
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_wrappers_are_reproducible_and_name_the_repository(build: Build, tmp_path: Path) -> None:
    env = {**os.environ, "SOURCE_DATE_EPOCH": "1767225600", "GITHUB_REPOSITORY": "example/agnt"}
    outputs = []
    for attempt in ("first", "second"):
        for step in ("npm", "wheel"):
            _wrap(build, tmp_path / attempt, step, env)
        # Touching the inputs between the two builds must not change a byte.
        for path in build.build_dir.rglob("*"):
            os.utime(path)
        files = sorted((tmp_path / attempt).glob("*/*.*"))
        outputs.append({f.relative_to(tmp_path / attempt): f.read_bytes() for f in files})
    assert len(outputs[0]) == 3  # two npm tarballs, one wheel
    assert outputs[0] == outputs[1]
    launcher = tmp_path / "first" / "npm" / build.npm_launcher.name
    with tarfile.open(launcher) as tarball:
        member = tarball.extractfile("package/package.json")
        assert member is not None
        manifest = json.load(member)
    assert manifest["repository"]["url"] == "git+https://github.com/example/agnt.git"
    assert manifest["license"] == "MIT"
    assert manifest["optionalDependencies"]["agnt-linux-x64"] == CLI_VERSION


def test_wrappers_carry_the_agnt_cli_version(build: Build) -> None:
    assert build.npm_platform.is_file() and build.npm_launcher.is_file()
    assert build.wheel.name.startswith(f"agnt_bin-{CLI_VERSION}-py3-none-manylinux_2_")
    assert build.wheel.name.endswith("_x86_64.whl")


def installed_agnt(wrapper: str, request: pytest.FixtureRequest) -> Path:
    """`agnt` as the npm global prefix or the pip venv puts it on PATH."""
    if wrapper == "npm":
        prefix: Path = request.getfixturevalue("npm_prefix")
        return prefix / "bin" / "agnt"
    venv: Path = request.getfixturevalue("pip_venv")
    return venv / "bin" / "agnt"


# (arguments, API key instead of the buyer's, exit code, error code): one of each class.
ERROR_CASES = [
    (("status", UNKNOWN_JOB), None, 3, "job_not_found"),
    (("search", "demo"), "agnt_wrong_key", 4, "invalid_api_key"),
    (("result", "{pending_job}"), None, 5, "job_not_completed"),
    (("order", "demo-echo", "--prompt", "x", "--param", "novalue"), None, 2, None),
]


# One live API per wrapper for all its calls: starting an API is most of this test's time.
@pytest.mark.parametrize("wrapper", ["npm", "pip"])
def test_installed_agnt_works_and_fails_like_the_python_cli(
    wrapper: str, request: pytest.FixtureRequest, demo_api: DemoApi, tmp_path: Path
) -> None:
    command = installed_agnt(wrapper, request)
    version = agnt(command, "--version", env=demo_api.env)
    assert version.returncode == 0, version.stderr
    assert json.loads(version.stdout)["version"] == CLI_VERSION

    search = agnt(command, "search", "demo", env=demo_api.env)
    assert search.returncode == 0, search.stderr
    page = json.loads(search.stdout)
    assert [item["id"] for item in page["items"]] == ["demo-echo"]
    assert page == json.loads(agnt(python_cli(), "search", "demo", env=demo_api.env).stdout)

    for args, key, exit_code, code in ERROR_CASES:
        env = {**demo_api.env, "AGNT_API_KEY": key} if key else demo_api.env
        argv = [arg.format(pending_job=demo_api.pending_job) for arg in args]
        # `agnt result` downloads into the working directory.
        installed = agnt(command, *argv, env=env, cwd=tmp_path)
        python = agnt(python_cli(), *argv, env=env, cwd=tmp_path)
        assert installed.returncode == python.returncode == exit_code, (argv, installed.stderr)
        assert installed.stdout == python.stdout, argv
        assert error_of(installed) == error_of(python), argv
        if code is not None:
            assert error_of(installed)["code"] == code


def test_installed_agnt_fails_like_the_python_cli_when_the_api_is_down(
    npm_prefix: Path, pip_venv: Path, user_env: dict[str, str]
) -> None:
    env = {**user_env, "AGNT_API_URL": "http://127.0.0.1:9", "AGNT_API_KEY": "agnt_x"}
    python = agnt(python_cli(), "search", "demo", env=env)
    assert python.returncode == 6
    for command in (npm_prefix / "bin" / "agnt", pip_venv / "bin" / "agnt"):
        installed = agnt(command, "search", "demo", env=env)
        assert installed.returncode == 6
        assert error_of(installed) == error_of(python)


@pytest.mark.parametrize(
    ("broken", "says"),
    [
        ("platform_package_missing", "agnt-linux-x64 is not installed"),
        ("platform_package_broken", "agnt-linux-x64 has no agnt"),
        ("binary_not_started", "could not run"),
    ],
)
def test_launcher_without_a_runnable_binary_prints_json_error(
    broken: str, says: str, npm_prefix: Path, tmp_path: Path, user_env: dict[str, str]
) -> None:
    modules = tmp_path / "node_modules"
    if broken == "platform_package_missing":  # as after `npm install --omit=optional`
        shutil.copytree(npm_prefix / "lib" / "node_modules" / "agnt", modules / "agnt")
    else:
        shutil.copytree(npm_prefix / "lib" / "node_modules", modules)
        binary = modules / "agnt-linux-x64" / "bin" / "agnt"
        if broken == "platform_package_broken":
            binary.unlink()
        else:
            binary.chmod(0o644)
    result = agnt(_require_tool("node"), str(modules / "agnt" / "bin" / "agnt.js"), env=user_env)
    assert (result.returncode, result.stdout) == (1, "")
    error = error_of(result)
    assert error["code"] == broken
    assert error["status"] is None
    assert says in str(error["message"])


def test_launcher_on_an_unsupported_platform_prints_json_error(
    npm_prefix: Path, tmp_path: Path, user_env: dict[str, str]
) -> None:
    pretend = tmp_path / "pretend-ppc64.js"
    pretend.write_text('Object.defineProperty(process, "arch", { value: "ppc64" });\n')
    launcher = npm_prefix / "lib" / "node_modules" / "agnt" / "bin" / "agnt.js"
    node = _require_tool("node")
    result = agnt(node, "--require", str(pretend), str(launcher), "--version", env=user_env)
    assert (result.returncode, result.stdout) == (1, "")
    error = error_of(result)
    assert error["code"] == "unsupported_platform"
    assert "linux-ppc64" in str(error["message"])


def test_launcher_on_musl_says_to_use_the_python_package(
    npm_prefix: Path, tmp_path: Path, user_env: dict[str, str]
) -> None:
    pretend = tmp_path / "pretend-musl.js"
    pretend.write_text("process.report.getReport = () => ({ header: {} });\n")
    launcher = npm_prefix / "lib" / "node_modules" / "agnt" / "bin" / "agnt.js"
    node = _require_tool("node")
    result = agnt(node, "--require", str(pretend), str(launcher), "--version", env=user_env)
    assert (result.returncode, result.stdout) == (1, "")
    error = error_of(result)
    assert error["code"] == "unsupported_platform"
    assert "musl" in str(error["message"]) and "pip install agnt-cli" in str(error["message"])


@pytest.fixture
def registry_url() -> Iterator[str]:
    """A stand-in for PyPI's JSON API and the npm registry: agnt-bin and agnt are at 99.0.0."""
    answers = {
        "/pypi/agnt-bin/json": {"info": {"name": "agnt-bin", "version": "99.0.0"}},
        "/npm/agnt/latest": {"name": "agnt", "version": "99.0.0"},
    }

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            answer = answers.get(self.path)
            body = json.dumps(answer or {"error": "Not found"}).encode()
            self.send_response(200 if answer else 404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize(
    ("wrapper", "registry", "package", "upgrade"),
    [
        ("npm", "npm", "agnt", "npm install -g agnt@latest"),
        ("pip", "pypi", "agnt-bin", "pip install --upgrade agnt-bin"),
    ],
)
def test_version_check_asks_the_channel_the_binary_came_from(
    wrapper: str,
    registry: str,
    package: str,
    upgrade: str,
    request: pytest.FixtureRequest,
    registry_url: str,
    user_env: dict[str, str],
) -> None:
    env = {
        **user_env,
        "AGNT_PYPI_URL": f"{registry_url}/pypi",
        "AGNT_NPM_REGISTRY": f"{registry_url}/npm",
    }
    result = agnt(installed_agnt(wrapper, request), "version", "--check", env=env)
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert (document["channel"], document["package"]) == (registry, package)
    assert (document["latest"], document["update_available"]) == ("99.0.0", True)
    assert document["upgrade"] == upgrade


def test_installed_agnt_ends_on_signals_like_the_binary(
    build: Build, npm_prefix: Path, pip_venv: Path, demo_api: DemoApi
) -> None:
    follow = ("status", demo_api.pending_job, "--wait")
    for sent in (signal.SIGINT, signal.SIGTERM):
        direct = _interrupted(build.exe, follow, demo_api.env, sent, spawns_binary=False)
        assert direct.returncode != 0, sent
        # The npm launcher forwards the signal to the binary it spawned; the pip shim has
        # exec'd the binary, so the signal reaches it directly.
        launched = _interrupted(npm_prefix / "bin" / "agnt", follow, demo_api.env, sent)
        shimmed = _interrupted(
            pip_venv / "bin" / "agnt", follow, demo_api.env, sent, spawns_binary=False
        )
        for installed in (launched, shimmed):
            assert (installed.returncode, installed.stdout, installed.stderr) == (
                direct.returncode,
                direct.stdout,
                direct.stderr,
            ), (sent, installed.args)


def _interrupted(
    command: Path,
    args: tuple[str, ...],
    env: dict[str, str],
    sent: signal.Signals,
    spawns_binary: bool = True,
) -> subprocess.CompletedProcess[str]:
    """Start a long-running `agnt` call, send ``sent`` to that process alone, collect it.

    With ``spawns_binary`` the process is the launcher: the binary it runs must be gone too.
    """
    process = subprocess.Popen(
        [str(command), *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    binary = _binary_of(process.pid) if spawns_binary else psutil.Process(process.pid)
    _wait_for_long_poll(binary, int(env["AGNT_API_URL"].rsplit(":", 1)[1]))
    process.send_signal(sent)
    stdout, stderr = process.communicate(timeout=30)
    if spawns_binary:
        assert not binary.is_running() or binary.status() == psutil.STATUS_ZOMBIE
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


def _wait_for_long_poll(binary: psutil.Process, api_port: int) -> None:
    """Return once ``binary`` holds a connection to the API: it is inside the long poll."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        for connection in binary.net_connections(kind="tcp"):
            if connection.raddr and connection.raddr.port == api_port:
                return
        time.sleep(0.05)
    raise AssertionError("the binary never connected to the API")


def _binary_of(pid: int) -> psutil.Process:
    """The binary that the launcher ``pid`` spawned."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        children = psutil.Process(pid).children()
        if children:
            return children[0]
        time.sleep(0.05)
    raise AssertionError("the launcher did not start the binary")


def test_binary_agnt_mcp_says_how_to_get_the_mcp_sdk(
    build: Build, user_env: dict[str, str]
) -> None:
    # The MCP SDK imports starlette and uvicorn even for stdio: the binary leaves it out.
    env = {**user_env, "AGNT_API_URL": "http://127.0.0.1:9", "AGNT_API_KEY": "agnt_" + "k" * 43}
    result = agnt(build.exe, "mcp", env=env)
    assert result.returncode == 1, result.stderr
    error = error_of(result)
    assert error["code"] == "mcp_not_installed"
    assert "agnt-cli[mcp]" in str(error["message"])
    assert result.stdout == ""
