"""A job's event log: every change of a job appends one event, in the same transaction.

Sequence numbers are per job, from 1, without gaps: ``append_event`` locks the job's row
(``SELECT ... FOR UPDATE`` on Postgres; a status UPDATE in the same transaction already
holds it) and takes ``MAX(seq) + 1``. SQLite writers run one at a time (``BEGIN
IMMEDIATE``), so the same read is safe there. Each append announces the job's topic, so
streams and long-polls on any replica wake when the transaction commits.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from agnt_api.db.database import LOCKED_JOBS
from agnt_api.db.tables import job_events, job_webhooks, jobs
from agnt_api.errors import InvalidTransition, JobNotFound, StaleAttempt
from agnt_api.notify import announce, job_topic
from agnt_api.services.records import as_utc, utc_now
from agnt_api.services.schemas import check_storable
from agnt_api.services.webhooks import enqueue_deliveries
from agnt_models import (
    LEASED,
    TERMINAL_EVENT_KINDS,
    JobEvent,
    JobEventKind,
    JobEventPage,
    JobStatus,
    LogBatch,
)

PROGRESS_INTERVAL = timedelta(seconds=0.5)
"""A progress event younger than this makes the next one unstored (the job still has it)."""

MAX_EVENTS_PER_PAGE = 500
"""At most this many events per read (a page, or one SSE wake-up)."""

STATUS_EVENT_KINDS: Mapping[JobStatus, JobEventKind] = {
    JobStatus.PENDING: JobEventKind.REQUEUED,
    JobStatus.ACCEPTED: JobEventKind.ACCEPTED,
    JobStatus.REJECTED: JobEventKind.REJECTED,
    JobStatus.RUNNING: JobEventKind.RUNNING,
    JobStatus.COMPLETED: JobEventKind.COMPLETED,
    JobStatus.FAILED: JobEventKind.FAILED,
    JobStatus.CANCELED: JobEventKind.CANCELED,
}
"""The event a move to each status appends (back to ``pending`` is a requeue)."""

_TERMINAL_KIND_VALUES = sorted(kind.value for kind in TERMINAL_EVENT_KINDS)


_LOCK_JOB = sa.select(jobs.c.id).where(jobs.c.id == sa.bindparam("job_id")).with_for_update()

_INSERT_NEXT_EVENT = (
    job_events.insert()
    .values(
        job_id=sa.bindparam("job_id", type_=job_events.c.job_id.type),
        seq=sa.select(sa.func.coalesce(sa.func.max(job_events.c.seq), 0) + 1)
        .where(job_events.c.job_id == sa.bindparam("job_id", type_=job_events.c.job_id.type))
        .scalar_subquery(),
        kind=sa.bindparam("kind", type_=job_events.c.kind.type),
        data=sa.bindparam("data", type_=job_events.c.data.type),
        created_at=sa.bindparam("created_at", type_=job_events.c.created_at.type),
    )
    .returning(
        job_events.c.seq,
        sa.exists()
        .where(job_webhooks.c.job_id == sa.bindparam("job_id", type_=job_events.c.job_id.type))
        .label("has_webhook"),
    )
)
"""One round trip: the event with the job's next ``seq``, and whether the job has a webhook.

Built once (its compiled form is cached per dialect): constructing a statement per call
costs more CPU than running it. The ``MAX(seq)`` is safe because the job's row is locked.
"""


def note_locked(connection: sa.Connection, job_ids: Iterable[uuid.UUID]) -> None:
    """Record that this transaction holds the row lock of ``job_ids`` (it updated them).

    ``append_event`` then skips its own ``SELECT ... FOR UPDATE`` (a round trip) for them.
    ``Database`` forgets the set when the transaction ends.
    """
    connection.info.setdefault(LOCKED_JOBS, set()).update(job_ids)


def append_event(
    connection: sa.Connection, job_id: uuid.UUID, kind: JobEventKind, data: Mapping[str, Any]
) -> JobEvent:
    """Append one event to the job's log (inside the caller's write transaction)."""
    if job_id not in connection.info.get(LOCKED_JOBS, ()):
        # The row lock serializes appends to one job on Postgres (no duplicate seq); on
        # SQLite FOR UPDATE renders nothing and the write transaction is exclusive already.
        connection.execute(_LOCK_JOB, {"job_id": job_id})
        note_locked(connection, [job_id])
    now = utc_now()
    row = connection.execute(
        _INSERT_NEXT_EVENT,
        {"job_id": job_id, "kind": kind.value, "data": dict(data), "created_at": now},
    ).one()
    announce(connection, [job_topic(job_id)])
    event = JobEvent(job_id=job_id, seq=row.seq, kind=kind, data=dict(data), created_at=now)
    if row.has_webhook:
        enqueue_deliveries(connection, job_id, event)
    return event


def status_event_data(status: JobStatus, reason: str | None) -> dict[str, Any]:
    """The ``data`` of a status event: the new status, and the reason if there is one."""
    data: dict[str, Any] = {"status": status.value}
    if reason is not None:
        data["reason"] = reason
    return data


def append_status_event(
    connection: sa.Connection,
    job_id: uuid.UUID,
    status: JobStatus,
    reason: str | None,
    extra: Mapping[str, Any] | None = None,
) -> JobEvent:
    """Append the event of the job's move to ``status``."""
    data = status_event_data(status, reason)
    if extra:
        data.update(extra)
    return append_event(connection, job_id, STATUS_EVENT_KINDS[status], data)


def append_progress(connection: sa.Connection, job_id: uuid.UUID, progress: int) -> bool:
    """Append a progress event unless the last one is younger than ``PROGRESS_INTERVAL``.

    Coalescing keeps a chatty handler from filling the log; the latest value is on the job
    itself (``Job.progress``) either way. ``True`` if an event was stored.
    """
    last = connection.execute(
        sa.select(job_events.c.created_at)
        .where(job_events.c.job_id == job_id, job_events.c.kind == JobEventKind.PROGRESS.value)
        .order_by(job_events.c.seq.desc())
        .limit(1)
    ).scalar_one_or_none()
    if last is not None and utc_now() - as_utc(last) < PROGRESS_INTERVAL:
        announce(connection, [job_topic(job_id)])
        return False
    append_event(connection, job_id, JobEventKind.PROGRESS, {"progress": progress})
    return True


def read_events(
    connection: sa.Connection,
    job_id: uuid.UUID,
    scope: sa.ColumnElement[bool],
    after: int,
    limit: int = MAX_EVENTS_PER_PAGE,
) -> JobEventPage:
    """The job's events after ``after`` (``JobNotFound`` outside ``scope``)."""
    _job_status(connection, job_id, scope)
    rows = connection.execute(
        sa.select(job_events)
        .where(job_events.c.job_id == job_id, job_events.c.seq > after)
        .order_by(job_events.c.seq)
        .limit(limit)
    ).all()
    items = [
        JobEvent(
            job_id=row.job_id,
            seq=row.seq,
            kind=JobEventKind(row.kind),
            data=row.data,
            created_at=as_utc(row.created_at),
        )
        for row in rows
    ]
    last_seq = items[-1].seq if items else after
    terminal_seq = connection.execute(
        sa.select(sa.func.min(job_events.c.seq)).where(
            job_events.c.job_id == job_id, job_events.c.kind.in_(_TERMINAL_KIND_VALUES)
        )
    ).scalar_one_or_none()
    done = terminal_seq is not None and last_seq >= terminal_seq
    return JobEventPage(items=items, last_seq=last_seq, done=done)


def _job_status(
    connection: sa.Connection, job_id: uuid.UUID, scope: sa.ColumnElement[bool]
) -> JobStatus:
    status = connection.execute(
        sa.select(jobs.c.status).where(jobs.c.id == job_id, scope)
    ).scalar_one_or_none()
    if status is None:
        raise JobNotFound(f"no job {job_id}")
    return JobStatus(status)


def append_logs(
    connection: sa.Connection,
    job_id: uuid.UUID,
    scope: sa.ColumnElement[bool],
    batch: LogBatch,
    max_bytes: int,
) -> int:
    """Store a batch of handler output lines as one ``log`` event; the lines accepted.

    Only while the job is held (accepted or running) and in the executor's ``scope``, else
    ``InvalidTransition`` (``JobNotFound`` outside the scope).
    Past ``max_bytes`` of lines per job the rest are dropped and one ``{"truncated": true}``
    event says so (the budget counter then stays above ``max_bytes``: said once).
    """
    status = _job_status(connection, job_id, scope)
    if batch.attempt is not None:
        _check_log_attempt(connection, job_id, batch.attempt)
    if status not in LEASED:
        raise InvalidTransition(f"job {job_id} is {status.value}; it takes no more log lines")
    used = connection.execute(
        sa.select(jobs.c.log_bytes).where(jobs.c.id == job_id).with_for_update()
    ).scalar_one()
    note_locked(connection, [job_id])
    if used > max_bytes:
        return 0
    kept: list[dict[str, Any]] = []
    for line in batch.lines:
        size = len(line.text.encode("utf-8", "surrogatepass"))
        if used + size > max_bytes:
            break
        used += size
        kept.append(line.model_dump(mode="json"))
    truncated = len(kept) < len(batch.lines)
    if kept:
        append_event(connection, job_id, JobEventKind.LOG, {"lines": kept})
    if truncated:
        append_event(connection, job_id, JobEventKind.LOG, {"truncated": True})
        used = max_bytes + 1
    connection.execute(jobs.update().where(jobs.c.id == job_id).values(log_bytes=used))
    return len(kept)


def _check_log_attempt(connection: sa.Connection, job_id: uuid.UUID, attempt: int) -> None:
    """``StaleAttempt`` if the job moved on from ``attempt`` (that run lost it)."""
    current = connection.execute(
        sa.select(jobs.c.attempt).where(jobs.c.id == job_id).with_for_update()
    ).scalar_one()
    if current != attempt:
        raise StaleAttempt(
            f"job {job_id} is on attempt {current}; these log lines are for attempt "
            f"{attempt}, which lost the job"
        )


def check_log_batch(batch: LogBatch) -> None:
    """``ValidationFailed`` if a line holds what a database cannot store (no I/O)."""
    for index, line in enumerate(batch.lines):
        check_storable(f"lines.{index}.text", line.text)


def sweep_events(connection: sa.Connection, older_than: datetime) -> int:
    """Delete the events of jobs that ended before ``older_than``; how many were deleted."""
    ended = sa.select(jobs.c.id).where(jobs.c.completed_at < older_than)
    result = connection.execute(job_events.delete().where(job_events.c.job_id.in_(ended)))
    return int(result.rowcount or 0)
