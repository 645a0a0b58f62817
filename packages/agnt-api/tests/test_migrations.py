"""The Alembic migrations: they build the schema on both databases, with no drift."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from alembic import command

from agnt_api.db import Database
from agnt_api.db.migrate import (
    SchemaOutdated,
    alembic_config,
    current_revision,
    ensure_current,
    head_revision,
    upgrade,
)
from agnt_api.db.tables import metadata
from agnt_api.settings import Settings


@pytest.fixture
def database(database_url: str) -> Database:
    """A handle on the empty test database."""
    handle = Database(Settings(database_url=database_url).database_url)
    yield handle  # type: ignore[misc]
    handle.dispose()


def test_upgrade_from_empty_creates_every_table_at_head(database: Database) -> None:
    with pytest.raises(SchemaOutdated, match="agnt-server migrate"):
        ensure_current(database.engine)
    upgrade(database.engine)
    assert current_revision(database.engine) == head_revision()
    ensure_current(database.engine)
    tables = set(sa.inspect(database.engine).get_table_names())
    assert set(metadata.tables) <= tables
    upgrade(database.engine)  # a second run is a no-op
    assert current_revision(database.engine) == head_revision()


def test_alembic_check_finds_no_drift_between_models_and_migrations(database: Database) -> None:
    upgrade(database.engine)
    with database.engine.begin() as connection:
        command.check(alembic_config(connection))


def test_downgrade_to_base_and_back_up(database: Database) -> None:
    upgrade(database.engine)
    with database.engine.begin() as connection:
        command.downgrade(alembic_config(connection), "base")
    assert current_revision(database.engine) is None
    assert not set(metadata.tables) & set(sa.inspect(database.engine).get_table_names())
    upgrade(database.engine)
    assert current_revision(database.engine) == head_revision()


@pytest.mark.postgres
def test_postgres_search_uses_a_generated_tsvector_with_a_gin_index(
    make_postgres_database: object,
) -> None:
    url = make_postgres_database()  # type: ignore[operator]
    database = Database(Settings(database_url=url).database_url)
    try:
        upgrade(database.engine)
        with database.engine.connect() as connection:
            generated = connection.execute(
                sa.text(
                    "SELECT is_generated FROM information_schema.columns "
                    "WHERE table_name = 'agents' AND column_name = 'search_document'"
                )
            ).scalar_one()
            index = connection.execute(
                sa.text(
                    "SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_agents_search_document'"
                )
            ).scalar_one()
    finally:
        database.dispose()
    assert generated == "ALWAYS"
    assert "gin" in index.lower()
