"""Agents: publish and unpublish (owner only), read, search (ranked, tag filter, cursor), stats."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from agnt_api.auth import Principal
from agnt_api.db import dialect
from agnt_api.db.tables import agent_tags, agents, jobs
from agnt_api.errors import AgentNotFound, AgentOwnedByOther, Forbidden, InvalidCursor
from agnt_api.notify import announce, job_topic
from agnt_api.services import search_index, search_levels, search_merge
from agnt_api.services.cursors import decode_cursor, encode_cursor, fingerprint
from agnt_api.services.events import append_status_event
from agnt_api.services.records import agent_from_row, agent_summary_from_row, utc_now
from agnt_api.services.schemas import check_schema, check_storable
from agnt_models import (
    Agent,
    AgentPublish,
    AgentSearchPage,
    AgentStats,
    AgentSummary,
    JobStatus,
    PricingModel,
    SearchSort,
    TagCount,
)

AGENT_UNPUBLISHED = "agent_unpublished"
"""The reason of the pending jobs an unpublish cancels."""

FACET_TAGS = 20
"""How many tags a search's facets list (the most frequent over all matches)."""


def publish_agent(
    connection: sa.Connection, owner: Principal, agent_id: str, body: AgentPublish
) -> tuple[Agent, bool]:
    """Create or update ``agent_id`` for ``owner``; ``(agent, created)``."""
    for field in ("name", "description", "tags", "input_schema", "output_schema"):
        check_storable(field, getattr(body, field))
    rules = None if body.accept_rules is None else body.accept_rules.model_dump(mode="json")
    check_storable("accept_rules", rules)
    check_schema("input_schema", body.input_schema)
    check_schema("output_schema", body.output_schema)
    now = utc_now()
    values: dict[str, Any] = {
        "name": body.name,
        "description": body.description,
        "tags": body.tags,
        "tags_text": " ".join(body.tags),
        **dialect.search_fields(agent_id, body.name, body.tags, body.description),
        "pricing": body.pricing.model_dump(mode="json"),
        "price_cents": body.pricing.amount_cents,
        "pricing_model": body.pricing.model.value,
        "input_schema": body.input_schema,
        "output_schema": body.output_schema,
        "updated_at": now,
        "accept_rules": rules,
        # Publishing again brings an unpublished agent back.
        "unpublished_at": None,
        "timeout_default_seconds": body.timeout_seconds.default,
        "timeout_max_seconds": body.timeout_seconds.max,
        "max_attempts": body.max_attempts,
        "retry_on_failure": body.retry_on_failure,
        "input_files": None
        if body.input_files is None
        else body.input_files.model_dump(mode="json"),
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
        search_index.unindex_agent(connection, agent_id)
        connection.execute(agents.update().where(agents.c.id == agent_id).values(**values))
        connection.execute(agent_tags.delete().where(agent_tags.c.agent_id == agent_id))
    if body.tags:
        connection.execute(
            agent_tags.insert(), [{"agent_id": agent_id, "tag": tag} for tag in body.tags]
        )
    search_index.index_agents(
        connection, [search_index.IndexedAgent(agent_id, body.name, body.tags, body.description)]
    )
    return get_agent(connection, agent_id), created


def _owner_of(connection: sa.Connection, agent_id: str) -> Any:
    return connection.execute(
        sa.select(agents.c.owner_id).where(agents.c.id == agent_id)
    ).scalar_one_or_none()


def get_agent(
    connection: sa.Connection, agent_id: str, online_after: datetime | None = None
) -> Agent:
    """The agent, or ``AgentNotFound``; ``online`` when last seen at/after ``online_after``."""
    row = connection.execute(sa.select(agents).where(agents.c.id == agent_id)).one_or_none()
    if row is None:
        raise AgentNotFound(f"no agent {agent_id}")
    return agent_from_row(row, online_after)


def unpublish_agent(
    connection: sa.Connection, owner: Principal, agent_id: str
) -> tuple[Agent, list[Any]]:
    """Hide ``owner``'s agent and cancel its pending jobs; ``(agent, canceled job ids)``.

    Accepted and running jobs go on. Orders are refused until the agent is published again;
    bumping ``updated_at`` makes an order validated before this unpublish start over.
    Unpublishing an unpublished agent again changes nothing.
    """
    owner_id = _owner_of(connection, agent_id)
    if owner_id is None:
        raise AgentNotFound(f"no agent {agent_id}")
    if owner_id != owner.id:
        raise Forbidden(f"agent {agent_id} belongs to another executor")
    now = utc_now()
    connection.execute(
        agents.update()
        .where(agents.c.id == agent_id, agents.c.unpublished_at.is_(None))
        .values(unpublished_at=now, updated_at=now)
    )
    # Out of the search index too: its postings and per-word tag counts (publishing again
    # indexes it afresh), so the index's facet counts stay true without a filter.
    search_index.unindex_agent(connection, agent_id)
    canceled = list(
        connection.execute(
            jobs.update()
            .where(jobs.c.agent_id == agent_id, jobs.c.status == JobStatus.PENDING.value)
            .values(
                status=JobStatus.CANCELED.value,
                decision_reason=AGENT_UNPUBLISHED,
                completed_at=now,
                updated_at=now,
            )
            .returning(jobs.c.id)
        ).scalars()
    )
    for job_id in canceled:
        append_status_event(connection, job_id, JobStatus.CANCELED, AGENT_UNPUBLISHED)
    announce(connection, [job_topic(job_id) for job_id in canceled])
    return get_agent(connection, agent_id), canceled


def search_agents(
    connection: sa.Connection,
    query: str,
    tag: str | None,
    limit: int,
    cursor: str | None,
    *,
    sort: SearchSort = SearchSort.RELEVANCE,
    pricing: PricingModel | None = None,
    facets: bool = False,
    online_after: datetime | None = None,
    online_only: bool = False,
) -> AgentSearchPage:
    """Agents matching every word of ``query`` (and ``tag``, ``pricing``), in ``sort`` order.

    Every match is ranked (no candidate cap); pages follow a keyset on (sort key, id), so
    paging walks every match exactly once, to the end. ``facets``: the most frequent tags
    over all matches (the same on every page; one more query).
    """
    check_storable("q", query)
    check_storable("tag", tag)
    terms = dialect.search_terms(query)
    tag = tag.strip().lower() if tag else None
    query_key = fingerprint(terms, query.strip().lower(), tag, sort, pricing, online_only)
    # Unpublished agents are hidden; ``online_only``: only agents seen since ``online_after``.
    filters: list[sa.ColumnElement[bool]] = [agents.c.unpublished_at.is_(None)]
    if online_only:
        filters.append(agents.c.last_seen_at >= (online_after or utc_now()))
    if tag:
        tagged = sa.select(agent_tags.c.agent_id).where(agent_tags.c.tag == tag)
        filters.append(agents.c.id.in_(tagged))
    if pricing is not None:
        filters.append(agents.c.pricing_model == pricing.value)
    # The index holds published agents only; any other filter needs the matches counted.
    narrowed = len(filters) > 1
    ranked = bool(terms)
    keys = _sort_keys(sort, ranked)
    after = None
    if cursor:
        after = _cursor_values(decode_cursor(cursor, "agents", query_key), keys)

    def matched_by(bound: list[sa.ColumnElement[bool]]) -> sa.Select[Any]:
        """Every match scored (``bound``: filters every match passes anyway)."""
        if ranked:
            return dialect.agent_search(connection, query, terms, [*filters, *bound])
        return sa.select(*agents.c, sa.literal(None, sa.Integer).label("score")).where(*filters)

    def full_scan(bound: list[sa.ColumnElement[bool]]) -> list[sa.Row[Any]]:
        rows_of = matched_by(bound).subquery("matched")
        ordering: list[tuple[sa.ColumnElement[Any], bool]] = [
            (rows_of.c[name], descending) for name, _, descending in keys
        ]
        ordering.append((rows_of.c.id, False))
        statement = sa.select(rows_of).order_by(
            *(column.desc() if descending else column.asc() for column, descending in ordering)
        )
        if after is not None:
            statement = statement.where(_after(ordering, after))
        return list(connection.execute(statement.limit(limit + 1)).all())

    # Relevance: one word completing to one indexed word reads that word's postings in
    # score order (an index seek per page, however common the word), as does one word with
    # one large completion and a few rare ones; several words of which one is rare score
    # the agents holding it; other queries of several words (or a prefix of several)
    # merge each word's best postings when that proves the page; else every match is
    # scored (search_index, search_merge).
    relevance = sort is SearchSort.RELEVANCE and ranked
    group = search_index.last_word_group(connection, terms) if relevance or facets else None
    sole = search_index.sole_term(connection, terms, group) if relevance else None
    rare = search_index.rare_word_filter(connection, terms, group) if relevance else None
    bound = [] if rare is None else [rare]
    position = None if after is None else (after[0], after[1])
    exact = dialect.exact_match(query, terms)
    rows: list[sa.Row[Any]] | None = None
    if sole is not None:
        rows = search_index.sole_term_rows(connection, sole, exact, filters, position, limit + 1)
    elif relevance and rare is None:
        rows = search_index.dominant_term_rows(
            connection, query, terms, filters, position, limit + 1, group
        )
        if rows is None and not narrowed:
            rows = search_levels.level_rows(connection, query, terms, position, limit + 1, group)
        if rows is None:
            rows = search_merge.merged_rows(
                connection, query, terms, filters, position, limit + 1, group
            )
    if rows is None:
        rows = full_scan(bound)
    page = rows[:limit]
    items = [
        agent_summary_from_row(row, float(row.score) if ranked else None, online_after)
        for row in page
    ]
    next_cursor = None
    if len(rows) > limit:
        last = page[-1]
        values = [_json_value(getattr(last, name)) for name, _, _ in keys]
        next_cursor = encode_cursor("agents", query_key, {"v": values, "id": last.id})
    tag_counts = None
    if facets:
        # A one-word query counts from per-word tag counts (search_index), else every match.
        if not narrowed:
            tag_counts = search_index.word_facets(connection, terms, FACET_TAGS, group)
        if tag_counts is None:
            tag_counts = _facets(connection, matched_by(bound))
    return AgentSearchPage(items=items, next_cursor=next_cursor, facets=tag_counts)


_MAX_CURSOR_INT = 2**53
"""Integer sort keys in a cursor stay within what both databases bind as integers."""


def _sort_keys(sort: SearchSort, ranked: bool) -> list[tuple[str, sa.ColumnElement[Any], bool]]:
    """(column name, expression, descending) of the order before the final ``id``.

    ``popular`` and ``price`` are stored columns (``search_popularity``, publish) with an
    index in sort order: a page walks the index and stops, however many agents match.
    """
    if sort is SearchSort.POPULAR:
        return [("popularity", agents.c.popularity, True)]
    if sort is SearchSort.NEWEST:
        return [("created_at", agents.c.created_at, True)]
    if sort is SearchSort.PRICE:
        return [("price_cents", agents.c.price_cents, False)]
    if ranked:
        return [("score", sa.literal_column("score"), True)]
    return [("name", agents.c.name, False)]


def _after(
    ordering: list[tuple[sa.ColumnElement[Any], bool]], values: list[Any]
) -> sa.ColumnElement[bool]:
    """Rows strictly after ``values`` in the lexicographic ``ordering``."""
    clauses: list[sa.ColumnElement[bool]] = []
    for index, (column, descending) in enumerate(ordering):
        beyond = column < values[index] if descending else column > values[index]
        equal = [ordering[n][0] == values[n] for n in range(index)]
        clauses.append(sa.and_(*equal, beyond))
    return sa.or_(*clauses)


def _cursor_values(
    position: dict[str, Any], keys: list[tuple[str, sa.ColumnElement[Any], bool]]
) -> list[Any]:
    stored, last_id = position.get("v"), position.get("id")
    if (
        not isinstance(stored, list)
        or len(stored) != len(keys)
        or not isinstance(last_id, str)
        or "\x00" in last_id
    ):
        raise InvalidCursor("the cursor's position is invalid")
    values: list[Any] = []
    for (name, _, _), value in zip(keys, stored, strict=True):
        if name == "created_at":
            try:
                values.append(datetime.fromisoformat(value))
            except (TypeError, ValueError) as exc:
                raise InvalidCursor("the cursor's position is invalid") from exc
        elif name == "name":
            if not isinstance(value, str) or "\x00" in value:
                raise InvalidCursor("the cursor's position is invalid")
            values.append(value)
        elif type(value) is not int or abs(value) > _MAX_CURSOR_INT:
            raise InvalidCursor("the cursor's position is invalid")
        else:
            values.append(value)
    return [*values, last_id]


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def _facets(connection: sa.Connection, matched: sa.Select[Any]) -> list[TagCount]:
    ids = matched.with_only_columns(agents.c.id).subquery("facet_ids")
    count = sa.func.count().label("n")
    rows = connection.execute(
        sa.select(agent_tags.c.tag, count)
        .join(ids, ids.c.id == agent_tags.c.agent_id)
        .group_by(agent_tags.c.tag)
        .order_by(count.desc(), agent_tags.c.tag)
        .limit(FACET_TAGS)
    ).all()
    return [TagCount(tag=row.tag, count=row.n) for row in rows]


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
    # Only jobs that ran count: a rejection or a cancel says nothing of how the agent works.
    ran = counts[JobStatus.COMPLETED] + counts[JobStatus.FAILED]
    return AgentStats(
        agent_id=agent_id,
        total=sum(counts.values()),
        pending=counts[JobStatus.PENDING],
        in_progress=counts[JobStatus.ACCEPTED] + counts[JobStatus.RUNNING],
        completed=counts[JobStatus.COMPLETED],
        failed=counts[JobStatus.FAILED],
        rejected=counts[JobStatus.REJECTED],
        canceled=counts[JobStatus.CANCELED],
        success_rate=counts[JobStatus.COMPLETED] / ran if ran else None,
        avg_duration_seconds=None if average is None else max(float(average), 0.0),
    )


def owned_agents(
    connection: sa.Connection, owner_id: uuid.UUID, limit: int = 100
) -> list[AgentSummary]:
    """The agents ``owner_id`` publishes, by name (an owner's console lists them)."""
    rows = connection.execute(
        sa.select(agents)
        .where(agents.c.owner_id == owner_id)
        .order_by(agents.c.name, agents.c.id)
        .limit(limit)
    )
    return [agent_summary_from_row(row, None) for row in rows]
