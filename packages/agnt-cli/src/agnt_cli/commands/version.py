"""``agnt version [--check]``: this build's version; with ``--check``, whether a newer
``agnt`` is out on the channel it was installed from (the only time ``agnt`` asks a
package registry anything: nothing is checked at start-up).
"""

from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer

from agnt_cli.errors import CliError
from agnt_cli.exit_codes import ExitCode
from agnt_cli.output import print_document, version_document

PYPI_URL_ENV = "AGNT_PYPI_URL"
NPM_REGISTRY_ENV = "AGNT_NPM_REGISTRY"
PYPI_URL = "https://pypi.org/pypi"
NPM_REGISTRY = "https://registry.npmjs.org"
_RELEASE = re.compile(r"^\d+(?:\.\d+)*")


@dataclass(frozen=True)
class Channel:
    """Where this ``agnt`` came from: the registry, the package name, how to upgrade."""

    registry: str
    package: str
    upgrade: str

    def latest_url(self) -> str:
        """The registry URL whose answer names the newest version of the package."""
        if self.registry == "npm":
            base = os.environ.get(NPM_REGISTRY_ENV, NPM_REGISTRY).rstrip("/")
            return f"{base}/{self.package}/latest"
        base = os.environ.get(PYPI_URL_ENV, PYPI_URL).rstrip("/")
        return f"{base}/{self.package}/json"

    def latest_of(self, answer: Any) -> str:
        """The newest version in the registry's JSON answer."""
        version = answer.get("version") if self.registry == "npm" else answer["info"]["version"]
        if not isinstance(version, str):
            raise TypeError("no version string")
        return version


NPM = Channel("npm", "agnt", "npm install -g agnt@latest")
PIP_BINARY = Channel("pypi", "agnt-bin", "pip install --upgrade agnt-bin")
PIP_PYTHON = Channel("pypi", "agnt-cli", "pip install --upgrade agnt-cli")


def install_channel() -> Channel | None:
    """The channel of this ``agnt``, from where it runs; ``None`` for a bare binary."""
    if not getattr(sys, "frozen", False):
        return PIP_PYTHON
    executable = Path(sys.executable).resolve()
    if "node_modules" in executable.parts:
        return NPM
    if executable.parent.name == "agnt_binary":
        return PIP_BINARY
    return None


def newer(latest: str, current: str) -> bool:
    """Whether release ``latest`` is newer than ``current`` (numeric release parts only)."""

    def release(version: str) -> tuple[int, ...]:
        match = _RELEASE.match(version)
        return tuple(int(part) for part in match.group().split(".")) if match else ()

    return release(latest) > release(current)


def check_latest(channel: Channel) -> str:
    """Ask the channel's registry for the newest version; ``CliError`` when it can't say."""
    import httpx

    url = channel.latest_url()
    try:
        response = httpx.get(url, timeout=10, follow_redirects=True)
    except httpx.TimeoutException as exc:
        raise CliError(
            "registry_timeout", f"{url} did not answer: {exc}", ExitCode.TIMEOUT
        ) from exc
    except httpx.HTTPError as exc:
        raise CliError(
            "registry_unreachable", f"could not reach {url}: {exc}", ExitCode.NETWORK
        ) from exc
    if response.status_code != 200:
        raise CliError(
            "registry_error",
            f"{url} answered {response.status_code}",
            ExitCode.GENERAL,
            status=response.status_code,
        )
    try:
        return channel.latest_of(response.json())
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise CliError("registry_error", f"{url} gave no version: {exc}", ExitCode.GENERAL) from exc


def version(
    check: Annotated[
        bool,
        typer.Option(
            "--check",
            help="Ask the registry this agnt came from (PyPI or npm) whether a newer one is out.",
        ),
    ] = False,
) -> None:
    """Print the version as JSON; with --check, also the newest one on this channel."""
    document: dict[str, Any] = dict(version_document())
    if check:
        channel = install_channel()
        if channel is None:
            raise CliError(
                "unknown_channel",
                "this agnt binary was not installed from npm or PyPI, so there is no "
                "registry to ask; see the release page for newer builds",
                ExitCode.GENERAL,
            )
        latest = check_latest(channel)
        update = newer(latest, document["version"])
        document.update(
            channel=channel.registry,
            package=channel.package,
            latest=latest,
            update_available=update,
            upgrade=channel.upgrade if update else None,
        )
    print_document(document)
