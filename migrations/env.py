"""Alembic environment for the agnt API schema (SQLite and Postgres alike).

``agnt-server migrate`` passes its connection in ``config.attributes["connection"]``;
the ``alembic`` command line (``alembic -c migrations/alembic.ini ...``) reads
``AGNT_DATABASE_URL`` through the service's settings instead.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import context

from agnt_api.db import dialect
from agnt_api.db.tables import metadata
from agnt_api.settings import load_settings


def _include_object(
    obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any
) -> bool:
    # The Postgres full-text column and index live outside the metadata (dialect.py).
    return not dialect.is_schema_object_of_dialect(name)


def _run(connection: sa.Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        include_object=_include_object,
        compare_type=True,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


def _main() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = dialect.create_engine(load_settings().database_url)
    try:
        with engine.begin() as own:
            _run(own)
    finally:
        engine.dispose()


_main()
