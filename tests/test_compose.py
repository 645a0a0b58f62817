"""compose.yaml and the Containerfile agree with the code: every AGNT_* variable a service
sets is one its program reads, the values validate, images are pinned, and the start order
is safe even where depends_on conditions are ignored (podman-compose before 1.3).

No container runtime is needed: the file is parsed and interpolated the way compose does;
the wait loops are run by a real shell with stand-in commands.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from agnt_api.settings import Settings, load_settings
from agnt_api.storage import create_storage
from agnt_api.storage.s3 import S3Storage
from agnt_client.options import API_KEY_ENV, API_URL_ENV

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = yaml.safe_load((ROOT / "compose.yaml").read_text())
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]
AGNT_IMAGE = "localhost/agnt:latest"

SERVER_VARIABLES = {f"AGNT_{name.upper()}" for name in Settings.model_fields}
EXECUTOR_VARIABLES = {API_URL_ENV, API_KEY_ENV}

_VARIABLE = re.compile(r"\$\$|\$\{(?P<name>\w+)(?::-(?P<default>[^}]*))?\}")


def interpolate(value: str) -> str:
    """Compose's ``${NAME:-default}`` with nothing set in the environment; ``$$`` is ``$``."""

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        return match.group("default") or ""

    return _VARIABLE.sub(replace, value)


def environment(service: str) -> dict[str, str]:
    """The service's environment after interpolation."""
    env = SERVICES[service].get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {key: interpolate(str(value)) for key, value in env.items()}


def command_text(service: str) -> str:
    spec = SERVICES[service]
    parts = [spec.get("entrypoint") or [], spec.get("command") or []]
    return " ".join(" ".join(p) if isinstance(p, list) else str(p) for p in parts)


AGNT_SERVICES = [name for name, spec in SERVICES.items() if spec.get("image") == AGNT_IMAGE]
EXECUTOR_SERVICES = [name for name in AGNT_SERVICES if "agnt_executor" in command_text(name)]
SERVER_SERVICES = [name for name in AGNT_SERVICES if name not in EXECUTOR_SERVICES]
API_SERVICES = [name for name in SERVER_SERVICES if "serve" in command_text(name).split()]


def test_topology_has_every_part() -> None:
    assert {"postgres", "seaweedfs", "bucket", "migrate", "bootstrap", "executor"} <= set(SERVICES)
    assert len(API_SERVICES) >= 2, "two API replicas show the API is stateless"
    assert EXECUTOR_SERVICES == ["executor"]


@pytest.mark.parametrize("service", SERVER_SERVICES)
def test_server_service_sets_only_known_settings(service: str) -> None:
    unknown = {k for k in environment(service) if k.startswith("AGNT_")} - SERVER_VARIABLES
    assert not unknown, f"{service} sets variables agnt_api.settings does not read: {unknown}"


@pytest.mark.parametrize("service", EXECUTOR_SERVICES)
def test_executor_service_sets_only_client_variables(service: str) -> None:
    agnt = {k for k in environment(service) if k.startswith("AGNT_")}
    assert agnt - EXECUTOR_VARIABLES == set()
    # The key is made at run time by the bootstrap service, the URL is given here.
    assert API_URL_ENV in agnt
    assert API_KEY_ENV in command_text(service)


@pytest.mark.parametrize("service", SERVER_SERVICES)
def test_server_settings_validate_to_postgres_and_s3(
    service: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key in [k for k in os.environ if k.startswith("AGNT_")]:
        monkeypatch.delenv(key)
    for key, value in environment(service).items():
        monkeypatch.setenv(key, value)
    settings = load_settings()
    assert settings.database_url.startswith("postgresql+psycopg://")
    assert urlsplit(settings.storage_url).scheme == "s3"
    storage = create_storage(settings)
    assert isinstance(storage, S3Storage)
    asyncio.run(storage.close())


def test_every_agnt_service_shares_one_image_built_from_the_containerfile() -> None:
    for name in AGNT_SERVICES:
        assert SERVICES[name]["build"] == {"context": ".", "dockerfile": "Containerfile"}


def test_replicas_share_database_bucket_and_secret_but_not_ports() -> None:
    envs = [environment(name) for name in API_SERVICES]
    for key in ("AGNT_DATABASE_URL", "AGNT_STORAGE_URL", "AGNT_S3_ENDPOINT_URL"):
        assert len({env[key] for env in envs}) == 1, key
    host_ports = [spec.split(":")[0] for name in API_SERVICES for spec in SERVICES[name]["ports"]]
    assert len(set(host_ports)) == len(API_SERVICES)
    # Cookies signed by one replica must verify on the other: the secret lives in the
    # shared data volume that bootstrap writes.
    for name in API_SERVICES:
        assert any(v.startswith("agnt-data:") for v in SERVICES[name]["volumes"])


def test_bucket_the_api_uses_is_the_one_created() -> None:
    assert (
        environment("bucket")["AGNT_STORAGE_URL"]
        == environment(API_SERVICES[0])["AGNT_STORAGE_URL"]
    )
    script = command_text("bucket")
    assert 'urlsplit(os.environ["AGNT_STORAGE_URL"]).netloc' in script
    assert "create_bucket(Bucket=bucket)" in script


def test_api_credentials_and_public_endpoint_match_the_s3_server() -> None:
    s3 = environment("seaweedfs")
    api = environment(API_SERVICES[0])
    assert api["AWS_ACCESS_KEY_ID"] == s3["AWS_ACCESS_KEY_ID"]
    assert api["AWS_SECRET_ACCESS_KEY"] == s3["AWS_SECRET_ACCESS_KEY"]
    assert "$AWS_ACCESS_KEY_ID" in interpolate(command_text("seaweedfs")).replace("{", "")
    assert urlsplit(api["AGNT_S3_ENDPOINT_URL"]).hostname == "seaweedfs"
    public_port = urlsplit(api["AGNT_S3_PUBLIC_ENDPOINT_URL"]).port
    internal_port = urlsplit(api["AGNT_S3_ENDPOINT_URL"]).port
    assert f"{public_port}:{internal_port}" in SERVICES["seaweedfs"]["ports"]


@pytest.mark.parametrize("service", ["postgres", "seaweedfs", *API_SERVICES])
def test_long_running_services_have_healthchecks(service: str) -> None:
    check = SERVICES[service]["healthcheck"]
    assert check["test"][0] in ("CMD", "CMD-SHELL")
    assert check["retries"] >= 1


@pytest.mark.parametrize(
    "service", [name for name, spec in SERVICES.items() if spec.get("image") != AGNT_IMAGE]
)
def test_third_party_images_are_pinned_to_a_version(service: str) -> None:
    image = SERVICES[service]["image"]
    tag = image.rsplit(":", 1)[1] if ":" in image.rsplit("/", 1)[-1] else "latest"
    assert re.match(r"^\d+\.\d+", tag), f"{service}: {image} is not pinned to a version"


def condition(service: str, dependency: str) -> str:
    return str(SERVICES[service]["depends_on"][dependency]["condition"])


def test_start_order_conditions_for_compose_implementations_that_honour_them() -> None:
    assert condition("migrate", "postgres") == "service_healthy"
    for name in API_SERVICES:
        assert condition(name, "migrate") == "service_completed_successfully"
        assert condition(name, "bootstrap") == "service_completed_successfully"
        assert condition(name, "bucket") == "service_completed_successfully"
    assert condition("bucket", "seaweedfs") == "service_healthy"
    assert condition("bootstrap", "migrate") == "service_completed_successfully"
    executor_api = next(iter(SERVICES["executor"]["depends_on"]))
    assert executor_api in API_SERVICES
    assert condition("executor", executor_api) == "service_healthy"
    assert environment("executor")[API_URL_ENV] == f"http://{executor_api}:8000"


def shell_of(service: str) -> list[str]:
    """The service's entrypoint + command, as the container would run it, after interpolation."""
    spec = SERVICES[service]
    argv = [*(spec.get("entrypoint") or []), *(spec.get("command") or [])]
    return [interpolate(str(arg)) for arg in argv]


def run_with_stand_ins(
    service: str, tmp_path: Path, stand_ins: dict[str, str], replace: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    """Run the service's shell with ``stand_ins`` (name -> sh body) first on PATH; ``sleep``
    returns at once. ``replace`` rewrites container paths in the script."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    for name, body in {"sleep": "exit 0", **stand_ins}.items():
        script = bin_dir / name
        script.write_text(f"#!/bin/sh\n{body}\n")
        script.chmod(0o755)
    argv = shell_of(service)
    for old, new in replace.items():
        argv = [arg.replace(old, new) for arg in argv]
    env = {"PATH": f"{bin_dir}:{os.environ['PATH']}", **environment(service)}
    env.update({k: v.replace(old, new) for k, v in env.items() for old, new in replace.items()})
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60, cwd=tmp_path)


def test_migrate_retries_until_the_database_answers(tmp_path: Path) -> None:
    # The database refuses twice (Postgres still starting), then the migration runs.
    counter = tmp_path / "attempts"
    fails_twice = (
        f'n=$(cat {counter} 2>/dev/null || echo 0); echo $((n + 1)) > {counter}; [ "$n" -ge 2 ]'
    )
    done = run_with_stand_ins("migrate", tmp_path, {"agnt-server": fails_twice}, {})
    assert done.returncode == 0, done.stderr
    assert counter.read_text().strip() == "3"


def test_migrate_gives_up_when_the_database_never_answers(tmp_path: Path) -> None:
    done = run_with_stand_ins("migrate", tmp_path, {"agnt-server": "exit 1"}, {})
    assert done.returncode == 1
    assert "the database never answered" in done.stderr


def test_bootstrap_waits_for_the_schema_before_writing_the_key(tmp_path: Path) -> None:
    counter = tmp_path / "checks"
    # python: the schema check fails once (migrate still running); other calls pass through.
    python = (
        'case "$2" in *ensure_current*) '
        f'n=$(cat {counter} 2>/dev/null || echo 0); echo $((n + 1)) > {counter}; [ "$n" -ge 1 ];; '
        '*resolved_session_secret*) exit 0;; *) sed -n \'s/.*"key": "\\([^"]*\\)".*/\\1/p\';; esac'
    )
    keys = 'echo \'{"key": "agnt_demo_key"}\''
    data = tmp_path / "data"
    data.mkdir()
    done = run_with_stand_ins(
        "bootstrap", tmp_path, {"python": python, "agnt-server": keys}, {"/var/lib/agnt": str(data)}
    )
    assert done.returncode == 0, done.stderr
    assert counter.read_text().strip() == "2"
    assert (data / "executor.key").read_text().strip() == "agnt_demo_key"


@pytest.mark.parametrize("service", [*API_SERVICES, "executor"])
def test_servers_wait_for_the_key_bootstrap_writes_last(service: str, tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    entrypoint = SERVICES[service]["entrypoint"]
    assert "/var/lib/agnt/executor.key" in " ".join(entrypoint)
    argv = [interpolate(a).replace("/var/lib/agnt", str(data)) for a in entrypoint]
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    # `sleep` here is bootstrap finishing: it writes the key the first time it is waited on.
    (bin_dir / "sleep").write_text(f"#!/bin/sh\necho agnt_key > {data}/executor.key\n")
    (bin_dir / "sleep").chmod(0o755)
    done = subprocess.run(
        [*argv, "echo", "started"],
        env={"PATH": f"{bin_dir}:{os.environ['PATH']}"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (done.returncode, done.stdout) == (0, "started\n"), done.stderr


def test_every_dependency_and_named_volume_is_declared() -> None:
    declared = set(COMPOSE.get("volumes") or {})
    for name, spec in SERVICES.items():
        assert set(spec.get("depends_on") or {}) <= set(SERVICES), name
        for volume in spec.get("volumes") or []:
            source = volume.split(":")[0]
            if not source.startswith((".", "/")):
                assert source in declared, f"{name} mounts undeclared volume {source}"


def test_containerfile_builds_runtime_only_and_runs_unprivileged() -> None:
    text = (ROOT / "Containerfile").read_text()
    stages = re.findall(r"^FROM\s+(\S+)", text, re.MULTILINE)
    assert len(stages) >= 3, "uv, build and runtime stages"
    syncs = re.findall(r"uv sync [^\n]*", text)
    assert syncs and all(
        "--frozen" in s and "--no-dev" in s and "--package agnt-api" in s for s in syncs
    )
    final_stage = text.rsplit("\nFROM ", 1)[1]
    users = re.findall(r"^USER\s+(\S+)", final_stage, re.MULTILINE)
    assert users and users[-1] not in ("root", "0")
    assert "--from=uv" not in final_stage, "uv stays in the build stage"
    assert "migrations" in text
    # The image runs the demo executor too (compose's executor): agnt-api[demo].
    assert all("--extra demo" in s for s in syncs)
