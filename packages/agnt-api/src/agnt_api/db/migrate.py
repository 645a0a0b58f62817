"""Alembic, driven from code: upgrade to head, and the schema check ``serve`` makes first."""

from __future__ import annotations

import json
from importlib import metadata, resources
from pathlib import Path
from urllib.parse import urlsplit
from urllib.request import url2pathname

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory


class MigrationsMissing(RuntimeError):
    """agnt-api was installed without its Alembic environment (a broken build)."""


class SchemaOutdated(Exception):
    """The database's schema is not at the head revision: run ``agnt-server migrate``."""


def migrations_dir() -> Path:
    """The Alembic environment, found through the installed agnt-api distribution.

    A wheel ships it as ``agnt_api/migrations`` (package data). An editable install of a
    checkout ships no copy (it would go stale as revisions are added): its PEP 610
    ``direct_url.json`` names the project directory, and the checkout's top-level
    ``migrations/`` (or the sdist's ``migrations/``) is read from there.
    """
    shipped = resources.files("agnt_api") / "migrations"
    if shipped.joinpath("env.py").is_file():
        return Path(str(shipped))
    project = _editable_project_dir()
    if project is not None:
        for candidate in (project / "migrations", project.parent.parent / "migrations"):
            if (candidate / "env.py").is_file():
                return candidate
    raise MigrationsMissing(
        "agnt_api has no migrations: install agnt-api from its wheel, "
        "or editable from a checkout that has migrations/"
    )


def _editable_project_dir() -> Path | None:
    """The source directory of an editable agnt-api install, from its ``direct_url.json``."""
    try:
        text = metadata.distribution("agnt-api").read_text("direct_url.json")
    except metadata.PackageNotFoundError:
        return None
    if not text:
        return None
    direct_url = json.loads(text)
    url = urlsplit(str(direct_url.get("url", "")))
    if not direct_url.get("dir_info", {}).get("editable") or url.scheme != "file":
        return None
    return Path(url2pathname(url.path))


def alembic_config(connection: sa.Connection | None = None) -> Config:
    """An Alembic config for this package's migrations; ``connection`` is the one to migrate."""
    config = Config()
    config.set_main_option("script_location", str(migrations_dir()))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def upgrade(engine: sa.Engine) -> None:
    """Migrate the database to the head revision (idempotent)."""
    with engine.begin() as connection:
        command.upgrade(alembic_config(connection), "head")


def head_revision() -> str | None:
    """The newest revision the code knows."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(engine: sa.Engine) -> str | None:
    """The database's revision; ``None`` for an empty database."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def ensure_current(engine: sa.Engine) -> None:
    """Raise ``SchemaOutdated`` unless the database is at the head revision."""
    current, head = current_revision(engine), head_revision()
    if current != head:
        found = current or "an empty database"
        raise SchemaOutdated(
            f"the database schema is at {found}, the code needs {head}: run `agnt-server migrate`"
        )
