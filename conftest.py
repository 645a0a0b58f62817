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
def make_postgres_database(postgres_admin_url: str) -> Iterator[Callable[[], str]]:
    """Factory: each call creates a fresh, empty database and returns its URL (psycopg 3).

    Databases are dropped when the worker's session ends.
    """
    import psycopg

    created: list[str] = []
    base = postgres_admin_url.rsplit("/", 1)[0]

    def make() -> str:
        name = f"agnt_test_{_worker_id()}_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(postgres_admin_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        created.append(name)
        return f"{base}/{name}"

    yield make
    with psycopg.connect(postgres_admin_url, autocommit=True) as conn:
        for name in created:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def postgres_url(make_postgres_database: Callable[[], str]) -> str:
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
