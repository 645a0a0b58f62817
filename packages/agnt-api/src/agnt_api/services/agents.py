"""Agents: publish (owner only), read, search (ranked, tag filter, cursor), stats."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from agnt_api.auth import Principal
from agnt_api.db import dialect
from agnt_api.db.tables import agent_tags, agents, jobs
from agnt_api.errors import AgentNotFound, AgentOwnedByOther, InvalidCursor
from agnt_api.services.cursors import decode_cursor, encode_cursor, fingerprint
from agnt_api.services.records import agent_from_row, agent_summary_from_row, utc_now
from agnt_api.services.schemas import check_schema, check_storable
from agnt_models import Agent, AgentPublish, AgentSearchPage, AgentStats, JobStatus

MAX_SEARCH_OFFSET = 100_000
"""Deepest search position a cursor may hold (cursors we hand out never get near it)."""

SEARCH_CANDIDATES = 1_000
"""How many matches of a text query are ranked; the rest are not returned (bounds the work
for words that match a large share of the catalogue: p95 stays flat with catalogue size)."""


def publish_agent(
    connection: sa.Connection, owner: Principal, agent_id: str, body: AgentPublish
) -> tuple[Agent, bool]:
    """Create or update ``agent_id`` for ``owner``; ``(agent, created)``."""
    for field in ("name", "description", "tags", "input_schema", "output_schema"):
        check_storable(field, getattr(body, field))
    check_schema("input_schema", body.input_schema)
    check_schema("output_schema", body.output_schema)
    now = utc_now()
    values: dict[str, Any] = {
        "name": body.name,
        "description": body.description,
        "tags": body.tags,
        "tags_text": " ".join(body.tags),
        "pricing": body.pricing.model_dump(mode="json"),
        "input_schema": body.input_schema,
        "output_schema": body.output_schema,
        "updated_at": now,
    }
    created = False
    owner_id = _owner_of(connection, agent_id)
    if owner_id is None:
        try:
            with connection.begin_nested():
                connection.execute(
                    agents.insert().values(id=agent_id, owner_id=owner.id, created_at=now, **values)
                )
            created = True
        except IntegrityError:
            # Another publish of the same id won the race; fall through to the owner check.
            owner_id = _owner_of(connection, agent_id)
    if not created:
        if owner_id != owner.id:
            raise AgentOwnedByOther(f"agent {agent_id} belongs to another executor")
        connection.execute(agents.update().where(agents.c.id == agent_id).values(**values))
        connection.execute(agent_tags.delete().where(agent_tags.c.agent_id == agent_id))
    if body.tags:
        connection.execute(
            agent_tags.insert(), [{"agent_id": agent_id, "tag": tag} for tag in body.tags]
        )
    return get_agent(connection, agent_id), created


def _owner_of(connection: sa.Connection, agent_id: str) -> Any:
    return connection.execute(
        sa.select(agents.c.owner_id).where(agents.c.id == agent_id)
    ).scalar_one_or_none()


def get_agent(connection: sa.Connection, agent_id: str) -> Agent:
    """The agent, or ``AgentNotFound``."""
    row = connection.execute(sa.select(agents).where(agents.c.id == agent_id)).one_or_none()
    if row is None:
        raise AgentNotFound(f"no agent {agent_id}")
    return agent_from_row(row)


def search_agents(
    connection: sa.Connection,
    query: str,
    tag: str | None,
    limit: int,
    cursor: str | None,
) -> AgentSearchPage:
    """Agents matching every word of ``query`` (and ``tag``), most relevant first."""
    check_storable("q", query)
    check_storable("tag", tag)
    terms = dialect.search_terms(query)
    tag = tag.strip().lower() if tag else None
    query_key = fingerprint(terms, tag)
    offset = 0
    if cursor:
        position = decode_cursor(cursor, "agents", query_key)
        stored = position.get("offset")
        if type(stored) is not int or not 0 <= stored <= MAX_SEARCH_OFFSET:
            raise InvalidCursor("the cursor's position is invalid")
        offset = stored
    filters: list[sa.ColumnElement[bool]] = []
    if tag:
        tagged = sa.select(agent_tags.c.agent_id).where(agent_tags.c.tag == tag)
        filters.append(agents.c.id.in_(tagged))
    ranked = bool(terms)
    if ranked:
        statement = dialect.agent_search(connection, terms, filters, SEARCH_CANDIDATES)
    else:
        statement = sa.select(agents).where(*filters).order_by(agents.c.name, agents.c.id)
    rows = connection.execute(statement.offset(offset).limit(limit + 1)).all()
    items = [
        agent_summary_from_row(row, float(row.score) if ranked else None) for row in rows[:limit]
    ]
    next_cursor = None
    if len(rows) > limit:
        next_cursor = encode_cursor("agents", query_key, {"offset": offset + limit})
    return AgentSearchPage(items=items, next_cursor=next_cursor)


def agent_stats(connection: sa.Connection, agent_id: str) -> AgentStats:
    """Counts of the agent's jobs by status, success rate, average completed duration."""
    get_agent(connection, agent_id)
    counts = dict.fromkeys(JobStatus, 0)
    for status, count in connection.execute(
        sa.select(jobs.c.status, sa.func.count())
        .where(jobs.c.agent_id == agent_id)
        .group_by(jobs.c.status)
    ):
        counts[JobStatus(status)] = count
    started, finished = jobs.c.started_at, jobs.c.completed_at
    average = connection.execute(
        sa.select(sa.func.avg(dialect.seconds_between(connection, started, finished))).where(
            jobs.c.agent_id == agent_id,
            jobs.c.status == JobStatus.COMPLETED.value,
            jobs.c.started_at.is_not(None),
        )
    ).scalar_one_or_none()
    decided = counts[JobStatus.COMPLETED] + counts[JobStatus.FAILED] + counts[JobStatus.REJECTED]
    return AgentStats(
        agent_id=agent_id,
        total=sum(counts.values()),
        pending=counts[JobStatus.PENDING],
        in_progress=counts[JobStatus.ACCEPTED] + counts[JobStatus.RUNNING],
        completed=counts[JobStatus.COMPLETED],
        failed=counts[JobStatus.FAILED],
        rejected=counts[JobStatus.REJECTED],
        canceled=counts[JobStatus.CANCELED],
        success_rate=counts[JobStatus.COMPLETED] / decided if decided else None,
        avg_duration_seconds=None if average is None else max(float(average), 0.0),
    )
