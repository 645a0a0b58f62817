"""Wake-ups for long-polls: a job changed, or a job arrived for an executor.

Topics are strings: ``job:<id>`` when a job changes, ``owner:<principal id>`` and
``agent:<agent id>`` when a job becomes claimable (created, requeued) for that executor's
agent. A long-poller subscribes *before* it reads the database, so a change between its
read and its wait still wakes it.

A topic wakes every *shared* subscriber (a buyer's job wait, a watch, SSE) but only one
*exclusive* subscriber that is not woken already: the claim long-polls, so that one new
job costs one claim attempt, not one per waiting executor (the thundering herd). No wake
is lost: an exclusive subscriber that leaves with a wake it did not act on (it hung up,
reached its deadline, failed), or whose attempt may have left jobs behind (it claimed its
``max``), hands a wake on to another exclusive subscriber of its topics.

A write announces its topics inside its own transaction (``announce``): on Postgres that
is a ``NOTIFY``, which Postgres delivers at commit and drops on rollback, so a committed
change never fails afterwards for want of a notification, and costs no extra round trip
or transaction. ``Notifier`` is the in-process hub (one API process, the embedded SQLite
default): ``Database.write`` hands it the announced topics after the commit.
``PostgresNotifier`` ``LISTEN``s on one connection per process and wakes its pollers from
there, so a change committed on any replica (or worker process) wakes pollers on all.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import TypeVar

import psycopg
import sqlalchemy as sa

from agnt_api.db import Database
from agnt_api.db.database import ANNOUNCED_TOPICS, NOTIFY_CHANNEL

log = logging.getLogger(__name__)

T = TypeVar("T")

CHANNEL = NOTIFY_CHANNEL


def job_topic(job_id: object) -> str:
    """Topic of one job's changes."""
    return f"job:{job_id}"


def owner_topic(owner_id: object) -> str:
    """Topic of new jobs for any agent of one executor."""
    return f"owner:{owner_id}"


def agent_topic(agent_id: str) -> str:
    """Topic of new (or requeued) jobs for one agent: what a claimer of that agent waits on."""
    return f"agent:{agent_id}"


def announce(connection: sa.Connection, topics: Iterable[str]) -> None:
    """Wake the long-polls on ``topics`` when this write transaction commits.

    The topics are collected on the connection: ``Database`` sends them all, just before
    the commit, as one ``NOTIFY`` on Postgres (part of the transaction: delivered at
    commit, dropped on rollback), and hands them to the in-process notifier after it.
    A rolled-back transaction announces nothing.
    """
    connection.info.setdefault(ANNOUNCED_TOPICS, set()).update(topics)


class Subscription:
    """A long-poller's interest in some topics; ``wait`` returns when any of them fired.

    ``exclusive``: a topic's notification wakes only one exclusive subscriber (see the
    module). ``woken`` says a wake came that no attempt has followed yet; ``hand_on``
    that the last attempt may have left work for another exclusive subscriber.
    """

    def __init__(self, topics: frozenset[str], exclusive: bool = False) -> None:
        self.topics = topics
        self.exclusive = exclusive
        self.woken = False
        self.waiting = False
        self.hand_on = False
        self._event = asyncio.Event()

    def wake(self) -> None:
        """Mark the subscription as fired (called by the hub)."""
        self.woken = True
        self._event.set()

    def attempting(self) -> bool:
        """An attempt starts: it sees every change announced so far. ``True`` if it answers
        a wake (then an attempt that fails owes that wake to another subscriber)."""
        took = self.woken
        self.woken = False
        self._event.clear()
        return took

    async def wait(self, seconds: float) -> bool:
        """Wait up to ``seconds`` for a wake-up; ``True`` if one came. Re-arms."""
        self.waiting = True
        try:
            async with asyncio.timeout(max(seconds, 0.0)):
                await self._event.wait()
        except TimeoutError:
            return False
        finally:
            self.waiting = False
        self._event.clear()
        return True


class Notifier:
    """The in-process hub: publish wakes every shared subscriber of the topics and one
    exclusive subscriber per topic."""

    def __init__(self) -> None:
        # Per topic, in subscription order (oldest first): dicts as ordered sets.
        self._subscribers: dict[str, dict[Subscription, None]] = {}
        self._exclusive: dict[str, dict[Subscription, None]] = {}
        self.stopping = False

    def stop_waiting(self) -> None:
        """The process is shutting down: every long-poll answers now, and new ones at once."""
        self.stopping = True
        self._wake_all()

    @contextlib.asynccontextmanager
    async def subscribe(
        self, topics: Iterable[str], *, exclusive: bool = False
    ) -> AsyncIterator[Subscription]:
        """Listen to ``topics`` for the duration of the ``async with`` block.

        An ``exclusive`` subscriber that leaves ``woken`` or with ``hand_on`` set passes
        a wake on to another exclusive subscriber of its topics.
        """
        await self._ready()
        subscription = Subscription(frozenset(topics), exclusive)
        index = self._exclusive if exclusive else self._subscribers
        for topic in subscription.topics:
            index.setdefault(topic, {})[subscription] = None
        try:
            yield subscription
        finally:
            for topic in subscription.topics:
                subscribers = index.get(topic)
                if subscribers is not None:
                    subscribers.pop(subscription, None)
                    if not subscribers:
                        del index[topic]
            if exclusive and not self.stopping and (subscription.woken or subscription.hand_on):
                for topic in subscription.topics:
                    self._wake_exclusive(topic)

    def committed(self, topics: Iterable[str]) -> None:
        """A transaction that announced ``topics`` committed: wake their subscribers."""
        self._wake(topics)

    async def close(self) -> None:
        """Stop background work."""

    async def _ready(self) -> None:
        """Hook for backends that must be listening before a poller reads the database."""

    def _wake(self, topics: Iterable[str]) -> None:
        for topic in topics:
            for subscription in self._subscribers.get(topic, ()):
                subscription.wake()
            self._wake_exclusive(topic)

    def _wake_exclusive(self, topic: str) -> None:
        """Wake one exclusive subscriber of ``topic`` that is not woken: the oldest waiting
        one, else the oldest (attempting now). None if all are woken: each will attempt."""
        subscribers = self._exclusive.get(topic)
        if not subscribers:
            return
        chosen: Subscription | None = None
        for subscription in subscribers:
            if subscription.woken:
                continue
            if subscription.waiting:
                chosen = subscription
                break
            if chosen is None:
                chosen = subscription
        if chosen is not None:
            chosen.wake()

    def _wake_all(self) -> None:
        for index in (self._subscribers, self._exclusive):
            for subscribers in index.values():
                for subscription in subscribers:
                    subscription.wake()


class PostgresNotifier(Notifier):
    """The hub, plus ``NOTIFY`` on publish and a ``LISTEN`` connection feeding it."""

    def __init__(self, database: Database, *, listen_timeout: float = 5.0) -> None:
        super().__init__()
        url = database.engine.url.set(drivername="postgresql")
        self._conninfo = url.render_as_string(hide_password=False)
        self._listen_timeout = listen_timeout
        self._listening = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def committed(self, topics: Iterable[str]) -> None:
        """Nothing to do: the ``NOTIFY`` went out with the commit and comes back by ``LISTEN``.

        Waking local subscribers here too would make each of them attempt twice.
        """

    async def close(self) -> None:
        """Stop listening."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _ready(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._listen(), name="agnt-listen")
        if not self._listening.is_set():
            # Without LISTEN a poller still returns at its deadline; it just wakes late.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._listen_timeout):
                    await self._listening.wait()

    async def _listen(self) -> None:
        delay = 0.1
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(
                    self._conninfo, autocommit=True
                ) as connection:
                    await connection.execute(f"LISTEN {CHANNEL}")
                    self._listening.set()
                    delay = 0.1
                    # Anything may have happened while we were not listening: re-check all.
                    self._wake_all()
                    async for notification in connection.notifies():
                        self._wake(notification.payload.split(" "))
            except (psycopg.Error, OSError) as exc:
                self._listening.clear()
                log.warning("LISTEN connection lost (%s); reconnecting in %.1fs", exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)


async def long_poll(
    notifier: Notifier,
    topics: Iterable[str],
    wait: float,
    attempt: Callable[[], Awaitable[T]],
    done: Callable[[T], bool],
    abandoned: Callable[[], Awaitable[bool]] | None = None,
    *,
    exclusive: bool = False,
    hand_on: Callable[[T], bool] | None = None,
) -> T:
    """``attempt()`` until ``done`` says its result is worth answering, for up to ``wait`` s.

    The one long-poll loop of the API (buyers following a job, executors claiming or
    watching). It subscribes to ``topics`` *before* each attempt reads the database, so a
    change committed in between still wakes it; it re-attempts on each wake-up and answers
    the last result at the deadline, or at once when the process starts shutting down.
    ``abandoned`` (the caller hung up) is asked after each wake-up, before the next attempt:
    an attempt with effects (a claim) must not run for a caller who is gone.

    ``exclusive`` (claims): a notification wakes one exclusive poller of a topic, not all.
    ``hand_on(result)`` says the attempt may have left work behind (a claim that took its
    ``max``): the poller then passes a wake on when it leaves, as it does with a wake it
    did not act on, or after an attempt that answered a wake and failed.
    """
    if wait <= 0 or notifier.stopping:
        return await attempt()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait
    async with notifier.subscribe(topics, exclusive=exclusive) as subscription:
        while True:
            # Until the attempt answers: it failed, and owes the wake it took (if any).
            subscription.hand_on = subscription.attempting()
            result = await attempt()
            subscription.hand_on = hand_on is not None and hand_on(result)
            remaining = deadline - loop.time()
            if done(result) or remaining <= 0 or notifier.stopping:
                return result
            await subscription.wait(remaining)
            if abandoned is not None and await abandoned():
                return result


def create_notifier(database: Database) -> Notifier:
    """The notifier for this database: ``LISTEN/NOTIFY`` on Postgres, in-process otherwise."""
    if database.is_postgres:
        return PostgresNotifier(database)
    return Notifier()
