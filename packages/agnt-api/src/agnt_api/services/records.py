"""Rows to wire models, and the clock: the one place timestamps are made timezone-aware."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from agnt_api.services.schemas import without_surrogates
from agnt_models import Agent, AgentSummary, InputFilesRule, Job, JobStatus, JobTimeouts, Pricing


def utc_now() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """``value`` as aware UTC (SQLite hands back naive datetimes that were stored in UTC)."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def _maybe_utc(value: datetime | None) -> datetime | None:
    return None if value is None else as_utc(value)


def job_from_row(row: sa.Row[Any]) -> Job:
    """The wire ``Job`` for a ``jobs`` row."""
    started, completed = _maybe_utc(row.started_at), _maybe_utc(row.completed_at)
    duration = None
    if started is not None and completed is not None:
        duration = max((completed - started).total_seconds(), 0.0)
    return Job(
        id=row.id,
        agent_id=row.agent_id,
        buyer_id=row.buyer_id,
        prompt=row.prompt,
        params=without_surrogates(row.params),
        status=JobStatus(row.status),
        progress=row.progress,
        decision_reason=row.decision_reason,
        created_at=as_utc(row.created_at),
        updated_at=as_utc(row.updated_at),
        started_at=started,
        completed_at=completed,
        lease_expires_at=_maybe_utc(row.lease_expires_at),
        duration_seconds=duration,
        attempt=row.attempt,
        max_attempts=row.max_attempts,
        deadline_at=_maybe_utc(row.deadline_at),
    )


def agent_from_row(row: sa.Row[Any], online_after: datetime | None = None) -> Agent:
    """The wire ``Agent`` for an ``agents`` row; online if last seen at/after ``online_after``."""
    last_seen = _maybe_utc(row.last_seen_at)
    return Agent(
        id=row.id,
        owner_id=row.owner_id,
        name=row.name,
        description=row.description,
        tags=row.tags,
        pricing=Pricing.model_validate(row.pricing),
        input_schema=row.input_schema,
        output_schema=row.output_schema,
        input_files=None
        if row.input_files is None
        else InputFilesRule.model_validate(row.input_files),
        created_at=as_utc(row.created_at),
        updated_at=as_utc(row.updated_at),
        accept_rules=row.accept_rules,
        published=row.unpublished_at is None,
        online=_online(last_seen, online_after),
        last_seen_at=last_seen,
        timeout_seconds=JobTimeouts(
            default=row.timeout_default_seconds, max=row.timeout_max_seconds
        ),
        max_attempts=row.max_attempts,
        retry_on_failure=row.retry_on_failure,
    )


def _online(last_seen: datetime | None, online_after: datetime | None) -> bool:
    return last_seen is not None and online_after is not None and last_seen >= online_after


def agent_summary_from_row(
    row: sa.Row[Any], score: float | None, online_after: datetime | None = None
) -> AgentSummary:
    """A search hit for an ``agents`` row."""
    return AgentSummary(
        id=row.id,
        name=row.name,
        description=row.description,
        tags=row.tags,
        pricing=Pricing.model_validate(row.pricing),
        score=score,
        online=_online(_maybe_utc(row.last_seen_at), online_after),
        last_seen_at=_maybe_utc(row.last_seen_at),
    )
