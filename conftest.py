"""Fixtures shared by every package's tests: the real Postgres and S3 servers.

``scripts/services.sh start`` runs both on loopback and ``scripts/services.sh env`` exports
``AGNT_TEST_POSTGRES_URL`` and ``AGNT_TEST_S3_ENDPOINT``. Without them the tests that need
a service are skipped with that reason — except under CI (``CI=true``), where a missing
service is an error, so a green CI run always includes them.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest


def _require_env(name: str) -> str:
    value = os.environ.get(name)
    if value:
        return value
    message = f"{name} is not set: start the services with scripts/services.sh"
    if os.environ.get("CI"):
        pytest.fail(f"{message} (CI must run every service test)")
    pytest.skip(message)


def _worker_id() -> str:
    return os.environ.get("PYTEST_XDIST_WORKER", "main")


@pytest.fixture(scope="session")
def postgres_admin_url() -> str:
    """URL of the server's maintenance database; create your own databases from it."""
    return _require_env("AGNT_TEST_POSTGRES_URL")


@pytest.fixture(scope="session")
def make_postgres_database(postgres_admin_url: str) -> Iterator[Callable[..., str]]:
    """Factory: each call creates a fresh database and returns its URL (psycopg 3).

    ``make()`` is empty; ``make(template=NAME)`` is a copy of database ``NAME`` (``CREATE
    DATABASE ... TEMPLATE``: a file copy, far cheaper than migrating). Databases are dropped
    when the worker's session ends.
    """
    import psycopg

    created: list[str] = []
    base = postgres_admin_url.rsplit("/", 1)[0]

    def make(template: str | None = None) -> str:
        name = f"agnt_test_{_worker_id()}_{uuid.uuid4().hex[:10]}"
        _create_database(postgres_admin_url, name, template)
        created.append(name)
        return f"{base}/{name}"

    yield make
    with psycopg.connect(postgres_admin_url, autocommit=True) as conn:
        for name in created:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _create_database(admin_url: str, name: str, template: str | None) -> None:
    """``CREATE DATABASE name [TEMPLATE template]``, retried while the template is busy.

    Nothing of ours connects to a template once it is made, but a copy is refused while any
    session (an autovacuum worker, say) is connected to it: that is retried for a while.
    """
    import time

    import psycopg

    statement = f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else "")
    deadline = time.monotonic() + 30
    with psycopg.connect(admin_url, autocommit=True) as conn:
        while True:
            try:
                conn.execute(statement)
                return
            except psycopg.errors.ObjectInUse:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)


def _database_name(url: str) -> str:
    return url.rsplit("/", 1)[1].split("?", 1)[0]


@pytest.fixture(scope="session")
def migrated_postgres_template(make_postgres_database: Callable[..., str]) -> str:
    """Name of a database migrated to head, made once per worker, for ``make(template=...)``."""
    from agnt_api.db import Database
    from agnt_api.db.migrate import upgrade
    from agnt_api.settings import Settings

    url = make_postgres_database()
    database = Database(Settings(database_url=url).database_url)
    try:
        upgrade(database.engine)
    finally:
        database.dispose()
    return _database_name(url)


@pytest.fixture(scope="session")
def make_migrated_postgres_database(
    make_postgres_database: Callable[..., str], migrated_postgres_template: str
) -> Callable[[], str]:
    """Factory: a fresh database already migrated to head (a copy of the worker's template)."""
    return lambda: make_postgres_database(template=migrated_postgres_template)


@pytest.fixture(scope="session")
def migrated_sqlite_template(tmp_path_factory: Any) -> Any:
    """Path of a SQLite file migrated to head, made once per worker; tests copy it."""
    from agnt_api.db import Database
    from agnt_api.db.migrate import upgrade

    path = tmp_path_factory.mktemp("sqlite-template") / "agnt.db"
    database = Database(f"sqlite:///{path}")
    try:
        upgrade(database.engine)
    finally:
        database.dispose()
    return path


@pytest.fixture(scope="session")
def make_migrated_sqlite_database(migrated_sqlite_template: Any) -> Callable[[Any], str]:
    """Factory: ``make(path)`` copies the migrated template to ``path`` and returns its URL."""

    def make(path: Any) -> str:
        copy_sqlite_database(migrated_sqlite_template, path)
        return f"sqlite:///{path}"

    return make


def copy_sqlite_database(source: Any, target: Any) -> None:
    """Copy a SQLite database file with its WAL files, if any."""
    import shutil
    from pathlib import Path

    for suffix in ("", "-wal", "-shm"):
        if Path(f"{source}{suffix}").exists():
            shutil.copyfile(f"{source}{suffix}", f"{target}{suffix}")


@pytest.fixture(scope="session")
def postgres_url(make_postgres_database: Callable[..., str]) -> str:
    """A database of this xdist worker's own, fresh at the start of the session."""
    return make_postgres_database()


@pytest.fixture(scope="session")
def s3_endpoint() -> str:
    """Endpoint URL of the real S3-compatible server."""
    return _require_env("AGNT_TEST_S3_ENDPOINT")


@pytest.fixture(scope="session")
def s3_client(s3_endpoint: str) -> Any:
    """A boto3 S3 client for the test server (credentials from the AWS_* variables)."""
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=s3_endpoint,
        region_name=os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
        aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID", "testing"),
        aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY", "testing"),
    )


@pytest.fixture(scope="session")
def make_s3_bucket(s3_client: Any) -> Callable[[], str]:
    """Factory: each call creates a fresh, empty bucket on the S3 server and returns its name."""
    client = s3_client

    def make() -> str:
        name = f"agnt-test-{_worker_id()}-{uuid.uuid4().hex[:10]}".lower()
        client.create_bucket(Bucket=name)
        return name

    return make


@pytest.fixture
def s3_bucket(make_s3_bucket: Callable[[], str]) -> str:
    """A fresh bucket of this test's own."""
    return make_s3_bucket()


# --- A live API: a real `agnt-server serve` subprocess on a free loopback port -------------


def free_port() -> int:
    """A loopback TCP port that was free a moment ago."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LiveApi:
    """A real ``agnt-server serve`` process with its own data directory and three keys.

    ``stop()`` ends it; ``start()`` runs it again on the same port and data. The server's
    stderr goes to ``<data_dir>/server.log`` (shown when it fails to come up).

    ``workers`` is passed as ``serve --workers``; ``None`` leaves the product's default (one
    per CPU on Postgres). Tests serve from one process unless they are about several: a
    supervisor with two workers costs three interpreter starts (about 3x the CPU of one),
    and hundreds of live servers start in a run.
    """

    def __init__(
        self,
        data_dir: Any,
        *,
        database_url: str | None = None,
        storage_url: str | None = None,
        env: dict[str, str] | None = None,
        workers: int | None = 1,
    ) -> None:
        from pathlib import Path

        self.workers = workers
        self.data_dir = Path(data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.database_url = database_url or f"sqlite:///{self.data_dir / 'agnt.db'}"
        self.storage_url = storage_url or (self.data_dir / "objects").as_uri()
        self.extra_env = dict(env or {})
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = self.data_dir / "server.log"
        self._process: Any = None
        self.buyer_key = ""
        self.executor_key = ""
        self.admin_key = ""

    def env(self) -> dict[str, str]:
        """The AGNT_* variables that point a child process at this API and its storage."""
        return {
            "AGNT_DATA_DIR": str(self.data_dir),
            "AGNT_DATABASE_URL": self.database_url,
            "AGNT_STORAGE_URL": self.storage_url,
            "AGNT_API_URL": self.url,
            **self.extra_env,
        }

    def _process_env(self) -> dict[str, str]:
        return {**os.environ, **self.env()}

    def _server_command(self, *args: str) -> list[str]:
        import sys

        return [sys.executable, "-m", "agnt_api.cli", *args]

    def _run(self, *args: str) -> str:
        import subprocess

        done = subprocess.run(
            self._server_command(*args),
            env=self._process_env(),
            capture_output=True,
            text=True,
            timeout=60,
        )
        if done.returncode != 0:
            raise RuntimeError(f"agnt-server {' '.join(args)} failed:\n{done.stderr}")
        return done.stdout

    def migrate(self) -> None:
        """Run ``agnt-server migrate`` against this API's database."""
        self._run("migrate")

    def create_key(self, role: str, name: str = "test") -> str:
        """A new API key with ``role`` (``agnt-server keys create``)."""
        import json

        return str(json.loads(self._run("keys", "create", "--role", role, "--name", name))["key"])

    def create_keys(self) -> None:
        """Make the buyer, executor and admin keys (three CLI processes in parallel)."""
        self.collect_keys(self.spawn_key_processes())

    def spawn_key_processes(self) -> dict[str, Any]:
        """Start ``agnt-server keys create`` for each role; ``collect_keys`` reads them."""
        import subprocess

        return {
            role: subprocess.Popen(
                self._server_command("keys", "create", "--role", role, "--name", f"test-{role}"),
                env=self._process_env(),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for role in ("buyer", "executor", "admin")
        }

    def collect_keys(self, processes: dict[str, Any]) -> None:
        """Wait for the key processes and keep each role's key."""
        import json

        for role, process in processes.items():
            out, err = process.communicate(timeout=60)
            if process.returncode != 0:
                raise RuntimeError(f"agnt-server keys create --role {role} failed:\n{err}")
            setattr(self, f"{role}_key", json.loads(out)["key"])

    def start(self, timeout: float = 120.0) -> None:
        """Start ``agnt-server serve`` and wait until ``/readyz`` answers 200."""
        import subprocess
        import time

        import httpx

        if self._process is not None and self._process.poll() is None:
            return
        log = self.log_path.open("ab")
        serve = ["serve", "--host", "127.0.0.1", "--port", str(self.port)]
        if self.workers is not None:
            serve += ["--workers", str(self.workers)]
        self._process = subprocess.Popen(
            self._server_command(*serve),
            env=self._process_env(),
            stdout=log,
            stderr=log,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"agnt-server serve exited:\n{self.log_tail()}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=1.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"agnt-server serve not ready after {timeout}s:\n{self.log_tail()}")

    @property
    def pid(self) -> int:
        """Process id of the running ``agnt-server serve`` (for fault tests that kill it)."""
        if self._process is None or self._process.poll() is not None:
            raise RuntimeError("the server is not running")
        return int(self._process.pid)

    def seed_from(self, template: LiveApi) -> None:
        """Start from a copy of ``template``'s migrated database and reuse its keys.

        Migrating and making three keys costs four interpreter starts; copying a SQLite file
        (or a Postgres template database) costs nothing, and every test still gets a database
        of its own. For Postgres, this API's database is made by the caller beforehand.
        """
        from pathlib import Path

        if template.database_url.startswith("sqlite:///"):
            source = Path(template.database_url.removeprefix("sqlite:///"))
            target = Path(self.database_url.removeprefix("sqlite:///"))
            copy_sqlite_database(source, target)
        self.buyer_key = template.buyer_key
        self.executor_key = template.executor_key
        self.admin_key = template.admin_key

    def stop(self, grace: float = 10.0) -> None:
        """Stop the server (SIGTERM, then SIGKILL after ``grace`` seconds)."""
        import subprocess

        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)

    def log_tail(self, lines: int = 60) -> str:
        """The end of the server's log."""
        if not self.log_path.exists():
            return "(no server log)"
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


@pytest.fixture(scope="session")
def sqlite_live_api_template(tmp_path_factory: Any) -> LiveApi:
    """A migrated SQLite database with buyer/executor/admin keys, made once per worker."""
    template = LiveApi(tmp_path_factory.mktemp("live-api-template"))
    template.migrate()
    template.create_keys()
    return template


@pytest.fixture(scope="session")
def postgres_live_api_template(
    tmp_path_factory: Any,
    make_postgres_database: Callable[..., str],
    migrated_postgres_template: str,
) -> LiveApi:
    """A migrated Postgres database with buyer/executor/admin keys, made once per worker."""
    template = LiveApi(
        tmp_path_factory.mktemp("live-api-pg-template"),
        database_url=make_postgres_database(template=migrated_postgres_template),
    )
    template.create_keys()
    return template


def _is_empty_postgres_database(url: str) -> bool:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").fetchone()
    return row is not None and row[0] == 0


def _refill_from_template(request: pytest.FixtureRequest, url: str) -> LiveApi | None:
    """If ``url`` is an empty database on the test server, make it a copy of the worker's
    live template (migrated, with its keys) and return that template; else ``None``."""
    import psycopg

    admin_url: str = request.getfixturevalue("postgres_admin_url")
    base = admin_url.rsplit("/", 1)[0]
    if not url.startswith(f"{base}/") or not _is_empty_postgres_database(url):
        return None
    template: LiveApi = request.getfixturevalue("postgres_live_api_template")
    name = _database_name(url)
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
    _create_database(admin_url, name, _database_name(template.database_url))
    return template


def _live_api_maker(
    request: pytest.FixtureRequest, base_dir: Any, sqlite_template: LiveApi
) -> tuple[Callable[..., LiveApi], list[LiveApi]]:
    started: list[LiveApi] = []

    def make(
        database_url: str | None = None,
        storage_url: str | None = None,
        env: dict[str, str] | None = None,
        workers: int | None = 1,
    ) -> LiveApi:
        api = LiveApi(
            base_dir / f"api{len(started)}",
            database_url=database_url,
            storage_url=storage_url,
            env=env,
            workers=workers,
        )
        started.append(api)
        if database_url is None:
            api.seed_from(sqlite_template)
            api.start()
            return api
        if database_url.startswith("postgresql"):
            template = _refill_from_template(request, database_url)
            if template is not None:
                api.seed_from(template)
                api.start()
                return api
        api.migrate()
        # Keys and the server need only the schema: make them while the server starts.
        key_processes = api.spawn_key_processes()
        try:
            api.start()
        finally:
            api.collect_keys(key_processes)
        return api

    return make, started


@pytest.fixture
def live_api_factory(
    request: pytest.FixtureRequest, tmp_path: Any, sqlite_live_api_template: LiveApi
) -> Iterator[Callable[..., LiveApi]]:
    """Factory: ``live_api_factory(database_url=None, storage_url=None, env=None,
    workers=1)`` -> a started ``LiveApi`` (migrated, with buyer/executor/admin keys).
    Stopped at teardown. ``workers=None`` serves with the product's default.

    An empty Postgres database of the test server (``make_postgres_database()``) becomes a
    copy of the worker's template: migrated, with the template's keys (what ``agnt-server
    migrate`` and ``keys create`` would make, without four interpreter starts)."""
    make, started = _live_api_maker(request, tmp_path, sqlite_live_api_template)
    yield make
    for api in started:
        # The test is over: open long-polls need no graceful goodbye.
        api.stop(grace=3.0)


@pytest.fixture(scope="module")
def module_live_api_factory(
    request: pytest.FixtureRequest, tmp_path_factory: Any, sqlite_live_api_template: LiveApi
) -> Iterator[Callable[..., LiveApi]]:
    """``live_api_factory`` for servers shared by a module's tests (stopped after them)."""
    make, started = _live_api_maker(
        request, tmp_path_factory.mktemp("module-live-api"), sqlite_live_api_template
    )
    yield make
    for api in started:
        api.stop(grace=3.0)


@pytest.fixture
def live_api(live_api_factory: Callable[..., LiveApi]) -> LiveApi:
    """A live API on SQLite and file storage in the test's tmp dir."""
    return live_api_factory()
