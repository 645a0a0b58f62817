"""The job path's statements: few per request, on both databases (issue 14's CPU budget).

Each statement is a round trip and a share of the server's CPU per request, so these
tests pin how many a request runs: a status report, a claim, the notifications of a
transaction. They count what SQLAlchemy sends to the driver (``before_cursor_execute``).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa
from psycopg import pq

from agnt_api.db import Database, dialect
from agnt_api.db.database import notify_payloads
from agnt_api.db.tables import job_events
from agnt_api.settings import Settings

from .conftest import ON_POSTGRES_ONLY, Api


@contextmanager
def statements(api: Api) -> Iterator[list[str]]:
    """The SQL statements the app's engine sends while the block runs."""
    sent: list[str] = []

    def record(*args: Any) -> None:
        sent.append(str(args[2]))

    engine = api.runtime.database.engine
    sa.event.listen(engine, "before_cursor_execute", record)
    try:
        yield sent
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)


def _notifies(sent: list[str]) -> int:
    return sum("pg_notify" in statement for statement in sent)


async def test_status_report_is_one_statement_on_postgres(api: Api, echo: dict[str, Any]) -> None:
    job = await api.order("buyer-a", "echo")
    assert (await api.report("executor-x", job["id"], "accepted")).status_code == 200
    with statements(api) as sent:
        response = await api.report("executor-x", job["id"], "running")
    assert response.status_code == 200
    assert response.json()["status"] == "running"
    if api.runtime.database.is_postgres:
        # The UPDATE with the event's INSERT and the pg_notify as CTEs, in autocommit (no
        # BEGIN/COMMIT either: the statement is its own transaction).
        assert len(sent) == 1, sent
        assert _notifies(sent) == 1
    else:
        # BEGIN IMMEDIATE, the UPDATE, the event's INSERT (its seq, and whether a webhook
        # wants it). No row lock, no webhook lookup.
        assert len(sent) == 3, sent
        assert _notifies(sent) == 0


async def test_progress_reports_fold_their_events(api: Api, echo: dict[str, Any]) -> None:
    job = await api.order("buyer-a", "echo")
    assert (await api.report("executor-x", job["id"], "accepted")).status_code == 200
    postgres = api.runtime.database.is_postgres
    # The executor's start: running with progress 0 (the renewal finds no running job,
    # the move takes it: a running and a progress event).
    with statements(api) as sent:
        started = await api.report("executor-x", job["id"], "running", progress=0)
    assert started.status_code == 200
    assert len(sent) == (2 if postgres else 6), sent
    # A heartbeat inside the coalescing interval: renewed, no event stored.
    with statements(api) as sent:
        beat = await api.report("executor-x", job["id"], "running", progress=5)
    assert beat.json()["progress"] == 5
    assert len(sent) == (1 if postgres else 3), sent
    await asyncio.sleep(0.6)
    beat = await api.report("executor-x", job["id"], "running", progress=7)
    assert beat.json()["progress"] == 7
    with api.runtime.database.engine.connect() as connection:
        events = connection.execute(
            sa.select(job_events.c.seq, job_events.c.kind, job_events.c.data)
            .where(job_events.c.job_id == uuid.UUID(job["id"]))
            .order_by(job_events.c.seq)
        ).all()
    assert [(e.seq, e.kind) for e in events] == [
        (1, "created"),
        (2, "accepted"),
        (3, "running"),
        (4, "progress"),
        (5, "progress"),
    ]
    assert [e.data.get("progress") for e in events[3:]] == [0, 7]


async def test_events_keep_consecutive_seqs_without_the_lock_statement(
    api: Api, echo: dict[str, Any]
) -> None:
    job = await api.order("buyer-a", "echo")
    await api.run_to_running("executor-x", job["id"])
    for progress in (10, 20):
        await api.report("executor-x", job["id"], "running", progress=progress)
        await asyncio.sleep(0.6)  # past the progress events' coalescing interval
    done = await api.complete("executor-x", job["id"], [("out.txt", b"ok")])
    assert done.status_code == 200
    with api.runtime.database.engine.connect() as connection:
        seqs = list(
            connection.execute(
                sa.select(job_events.c.seq)
                .where(job_events.c.job_id == uuid.UUID(job["id"]))
                .order_by(job_events.c.seq)
            ).scalars()
        )
    # created, accepted, running, progress, progress, completed
    assert seqs == [1, 2, 3, 4, 5, 6]


async def test_claim_of_own_agent_skips_the_ownership_query(api: Api, echo: dict[str, Any]) -> None:
    await api.order("buyer-a", "echo")
    with statements(api) as sent:
        response = await api.client.post(
            "/v1/executor/claims",
            headers=api.auth("executor-x"),
            json={"max": 1, "agent_ids": ["echo"]},
        )
    assert response.status_code == 200
    assert len(response.json()["items"]) == 1
    # (The presence mark, an UPDATE of last_seen_at, names the caller's agents too.)
    ownership = [s for s in sent if s.lstrip().upper().startswith("SELECT")]
    assert not any("agents.owner_id" in s and "agents.id IN" in s for s in ownership), sent
    assert _notifies(sent) == (1 if api.runtime.database.is_postgres else 0)


async def test_claim_naming_a_foreign_agent_is_403_and_claims_nothing(
    api: Api, echo: dict[str, Any]
) -> None:
    await api.publish("executor-y", "other")
    job = await api.order("buyer-a", "echo")
    response = await api.client.post(
        "/v1/executor/claims",
        headers=api.auth("executor-x"),
        json={"max": 5, "agent_ids": ["echo", "other"]},
    )
    assert response.status_code == 403
    # The claim of the echo job rolled back with the refused request.
    polled = await api.client.get(f"/v1/jobs/{job['id']}", headers=api.auth("buyer-a"))
    assert polled.json()["status"] == "pending"


def test_notify_payloads_split_under_the_size_limit() -> None:
    topics = [f"job:{uuid.uuid4()}" for _ in range(500)]
    payloads = notify_payloads(topics + topics[:10])
    assert all(len(payload) < 8000 for payload in payloads)
    assert sorted(" ".join(payloads).split(" ")) == sorted(topics)
    assert notify_payloads([]) == []


@pytest.mark.postgres
def test_reads_run_outside_a_transaction_on_postgres(make_postgres_database: Any) -> None:
    database = Database(Settings(database_url=make_postgres_database()).database_url)
    try:

        def status(connection: sa.Connection) -> int:
            connection.execute(sa.text("SELECT 1"))
            return int(connection.connection.dbapi_connection.info.transaction_status)  # type: ignore[union-attr]  # psycopg's connection

        # No BEGIN (a round trip) for a read; a write is one transaction.
        assert database.transact(status) == pq.TransactionStatus.IDLE
        assert database.transact_write(status) == pq.TransactionStatus.INTRANS
        # The next checkout of the same pooled connection is transactional again.
        assert database.transact_write(status) == pq.TransactionStatus.INTRANS
    finally:
        database.dispose()


@pytest.mark.postgres
def test_a_connection_killed_while_idle_is_replaced(
    make_postgres_database: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(dialect, "PING_AFTER_IDLE_SECONDS", 0.2)
    url = make_postgres_database()
    database = Database(Settings(database_url=url).database_url)
    try:

        def backend_pid(connection: sa.Connection) -> int:
            return int(connection.execute(sa.text("SELECT pg_backend_pid()")).scalar_one())

        first = database.transact(backend_pid)
        with psycopg.connect(url, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (first,))
        time.sleep(0.4)
        # Idle past the threshold: pinged at checkout, found dead, replaced; no error.
        assert database.transact(backend_pid) != first
    finally:
        database.dispose()


async def test_an_order_runs_six_statements(api: Api, echo: dict[str, Any]) -> None:
    await api.order("buyer-a", "echo")
    with statements(api) as sent:
        job = await api.order("buyer-a", "echo")
    assert job["status"] == "pending"
    # Postgres: the rate-limit token, the agent's read; then the agent's version (FOR
    # SHARE), the job's INSERT answering its row, the created event's INSERT, one NOTIFY.
    # SQLite: BEGIN and BEGIN IMMEDIATE instead of the token and the NOTIFY. No savepoint
    # without an Idempotency-Key, no row lock, no read-back of the new job (was 10).
    assert len(sent) == 6, sent
    assert _notifies(sent) == (1 if api.runtime.database.is_postgres else 0)


async def test_a_completion_folds_its_record(api: Api, echo: dict[str, Any]) -> None:
    job = await api.order("buyer-a", "echo")
    await api.run_to_running("executor-x", job["id"])
    with statements(api) as sent:
        done = await api.complete("executor-x", job["id"], [("out.txt", b"ok")])
    assert done.status_code == 200
    assert done.json()["status"] == "completed"
    writes = [s for s in sent if "jobs SET status" in s or "INTO job" in s]
    if api.runtime.database.is_postgres:
        # The token, the job's check; then the move with its event, the result's row and
        # the NOTIFY as one statement (the agent's popularity is the sweep's, was three
        # more: the stale agents to recount, the recount, their postings' level).
        assert len(writes) == 1, sent
        assert len(sent) == 3, sent
        assert _notifies(sent) == 1
    else:
        # The move, the event, the result (and the check, BEGINs).
        assert len(writes) == 3, sent
    result = await api.client.get(f"/v1/jobs/{job['id']}/result", headers=api.auth("buyer-a"))
    assert [f["name"] for f in result.json()["files"]] == ["out.txt"]
    with api.runtime.database.engine.connect() as connection:
        kinds = list(
            connection.execute(
                sa.select(job_events.c.kind)
                .where(job_events.c.job_id == uuid.UUID(job["id"]))
                .order_by(job_events.c.seq)
            ).scalars()
        )
    assert kinds == ["created", "accepted", "running", "completed"]


def _job_events(api: Api, job_id: str) -> list[tuple[int, str]]:
    with api.runtime.database.engine.connect() as connection:
        rows = connection.execute(
            sa.select(job_events.c.seq, job_events.c.kind)
            .where(job_events.c.job_id == uuid.UUID(job_id))
            .order_by(job_events.c.seq)
        ).all()
    return [(row.seq, row.kind) for row in rows]


@contextmanager
def _event_appended_under_lock(api: Api, job_id: str) -> Iterator[psycopg.Connection[Any]]:
    """Another transaction holding the job's row lock with an event appended (uncommitted)."""
    url = api.runtime.database.engine.url.set(drivername="postgresql")
    with psycopg.connect(url.render_as_string(hide_password=False)) as other:
        other.execute("SELECT id FROM jobs WHERE id = %s FOR UPDATE", (job_id,))
        other.execute(
            "INSERT INTO job_events (job_id, seq, kind, data, created_at) SELECT %s,"
            " MAX(seq) + 1, 'log', '{\"lines\": []}', now() FROM job_events WHERE job_id = %s",
            (job_id, job_id),
        )
        yield other


@ON_POSTGRES_ONLY
async def test_a_folded_write_racing_another_event_redoes_it_in_a_transaction(
    api: Api, echo: dict[str, Any]
) -> None:
    job = await api.order("buyer-a", "echo")
    assert (await api.report("executor-x", job["id"], "accepted")).status_code == 200
    # The report's statement takes its snapshot, then waits for the row lock; the event
    # committed meanwhile is not in its snapshot: its seq collides, it runs again.
    with _event_appended_under_lock(api, job["id"]) as other, statements(api) as sent:
        report = asyncio.create_task(api.report("executor-x", job["id"], "running"))
        await asyncio.sleep(0.5)
        assert not report.done()
        other.commit()
        response = await report
    assert response.status_code == 200, response.text
    # The folded statement, then the transaction's UPDATE, event INSERT and NOTIFY.
    assert sent[0].startswith("WITH moved") and len(sent) == 4, sent
    assert response.json()["status"] == "running"
    assert _job_events(api, job["id"]) == [
        (1, "created"),
        (2, "accepted"),
        (3, "log"),
        (4, "running"),
    ]
    # The same for a completion (folded inside its transaction): never a duplicate seq.
    with _event_appended_under_lock(api, job["id"]) as other, statements(api) as sent:
        done = asyncio.create_task(api.complete("executor-x", job["id"], [("out.txt", b"ok")]))
        await asyncio.sleep(0.5)
        assert not done.done()
        other.commit()
        response = await done
    # (Folded or redone: Postgres may also give the waiting statement the new event.)
    assert sum(s.startswith("WITH moved") for s in sent) == 1, sent
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "completed"
    assert _job_events(api, job["id"])[-2:] == [(5, "log"), (6, "completed")]
    result = await api.client.get(f"/v1/jobs/{job['id']}/result", headers=api.auth("buyer-a"))
    assert [f["name"] for f in result.json()["files"]] == ["out.txt"]
