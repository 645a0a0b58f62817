"""Alembic, driven from code: upgrade to head, and the schema check ``serve`` makes first."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

import agnt_api


class SchemaOutdated(Exception):
    """The database's schema is not at the head revision: run ``agnt-server migrate``."""


def migrations_dir() -> Path:
    """The Alembic environment: shipped inside the wheel, or ``migrations/`` of the checkout."""
    package = Path(agnt_api.__file__).parent
    shipped = package / "migrations"
    if (shipped / "env.py").exists():
        return shipped
    return package.parents[3] / "migrations"


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
