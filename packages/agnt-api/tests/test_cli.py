"""``agnt-server``: keys, migrate, serve's schema guard, settings errors — as real processes."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from agnt_api.settings import SettingsError, load_settings
from agnt_models import ApiKeyCreated, ApiKeyInfo


def _clean_env(**agnt: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGNT_")}
    return {**env, **agnt}


def server(
    env: dict[str, str], *args: str, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run ``agnt-server`` with ``args`` to completion."""
    return subprocess.run(
        [sys.executable, "-m", "agnt_api.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_keys_create_list_and_revoke(tmp_path: Path) -> None:
    env = _clean_env(AGNT_DATA_DIR=str(tmp_path))
    assert server(env, "migrate").returncode == 0
    made = server(env, "keys", "create", "--role", "executor", "--name", "runner")
    assert made.returncode == 0, made.stderr
    created = ApiKeyCreated.model_validate_json(made.stdout)
    assert created.key.startswith(created.prefix) and created.role == "executor"
    extra = server(
        env,
        "keys",
        "create",
        "--role",
        "buyer",
        "--name",
        "spare",
        "--principal-id",
        str(created.principal_id),
    )
    assert ApiKeyCreated.model_validate_json(extra.stdout).role == "executor"
    listed = [ApiKeyInfo.model_validate(i) for i in json.loads(server(env, "keys", "list").stdout)]
    assert [info.name for info in listed] == ["runner", "spare"]
    assert created.key not in server(env, "keys", "list").stdout
    revoked = server(env, "keys", "revoke", created.prefix)
    assert revoked.returncode == 0
    again = server(env, "keys", "revoke", created.prefix)
    assert again.returncode == 1
    assert "no active key" in again.stderr
    listed = [ApiKeyInfo.model_validate(i) for i in json.loads(server(env, "keys", "list").stdout)]
    assert listed[0].revoked_at is not None and listed[1].revoked_at is None


def test_bad_setting_fails_fast_naming_the_variable(tmp_path: Path) -> None:
    env = _clean_env(AGNT_DATA_DIR=str(tmp_path), AGNT_LEASE_SECONDS="soon")
    done = server(env, "migrate")
    assert done.returncode == 2
    assert "AGNT_LEASE_SECONDS" in done.stderr
    with pytest.raises(SettingsError, match="AGNT_DATABASE_URL"):
        load_settings(database_url="mysql://nope")
    with pytest.raises(SettingsError, match="AGNT_STORAGE_URL"):
        load_settings(storage_url="ftp://files")


@pytest.mark.postgres
def test_serve_refuses_a_database_that_is_not_migrated(
    make_postgres_database: Callable[[], str], tmp_path: Path
) -> None:
    env = _clean_env(AGNT_DATA_DIR=str(tmp_path), AGNT_DATABASE_URL=make_postgres_database())
    done = server(env, "serve", "--port", "1")
    assert done.returncode == 1
    assert "agnt-server migrate" in done.stderr


def test_serve_with_embedded_defaults_answers_readyz(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = _clean_env(XDG_DATA_HOME=str(tmp_path / "xdg"), HOME=str(tmp_path))
    log = (tmp_path / "serve.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "agnt_api.cli", "serve", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=log,
    )
    try:
        deadline = time.monotonic() + 60
        status = None
        while time.monotonic() < deadline and status != 200:
            assert process.poll() is None, (tmp_path / "serve.log").read_text()
            try:
                status = httpx.get(f"http://127.0.0.1:{port}/readyz").status_code
            except httpx.HTTPError:
                time.sleep(0.1)
        assert status == 200
        assert (tmp_path / "xdg" / "agnt" / "agnt.db").exists()
    finally:
        process.terminate()
        process.wait(timeout=20)
        log.close()
