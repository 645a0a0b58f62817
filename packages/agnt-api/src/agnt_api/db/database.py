"""The database handle: a sync SQLAlchemy engine whose work runs in worker threads.

Services hand ``Database.run`` (read) or ``Database.write`` a function of a ``Connection``
and its arguments; it runs in one transaction on a worker thread, so the event loop never
blocks on the database and both dialects take the same code path. Both are typed with
``Concatenate``, so mypy checks every call's arguments against the work function.

Why threads and not an async driver: the cost per request is Python (FastAPI, SQLAlchemy,
pydantic) in a GIL-bound process, not the thread hop. Issue 14's prototype measured an
async engine at +20 % on the claim path (190 -> 225-230 claims/s), less than what removing
round trips gave (one transaction per request, the atomic claim) or a second process;
the sync engine keeps SQLite (pysqlite) and Postgres (psycopg) on one code path, and more
throughput comes from more worker processes (``agnt-server serve --workers``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Concatenate, ParamSpec, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from agnt_api.db import dialect

P = ParamSpec("P")
T = TypeVar("T")

ANNOUNCED_TOPICS = "agnt_announced_topics"
"""``Connection.info`` key: the topics a transaction announced (see ``notify.announce``)."""

LOCKED_JOBS = "agnt_locked_jobs"
"""``Connection.info`` key: the jobs whose row the transaction locked (see ``events``)."""

NOTIFY_CHANNEL = "agnt_events"
"""The Postgres ``NOTIFY`` channel of announced topics (space-separated in the payload)."""

_MAX_PAYLOAD = 7_000
"""Bytes per ``NOTIFY`` payload (Postgres refuses 8,000 and more)."""

_NOTIFY = sa.text("SELECT pg_notify(:channel, :payload)")

FOLDED = "agnt_folded"
"""``Connection.info`` key: this write takes its folded form (see ``Database.write_once``)."""

_THREADS = 40
"""Worker threads per process: as many as the Postgres pool's connections (10 + 30)."""


class NeedsTransaction(Exception):  # a signal to ``Database``, not an error
    """Raised by a ``write_once``/``write_folded`` work whose folded form did not apply:
    it changed nothing (or is rolled back), and the work runs again unfolded."""


def folded(connection: sa.Connection) -> bool:
    """Whether ``connection`` runs a ``write_once``/``write_folded`` work's folded form.

    Postgres only: the work does its change as one statement whose events are
    data-modifying CTEs and whose ``SELECT`` carries its ``pg_notify`` (then announces
    nothing), or raises ``NeedsTransaction``; otherwise (SQLite, or the second try) it
    runs its usual statements in a write transaction.
    """
    return bool(connection.info.get(FOLDED))


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
        self._postgres = dialect.is_postgres(self.engine)
        self._threads = ThreadPoolExecutor(_THREADS, thread_name_prefix="agnt-db")

    @property
    def is_postgres(self) -> bool:
        """Whether this is a Postgres database (else the embedded SQLite file)."""
        return self._postgres

    def transact(
        self,
        work: Callable[Concatenate[sa.Connection, P], T],
        /,
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> T:
        """Run the read ``work(connection, ...)`` on this thread.

        On Postgres without a transaction (autocommit: no ``BEGIN``/``COMMIT`` round trips;
        a ``work`` that writes must use ``transact_write``).
        """
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
        result, _ = await self._in_thread(False, partial(work, **kwargs), *args)
        return result

    async def write(
        self,
        work: Callable[Concatenate[sa.Connection, P], T],
        /,
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> T:
        """``transact_write`` on a worker thread; then hands its announced topics on."""
        result, topics = await self._in_thread(True, partial(work, **kwargs), *args)
        if topics and self.on_commit is not None:
            self.on_commit(topics)
        return result

    async def write_once(
        self,
        work: Callable[Concatenate[sa.Connection, P], T],
        /,
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> T:
        """``write``, for a work whose common case is one statement.

        On Postgres the work first runs in autocommit (``folded`` is true): its one
        statement is its own transaction, so there is no ``BEGIN`` and no ``COMMIT`` (two
        round trips of the five a status report took); a ``NOTIFY`` it carries is delivered
        when it commits. If the work raises ``NeedsTransaction`` it runs again, in a write
        transaction, on the same worker thread. On SQLite it runs in a write transaction
        (in-process: its round trips are cheap).
        """
        result, topics = await self._in_thread(True, partial(work, **kwargs), *args, fold="once")
        if topics and self.on_commit is not None:
            self.on_commit(topics)
        return result

    async def write_folded(
        self,
        work: Callable[Concatenate[sa.Connection, P], T],
        /,
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> T:
        """``write``, for a work that folds its statements but needs a transaction.

        On Postgres the work runs in a write transaction with ``folded`` true (its change,
        events and ``NOTIFY`` as one statement, then what else must share the transaction);
        on ``NeedsTransaction`` that transaction rolls back and the work runs again
        unfolded, on the same worker thread. On SQLite it runs unfolded.
        """
        result, topics = await self._in_thread(True, partial(work, **kwargs), *args, fold="txn")
        if topics and self.on_commit is not None:
            self.on_commit(topics)
        return result

    async def write_folded_after(
        self,
        prepare: Callable[[], object],
        work: Callable[Concatenate[sa.Connection, P], T],
        /,
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> T:
        """``prepare()``, then ``write_folded(work, ...)``, on one worker thread (one hop).

        For blocking work that must be done before the transaction (a file's write): it
        runs before the connection is taken, so no transaction waits on it.
        """
        result, topics = await self._in_thread(
            True, partial(work, **kwargs), *args, fold="txn", prepare=prepare
        )
        if topics and self.on_commit is not None:
            self.on_commit(topics)
        return result

    async def _in_thread(
        self,
        write: bool,
        work: Callable[..., T],
        *args: object,
        fold: str | None = None,
        prepare: Callable[[], object] | None = None,
    ) -> tuple[T, frozenset[str]]:
        """``_transact`` on one of this database's threads.

        The loop's executor, not ``anyio.to_thread``: a hop there costs twice the CPU
        (cancel scopes, a limiter, context copies), and the job path makes one per request.
        Like anyio's, a cancelled caller still waits for the transaction to end: what it
        did is committed or rolled back, never left running unseen.
        """
        loop = asyncio.get_running_loop()
        if prepare is not None:
            future = loop.run_in_executor(
                self._threads, self._prepare_then_transact, prepare, fold, write, work, *args
            )
        elif fold is not None and self._postgres:
            future = loop.run_in_executor(
                self._threads, self._transact_folded, fold == "once", work, *args
            )
        else:
            future = loop.run_in_executor(self._threads, self._transact, write, work, *args)
        try:
            return await asyncio.shield(future)
        except asyncio.CancelledError:
            while not future.done():
                try:
                    await asyncio.wait([future])
                except asyncio.CancelledError:
                    continue
            raise

    def _transact(
        self, write: bool, work: Callable[..., T], *args: object, fold: bool = False
    ) -> tuple[T, frozenset[str]]:
        with self.engine.connect() as connection:
            if self._postgres:
                if not write:
                    # A read needs no transaction: under READ COMMITTED each statement
                    # sees its own snapshot anyway, and BEGIN and COMMIT are two round
                    # trips (GET job is one statement).
                    connection.execution_options(isolation_level="AUTOCOMMIT")
            else:
                connection.execution_options(**{dialect.SQLITE_WRITE_OPTION: write})
            # ``info`` belongs to the pooled connection: forget what an earlier one left.
            connection.info.pop(ANNOUNCED_TOPICS, None)
            connection.info.pop(LOCKED_JOBS, None)
            if fold:
                connection.info[FOLDED] = True
            try:
                with connection.begin():
                    result = work(connection, *args)
                    announced = frozenset(connection.info.pop(ANNOUNCED_TOPICS, ()))
                    if announced and self._postgres:
                        # One NOTIFY per transaction, however many changes announced
                        # topics: each statement is a round trip. Delivered at the commit.
                        for payload in notify_payloads(announced):
                            connection.execute(
                                _NOTIFY, {"channel": NOTIFY_CHANNEL, "payload": payload}
                            )
            finally:
                connection.info.pop(LOCKED_JOBS, None)
                connection.info.pop(FOLDED, None)
            return result, announced

    def _prepare_then_transact(
        self,
        prepare: Callable[[], object],
        fold: str | None,
        write: bool,
        work: Callable[..., T],
        *args: object,
    ) -> tuple[T, frozenset[str]]:
        prepare()
        if fold is not None and self._postgres:
            return self._transact_folded(fold == "once", work, *args)
        return self._transact(write, work, *args)

    def _transact_folded(
        self, autocommit: bool, work: Callable[..., T], *args: object
    ) -> tuple[T, frozenset[str]]:
        """``work`` folded (in autocommit, or in a transaction), else (``NeedsTransaction``)
        unfolded in a transaction."""
        if not autocommit:
            try:
                return self._transact(True, work, *args, fold=True)
            except NeedsTransaction:
                return self._transact(True, work, *args)
        with self.engine.connect() as connection:
            connection.execution_options(isolation_level="AUTOCOMMIT")
            connection.info.pop(ANNOUNCED_TOPICS, None)
            connection.info.pop(LOCKED_JOBS, None)
            connection.info[FOLDED] = True
            try:
                result = work(connection, *args)
                # Topics announced besides what the statement notified: sent now (the
                # change is committed already).
                announced = frozenset(connection.info.pop(ANNOUNCED_TOPICS, ()))
                for payload in notify_payloads(announced):
                    connection.execute(_NOTIFY, {"channel": NOTIFY_CHANNEL, "payload": payload})
                return result, announced
            except NeedsTransaction:
                pass
            finally:
                connection.info.pop(FOLDED, None)
                connection.info.pop(LOCKED_JOBS, None)
                connection.info.pop(ANNOUNCED_TOPICS, None)
        return self._transact(True, work, *args)

    async def check(self) -> None:
        """Raise unless the database answers a query (``/readyz``)."""
        await self.run(_select_one)

    def dispose(self) -> None:
        """Close every pooled connection, and let the idle worker threads end."""
        self._threads.shutdown(wait=False)
        self._threads = ThreadPoolExecutor(_THREADS, thread_name_prefix="agnt-db")
        self.engine.dispose()


def notify_payloads(topics: Iterable[str]) -> list[str]:
    """``topics`` as space-separated ``NOTIFY`` payloads, each under Postgres's size limit."""
    payloads: list[str] = []
    current: list[str] = []
    size = 0
    for name in sorted(set(topics)):
        if current and size + len(name) + 1 > _MAX_PAYLOAD:
            payloads.append(" ".join(current))
            current, size = [], 0
        current.append(name)
        size += len(name) + 1
    if current:
        payloads.append(" ".join(current))
    return payloads


def _select_one(connection: sa.Connection) -> None:
    connection.execute(sa.text("SELECT 1"))
