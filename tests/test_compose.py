"""compose.yaml and the Containerfile agree with the code: every AGNT_* variable a service
sets is one its program reads, the values validate, and the start order is the safe one.

No container runtime is needed: the file is parsed and interpolated the way compose does.
"""

from __future__ import annotations

import asyncio
import os
import re
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
    assert {"postgres", "minio", "minio-bucket", "migrate", "executor"} <= set(SERVICES)
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
    bucket = urlsplit(environment(API_SERVICES[0])["AGNT_STORAGE_URL"]).netloc
    assert environment("minio-bucket")["AGNT_BUCKET"] == bucket
    assert "mc mb --ignore-existing" in command_text("minio-bucket")


def test_api_credentials_and_public_endpoint_match_minio() -> None:
    minio = environment("minio")
    api = environment(API_SERVICES[0])
    assert api["AWS_ACCESS_KEY_ID"] == minio["MINIO_ROOT_USER"]
    assert api["AWS_SECRET_ACCESS_KEY"] == minio["MINIO_ROOT_PASSWORD"]
    public_port = urlsplit(api["AGNT_S3_PUBLIC_ENDPOINT_URL"]).port
    assert f"{public_port}:9000" in SERVICES["minio"]["ports"]


@pytest.mark.parametrize("service", ["postgres", "minio", *API_SERVICES])
def test_long_running_services_have_healthchecks(service: str) -> None:
    check = SERVICES[service]["healthcheck"]
    assert check["test"][0] in ("CMD", "CMD-SHELL")
    assert check["retries"] >= 1


def condition(service: str, dependency: str) -> str:
    return str(SERVICES[service]["depends_on"][dependency]["condition"])


def test_start_order_migrates_before_any_api_replica() -> None:
    assert condition("migrate", "postgres") == "service_healthy"
    assert SERVICES["migrate"]["command"] == ["agnt-server", "migrate"]
    assert SERVICES["migrate"]["restart"] == "no"
    for name in API_SERVICES:
        assert condition(name, "migrate") == "service_completed_successfully"
        assert condition(name, "minio-bucket") == "service_completed_successfully"
    assert condition("minio-bucket", "minio") == "service_healthy"
    assert condition("bootstrap", "migrate") == "service_completed_successfully"
    executor_api = next(iter(SERVICES["executor"]["depends_on"]))
    assert executor_api in API_SERVICES
    assert condition("executor", executor_api) == "service_healthy"
    assert environment("executor")[API_URL_ENV] == f"http://{executor_api}:8000"


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
