"""The database handle: a sync SQLAlchemy engine whose work runs in worker threads.

Services hand ``Database.run`` (read) or ``Database.write`` a function of a ``Connection``
and its arguments; it runs in one transaction on a worker thread, so the event loop never
blocks on the database and both dialects take the same code path. Both are typed with
``Concatenate``, so mypy checks every call's arguments against the work function.

Why threads and not an async driver: measured on the claim path (``bench/``), the cost per
request is Python (FastAPI, SQLAlchemy, pydantic) in one GIL-bound process, not the thread
hop; the sync engine keeps SQLite (pysqlite) and Postgres (psycopg) on one code path, and
more throughput comes from more worker processes (``agnt-server serve --workers``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import partial
from typing import Concatenate, ParamSpec, TypeVar

import anyio.to_thread
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from agnt_api.db import dialect

P = ParamSpec("P")
T = TypeVar("T")

ANNOUNCED_TOPICS = "agnt_announced_topics"
"""``Connection.info`` key: the topics a transaction announced (see ``notify.announce``)."""


class Database:
    """One engine per process; ``run``/``write`` execute a unit of work in a transaction.

    ``on_commit`` (set by the runtime) receives the topics a write announced, on the event
    loop, after its transaction committed: the in-process notifier wakes its long-polls
    there (Postgres delivers them itself, as ``NOTIFY`` sent inside the transaction).
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine: Engine = dialect.create_engine(url)
        self.on_commit: Callable[[frozenset[str]], None] | None = None

    @property
    def is_postgres(self) -> bool:
        """Whether this is a Postgres database (else the embedded SQLite file)."""
        return dialect.is_postgres(self.engine)

    def transact(
        self,
        work: Callable[Concatenate[sa.Connection, P], T],
        /,
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> T:
        """Run ``work(connection, ...)`` in one read transaction on this thread."""
        result, _ = self._transact(False, partial(work, **kwargs), *args)
        return result

    def transact_write(
        self,
        work: Callable[Concatenate[sa.Connection, P], T],
        /,
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> T:
        """Run ``work(connection, ...)`` in one write transaction on this thread.

        On SQLite a writer takes the lock at ``BEGIN`` (``BEGIN IMMEDIATE``): writers queue
        instead of failing with ``SQLITE_BUSY`` halfway.
        """
        result, _ = self._transact(True, partial(work, **kwargs), *args)
        return result

    async def run(
        self,
        work: Callable[Concatenate[sa.Connection, P], T],
        /,
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> T:
        """``transact`` on a worker thread, awaited from the event loop."""
        result, _ = await anyio.to_thread.run_sync(
            self._transact, False, partial(work, **kwargs), *args
        )
        return result

    async def write(
        self,
        work: Callable[Concatenate[sa.Connection, P], T],
        /,
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> T:
        """``transact_write`` on a worker thread; then hands its announced topics on."""
        result, topics = await anyio.to_thread.run_sync(
            self._transact, True, partial(work, **kwargs), *args
        )
        if topics and self.on_commit is not None:
            self.on_commit(topics)
        return result

    def _transact(
        self, write: bool, work: Callable[..., T], *args: object
    ) -> tuple[T, frozenset[str]]:
        with self.engine.connect() as connection:
            connection.execution_options(**{dialect.SQLITE_WRITE_OPTION: write})
            connection.info.pop(ANNOUNCED_TOPICS, None)
            with connection.begin():
                result = work(connection, *args)
            announced: Iterable[str] = connection.info.pop(ANNOUNCED_TOPICS, ())
            return result, frozenset(announced)

    async def check(self) -> None:
        """Raise unless the database answers a query (``/readyz``)."""
        await self.run(_select_one)

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()


def _select_one(connection: sa.Connection) -> None:
    connection.execute(sa.text("SELECT 1"))
