"""The database handle: a sync SQLAlchemy engine whose work runs in worker threads.

Services hand ``Database.run`` a function of a ``Connection``; it runs in one transaction
on a worker thread, so the event loop never blocks on the database and both dialects take
the same code path (aiosqlite is not a dependency; psycopg's sync driver is as fast here).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import ParamSpec, TypeVar

import anyio.to_thread
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from agnt_api.db import dialect

P = ParamSpec("P")
T = TypeVar("T")


class Database:
    """One engine per process; ``run`` executes a unit of work in a transaction."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine: Engine = dialect.create_engine(url)

    @property
    def is_postgres(self) -> bool:
        """Whether this is a Postgres database (else the embedded SQLite file)."""
        return dialect.is_postgres(self.engine)

    def transact(
        self,
        work: Callable[..., T],
        *args: object,
        write: bool = False,
    ) -> T:
        """Run ``work(connection, *args)`` in one transaction on this thread; commit or roll back."""
        with self.engine.connect() as connection:
            connection.execution_options(**{dialect.SQLITE_WRITE_OPTION: write})
            with connection.begin():
                return work(connection, *args)

    async def run(
        self,
        work: Callable[..., T],
        *args: object,
        write: bool = False,
    ) -> T:
        """``transact`` on a worker thread, awaited from the event loop."""
        return await anyio.to_thread.run_sync(partial(self.transact, work, *args, write=write))

    async def check(self) -> None:
        """Raise unless the database answers a query (``/readyz``)."""
        await self.run(_select_one)

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()


def _select_one(connection: sa.Connection) -> None:
    connection.execute(sa.text("SELECT 1"))
