"""What every bench script shares: real API servers, databases, statistics, RESULTS.md.

A bench starts real ``agnt-server serve`` processes on free loopback ports (each with its
own data directory and database), drives them over HTTP, prints a markdown table and
appends it, with the machine, date and commit, to ``bench/RESULTS.md``.

Postgres and S3 come from the environment that ``scripts/services.sh env`` prints
(``AGNT_TEST_POSTGRES_URL``, ``AGNT_TEST_S3_ENDPOINT``); each bench creates its own
database or bucket and drops it afterwards.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "RESULTS.md"
RESULTS_HEADER = "# Benchmark results\n\nEach section is appended by one script in bench/.\n"


def free_port() -> int:
    """A loopback TCP port that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def require_env(name: str) -> str:
    """The variable's value; exit with a hint when the services are not configured."""
    value = os.environ.get(name)
    if not value:
        sys.exit(f'{name} is not set: eval "$(scripts/services.sh env)" first')
    return value


@dataclass(frozen=True)
class Keys:
    """The API keys a bench uses."""

    buyer: str
    executor: str


@dataclass
class Deployment:
    """One database and one storage, shared by any number of API replicas."""

    workdir: Path
    database_url: str
    storage_url: str
    extra_env: dict[str, str] = field(default_factory=dict)
    keys: Keys = field(default_factory=lambda: Keys("", ""))

    def env(self, data_dir: Path) -> dict[str, str]:
        """The process environment of a server (or CLI call) of this deployment."""
        return {
            **os.environ,
            "AGNT_DATA_DIR": str(data_dir),
            "AGNT_DATABASE_URL": self.database_url,
            "AGNT_STORAGE_URL": self.storage_url,
            "AGNT_SESSION_SECRET": "bench-session-secret",
            **self.extra_env,
        }

    def server_cli(self, *args: str) -> str:
        """Run ``agnt-server ARGS`` against this deployment; its stdout."""
        done = subprocess.run(
            [sys.executable, "-m", "agnt_api.cli", *args],
            env=self.env(self.workdir / "cli"),
            capture_output=True,
            text=True,
            timeout=120,
        )
        if done.returncode != 0:
            raise RuntimeError(f"agnt-server {' '.join(args)} failed:\n{done.stderr}")
        return done.stdout

    def prepare(self) -> Keys:
        """Migrate the database and create a buyer and an executor key."""
        self.server_cli("migrate")
        created = {
            role: subprocess.Popen(
                [sys.executable, "-m", "agnt_api.cli", "keys", "create", "--role", role]
                + ["--name", "bench"],
                env=self.env(self.workdir / "cli"),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for role in ("buyer", "executor")
        }
        keys: dict[str, str] = {}
        for role, process in created.items():
            out, err = process.communicate(timeout=120)
            if process.returncode != 0:
                raise RuntimeError(f"agnt-server keys create --role {role} failed:\n{err}")
            keys[role] = json.loads(out)["key"]
        self.keys = Keys(buyer=keys["buyer"], executor=keys["executor"])
        return self.keys

    @contextlib.contextmanager
    def server(self, name: str = "api", *, workers: int | None = None) -> Iterator[ApiServer]:
        """A running replica of this deployment (``--workers`` when given), stopped at the
        end of the block."""
        api = ApiServer(self, self.workdir / name, workers=workers)
        api.start()
        try:
            yield api
        finally:
            api.stop()


class ApiServer:
    """A real ``agnt-server serve`` process on a free loopback port."""

    def __init__(self, deployment: Deployment, data_dir: Path, workers: int | None = None) -> None:
        self.deployment = deployment
        self.data_dir = data_dir
        self.workers = workers
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = data_dir / "server.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        """The server's process id."""
        assert self.process is not None, "server not started"
        return self.process.pid

    def start(self, timeout: float = 60.0) -> None:
        """Start the server and wait until ``/readyz`` answers 200."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "agnt_api.cli",
                    "serve",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(self.port),
                    *([] if self.workers is None else ["--workers", str(self.workers)]),
                ],
                env={**self.deployment.env(self.data_dir), "AGNT_PUBLIC_URL": self.url},
                stdout=log,
                stderr=log,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"agnt-server serve exited:\n{self.log_tail()}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/readyz", timeout=1.0).status_code == 200:
                    return
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"agnt-server serve not ready after {timeout}s:\n{self.log_tail()}")

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after 10 s."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)

    def log_tail(self, lines: int = 40) -> str:
        """The end of the server's log."""
        if not self.log_path.exists():
            return "(no server log)"
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


def serve_supports_workers() -> bool:
    """Whether ``agnt-server serve`` takes ``--workers`` (issue 14)."""
    done = subprocess.run(
        [sys.executable, "-m", "agnt_api.cli", "serve", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    return "--workers" in done.stdout


def process_tree(root: int) -> list[int]:
    """``root`` and every process descending from it (uvicorn's workers), from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            stat = (entry / "stat").read_text()
            parent = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(parent, []).append(int(entry.name))
    found, pending = [], [root]
    while pending:
        pid = pending.pop()
        found.append(pid)
        pending += children.get(pid, [])
    return found


_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pids: Sequence[int]) -> float:
    """User + system CPU time of these processes, from /proc/<pid>/stat (gone ones count 0)."""
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15)
    return total / _TICKS


def sqlite_deployment(workdir: Path, extra_env: dict[str, str] | None = None) -> Deployment:
    """A deployment on the embedded defaults: SQLite file and file storage in ``workdir``."""
    workdir.mkdir(parents=True, exist_ok=True)
    return Deployment(
        workdir=workdir,
        database_url=f"sqlite:///{workdir / 'agnt.db'}",
        storage_url=(workdir / "objects").as_uri(),
        extra_env=dict(extra_env or {}),
    )


@contextlib.contextmanager
def postgres_database(label: str) -> Iterator[str]:
    """A fresh database on the dev Postgres server (dropped afterwards); its URL."""
    import psycopg

    admin_url = require_env("AGNT_TEST_POSTGRES_URL")
    name = f"agnt_bench_{label}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin_url, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{admin_url.rsplit('/', 1)[0]}/{name}"
    finally:
        with psycopg.connect(admin_url, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def auth(key: str) -> dict[str, str]:
    """The Authorization header of ``key``."""
    return {"Authorization": f"Bearer {key}"}


def publish_agent(url: str, keys: Keys, agent_id: str) -> None:
    """Publish a minimal agent for the bench's jobs."""
    response = httpx.put(
        f"{url}/v1/executor/agents/{agent_id}",
        headers=auth(keys.executor),
        json={"name": f"Bench {agent_id}", "description": "bench agent", "tags": ["bench"]},
        timeout=30,
    )
    response.raise_for_status()


def percentile(values: Sequence[float], fraction: float) -> float:
    """The ``fraction`` (0..1) percentile by nearest rank."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = max(1, min(len(ordered), round(fraction * len(ordered) + 0.5)))
    return ordered[rank - 1]


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A GitHub markdown table."""
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo``), else the platform's processor string."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown CPU"


def machine() -> str:
    """nproc, memory and CPU model of this machine, plus its load when the bench ran."""
    import psutil

    memory_gib = psutil.virtual_memory().total / 2**30
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    return (
        f"{os.cpu_count()} CPUs, {memory_gib:.1f} GiB RAM, {cpu_model()}, "
        f"Python {platform.python_version()}, load average {load}"
    )


def git_commit() -> str:
    """The commit the bench ran on (``+dirty`` when the tree has changes)."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return f"{commit}+dirty" if dirty else commit


def report(title: str, body: str, *, record: bool, quick: bool) -> None:
    """Print the section and, when ``record``, append it to bench/RESULTS.md."""
    mode = "quick" if quick else "full"
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    section = (
        f"\n## {title} ({mode} mode)\n\n"
        f"{stamp} · commit {git_commit()} · {machine()}\n\n{body.rstrip()}\n"
    )
    print(section)
    if not record:
        return
    if not RESULTS.exists():
        RESULTS.write_text(RESULTS_HEADER)
    with RESULTS.open("a") as out:
        out.write(section)
