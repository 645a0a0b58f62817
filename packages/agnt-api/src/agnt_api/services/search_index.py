"""The search postings: kept in step with the agents at publish, read in score order.

``search_postings`` holds one row per (word, agent) with the word's whole-word score in that
agent (8 id/name + 4 tags + 2 description, ``dialect.postings_of``) times
``dialect.SEARCH_LEVELS`` plus the agent's popularity level (``search_popularity``), with a
btree on (word, score DESC, agent id): the matches of one word, best first (text score,
then popularity, then id), are one index range scan, and a keyset page (score, id) is a
seek, however many agents use the word.
``search_term_tags`` counts, per word, the agents carrying each tag: a one-word search's
facets without reading its matches. Both are written in the publishing transaction.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from agnt_api.db import dialect
from agnt_api.db.tables import agent_tags, agents, search_postings, search_term_tags
from agnt_models import TagCount

COMPLETIONS_READ = 2
"""``sole_term`` reads at most this many completions of the last word (one is enough)."""


def one_of(
    connection: sa.Connection, column: sa.ColumnElement[Any], values: Sequence[Any]
) -> sa.ColumnElement[bool]:
    """``column IN values``; on Postgres ``column = ANY(array)``: one parameter, so the
    statement's text is the same however many values (psycopg parses it once per
    connection and prepares it after a few runs, instead of planning every text anew)."""
    if connection.dialect.name == "postgresql":
        array = sa.bindparam(None, list(values), type_=postgresql.ARRAY(column.type))
        return column == sa.any_(array)
    return column.in_(list(values))


@dataclass(frozen=True, slots=True)
class IndexedAgent:
    """What the postings of an agent are made of. ``level``: its popularity level, or
    ``None`` to read it from its row (``agents.search_level``)."""

    id: str
    name: str
    tags: Sequence[str]
    description: str
    level: int | None = None


def index_agents(connection: sa.Connection, indexed: Iterable[IndexedAgent]) -> None:
    """Write the postings and tag counts of agents that have none (new or just unindexed)."""
    postings: list[dict[str, Any]] = []
    counts: Counter[tuple[str, str]] = Counter()
    indexed = list(indexed)
    unknown = [agent.id for agent in indexed if agent.level is None]
    levels: dict[str, int] = {}
    for start in range(0, len(unknown), 500):
        rows = connection.execute(
            sa.select(agents.c.id, agents.c.search_level).where(
                agents.c.id.in_(unknown[start : start + 500])
            )
        )
        levels.update((row.id, row.search_level) for row in rows)
    for agent in indexed:
        level = agent.level if agent.level is not None else levels.get(agent.id, 0)
        scores = dialect.postings_of(
            agent.id, agent.name, list(agent.tags), agent.description, level
        )
        postings += [
            {"agent_id": agent.id, "term": term, "score": score} for term, score in scores.items()
        ]
        counts.update((term, tag) for term in scores for tag in set(agent.tags))
    for start in range(0, len(postings), 5_000):
        connection.execute(search_postings.insert(), postings[start : start + 5_000])
    dialect.add_term_tags(connection, dict(counts))


def reindex_all(connection: sa.Connection, batch: int = 2_000) -> None:
    """Drop every posting and tag count and index the published agents again, each at its
    ``search_level`` (a migration's rebuild; keyset batches of ``batch`` agents)."""
    connection.execute(search_postings.delete())
    connection.execute(search_term_tags.delete())
    last = ""
    while True:
        rows = connection.execute(
            sa.select(agents.c.id, agents.c.name, agents.c.description, agents.c.search_level)
            .where(agents.c.id > last, agents.c.unpublished_at.is_(None))
            .order_by(agents.c.id)
            .limit(batch)
        ).all()
        if not rows:
            return
        last = rows[-1].id
        tags_of: dict[str, list[str]] = {}
        for agent_id, tag in connection.execute(
            sa.select(agent_tags.c.agent_id, agent_tags.c.tag).where(
                agent_tags.c.agent_id.in_([row.id for row in rows])
            )
        ):
            tags_of.setdefault(agent_id, []).append(tag)
        index_agents(
            connection,
            [
                IndexedAgent(
                    row.id,
                    row.name,
                    sorted(tags_of.get(row.id, [])),
                    row.description,
                    row.search_level,
                )
                for row in rows
            ],
        )


def unindex_agent(connection: sa.Connection, agent_id: str) -> None:
    """Remove the agent's postings and its share of the tag counts (before an update or an
    unpublish; deleting the agent row alone drops its postings but not its counts)."""
    terms = (
        connection.execute(
            sa.select(search_postings.c.term).where(search_postings.c.agent_id == agent_id)
        )
        .scalars()
        .all()
    )
    tags = (
        connection.execute(sa.select(agent_tags.c.tag).where(agent_tags.c.agent_id == agent_id))
        .scalars()
        .all()
    )
    pairs = sorted((term, tag) for term in set(terms) for tag in set(tags))
    if pairs:
        connection.execute(
            search_term_tags.update()
            .where(
                search_term_tags.c.term == sa.bindparam("t"),
                search_term_tags.c.tag == sa.bindparam("g"),
            )
            .values(agents=search_term_tags.c.agents - 1),
            [{"t": term, "g": tag} for term, tag in pairs],
        )
        connection.execute(
            search_term_tags.delete().where(
                search_term_tags.c.term.in_({term for term, _ in pairs}),
                search_term_tags.c.agents <= 0,
            )
        )
    connection.execute(search_postings.delete().where(search_postings.c.agent_id == agent_id))


def completions(connection: sa.Connection, prefix: str, most: int) -> list[str]:
    """Up to ``most`` indexed words starting with ``prefix``, in order.

    A loose index scan (one seek per distinct word, the recursive ``min(term) > previous``),
    so the cost is the number of words returned, not the number of their postings.
    """
    end = prefix + "\U0010ffff"
    p = search_postings.c
    first = sa.select(sa.func.min(p.term).label("term")).where(p.term >= prefix, p.term < end)
    found = first.cte("completions", recursive=True)
    following = sa.select(
        sa.select(sa.func.min(p.term))
        .where(p.term > found.c.term, p.term < end)
        .scalar_subquery()
        .label("term")
    ).where(found.c.term.is_not(None))
    found = found.union_all(following)
    rows = connection.execute(
        sa.select(found.c.term).where(found.c.term.is_not(None)).limit(most)
    ).scalars()
    return list(rows)


@dataclass(frozen=True, slots=True)
class SoleTerm:
    """A query whose every match is found through one word's postings, in score order.

    ``halved``: the query's word is only a prefix of ``term``, so it scores half.
    """

    term: str
    halved: bool

    def score(self, posting: sa.ColumnElement[int]) -> sa.ColumnElement[int]:
        """The query's score of an agent from its posting's score (a halved one keeps its
        popularity level: the text part is halved)."""
        if not self.halved:
            return posting
        levels = dialect.SEARCH_LEVELS
        return posting // (2 * levels) * levels + posting % levels

    def posting(self, score: int) -> int:
        """The posting score behind a query score (a cursor's position)."""
        if not self.halved:
            return score
        levels = dialect.SEARCH_LEVELS
        return score // levels * 2 * levels + score % levels


GROUP_READ = 9
"""``last_word_group`` reads at most this many completions (each path takes at most 8)."""


def last_word_group(connection: sa.Connection, terms: list[str]) -> list[str] | None:
    """The first ``GROUP_READ`` completions of the query's last word, read once for every
    path below; ``None`` when the query has no word or its last word gets no posting."""
    if not terms or len(terms[-1]) > dialect.POSTING_TERM_MAX:
        return None
    return completions(connection, terms[-1], GROUP_READ)


def sole_term(
    connection: sa.Connection, terms: list[str], group: list[str] | None = None
) -> SoleTerm | None:
    """The one word whose postings hold every match of ``terms`` in order, if there is one:
    a one-word query whose word, taken as a prefix, completes to a single indexed word.
    ``group``: the last word's completions when already read (``last_word_group``)."""
    if len(terms) != 1 or len(terms[0]) > dialect.POSTING_TERM_MAX:
        return None
    found = group if group is not None else completions(connection, terms[0], COMPLETIONS_READ)
    if len(found) != 1:
        return None
    return SoleTerm(found[0], halved=found[0] != terms[0])


def sole_term_rows(
    connection: sa.Connection,
    sole: SoleTerm,
    exact: sa.ColumnElement[bool],
    filters: list[sa.ColumnElement[bool]],
    after: tuple[int, str] | None,
    count: int,
) -> list[sa.Row[Any]]:
    """Up to ``count`` matches after ``after`` (score, id), best first, with ``score``.

    The exact id or name matches (few: an id, or agents of one name) come first with
    ``SEARCH_EXACT_BOOST``; then the postings of ``sole.term`` in index order, each page a
    seek: (same score, larger id) then (lower score), each an index range scan.
    """
    boost = dialect.SEARCH_EXACT_BOOST
    p = search_postings.c
    joined = search_postings.join(agents, agents.c.id == p.agent_id)

    def matches(score: sa.ColumnElement[int]) -> sa.Select[Any]:
        return (
            sa.select(*agents.c, score.label("score"))
            .select_from(joined)
            .where(p.term == sole.term, *filters)
        )

    posting_score = sole.score(p.score)
    rows: list[sa.Row[Any]] = []
    if after is None or after[0] >= boost:
        found = connection.execute(matches(posting_score + boost).where(exact)).all()
        rows = sorted(
            (row for row in found if after is None or _follows(row, after)),
            key=lambda row: (-row.score, row.id),
        )
    if len(rows) >= count:
        return rows[:count]
    return rows + _posting_rows(connection, sole, exact, filters, after, count - len(rows))


def _posting_rows(
    connection: sa.Connection,
    sole: SoleTerm,
    excluded: sa.ColumnElement[bool],
    filters: list[sa.ColumnElement[bool]],
    after: tuple[int, str] | None,
    need: int,
) -> list[sa.Row[Any]]:
    """The first ``need`` agents of ``sole.term``'s postings after ``after`` (below
    ``SEARCH_EXACT_BOOST``), but those ``excluded``, scored from their posting alone."""
    p = search_postings.c
    posting_score = sole.score(p.score)
    rest: sa.Select[Any] = (
        sa.select(*agents.c, posting_score.label("score"))
        .select_from(search_postings.join(agents, agents.c.id == p.agent_id))
        .where(p.term == sole.term, *filters, sa.not_(excluded))
    )
    boost = dialect.SEARCH_EXACT_BOOST
    if after is None or after[0] >= boost:
        statement = rest.order_by(p.score.desc(), p.agent_id).limit(need)
        return list(connection.execute(statement).all())
    # After a cursor: (same score, larger id) then (lower score), each an index range
    # scan, in one statement; the ids and scores first, then the agents of the page (few
    # columns in the union: SQLAlchemy's column proxies of every agent column cost more).
    posting = sole.posting(after[0])
    ranked = (
        sa.select(p.agent_id, p.score)
        .select_from(search_postings.join(agents, agents.c.id == p.agent_id))
        .where(p.term == sole.term, *filters, sa.not_(excluded))
    )
    tied = ranked.where(p.score == posting, p.agent_id > after[1]).order_by(p.agent_id)
    lower = ranked.where(p.score < posting).order_by(p.score.desc(), p.agent_id)
    parts = [
        part.add_columns(sa.literal(n).label("part")).limit(need).subquery().select()
        for n, part in enumerate((tied, lower))
    ]
    both = sa.union_all(*parts).subquery("following")
    score = sole.score(both.c.score)
    paged: sa.Select[Any] = (
        sa.select(*agents.c, score.label("score"))
        .join_from(both, agents, agents.c.id == both.c.agent_id)
        .order_by(both.c.part, both.c.score.desc(), both.c.agent_id)
        .limit(need)
    )
    return list(connection.execute(paged).all())


DOMINANT_COMPLETIONS = 8
"""``dominant_term_rows`` takes a word with at most this many completions..."""

DOMINANT_OTHERS = 256
"""... whose completions but the largest hold at most this many postings together."""


def dominant_term_rows(
    connection: sa.Connection,
    query: str,
    terms: list[str],
    filters: list[sa.ColumnElement[bool]],
    after: tuple[int, str] | None,
    count: int,
    group: list[str] | None = None,
) -> list[sa.Row[Any]] | None:
    """A one-word query whose word completes to one large word and a few rare ones (``code``:
    ``code``, ``coder``, ``codex``): up to ``count`` matches after ``after``, best first,
    with ``score``; ``None`` when the word is not of that shape.

    The agents of the rare completions (and the exact matches) are few: they are scored by
    the full scan's own statement restricted to them (``best_of``). Every other match holds
    only the large word, so its score is that posting's (halved when the word is only a
    prefix of it) and the rest of the page is a seek in that word's postings, as for
    ``sole_term_rows``.
    """
    if len(terms) != 1 or len(terms[0]) > dialect.POSTING_TERM_MAX:
        return None
    typed = terms[0]
    if group is None:
        group = completions(connection, typed, DOMINANT_COMPLETIONS + 1)
    if not 1 < len(group) <= DOMINANT_COMPLETIONS:
        return None
    sizes = _sizes(connection, group, DOMINANT_OTHERS + 1)
    large = max(group, key=lambda term: (sizes[term], term))
    others = [term for term in group if term != large]
    if sum(sizes[term] for term in others) > DOMINANT_OTHERS:
        return None
    special = special_ids(connection, query, terms, others)
    following = best_of(connection, query, terms, special, filters, after, count)
    if after is not None and after[0] >= dialect.SEARCH_EXACT_BOOST:
        after = None  # the postings below hold no exact match: all of them follow
    large_only = SoleTerm(large, halved=large != typed)
    excluded = one_of(connection, agents.c.id, special) if special else sa.false()
    rest = _posting_rows(connection, large_only, excluded, filters, after, count)
    # Only the special agents that make the page are read in full.
    order = sorted(
        [
            *((score, agent_id, None) for score, agent_id in following),
            *((row.score, row.id, row) for row in rest),
        ],
        key=lambda item: (-item[0], item[1]),
    )[:count]
    wanted = rows_of(
        connection, [(score, agent_id) for score, agent_id, row in order if row is None]
    )
    read = {row.id: row for row in wanted}
    return [row if row is not None else read[agent_id] for _, agent_id, row in order]


def special_ids(
    connection: sa.Connection, query: str, terms: list[str], others: list[str]
) -> list[str]:
    """The exact id or name matches and the agents holding any of ``others`` (rare
    completions of the last word), one statement."""
    exact = sa.select(agents.c.id).where(dialect.exact_match(query, terms))
    if not others:
        return sorted(set(connection.execute(exact).scalars()))
    p = search_postings.c
    holding = sa.select(p.agent_id).where(one_of(connection, p.term, others))
    return sorted(set(connection.execute(sa.union_all(exact, holding)).scalars()))


def best_of(
    connection: sa.Connection,
    query: str,
    terms: list[str],
    ids: list[str],
    filters: list[sa.ColumnElement[bool]],
    after: tuple[int, str] | None,
    count: int,
) -> list[tuple[int, str]]:
    """The first ``count`` (score, id) after ``after`` of the agents ``ids`` that match
    ``query`` and ``filters``, scored by the full scan's own statement
    (``dialect.agent_search``): whatever a score is made of, theirs is the full scan's."""
    if not ids:
        return []
    scored = dialect.agent_search(
        connection, query, terms, [*filters, one_of(connection, agents.c.id, ids)]
    )
    lean = scored.with_only_columns(agents.c.id, scored.selected_columns.score).subquery()
    statement = sa.select(lean.c.score, lean.c.id)
    if after is not None:
        statement = statement.where(
            sa.or_(lean.c.score < after[0], sa.and_(lean.c.score == after[0], lean.c.id > after[1]))
        )
    statement = statement.order_by(lean.c.score.desc(), lean.c.id).limit(count)
    return [(score, agent_id) for score, agent_id in connection.execute(statement)]


RARE_POSTINGS = 300
"""``rare_word_filter``: a word with at most this many postings bounds the matches."""


def rare_word_filter(
    connection: sa.Connection, terms: list[str], group: list[str] | None
) -> sa.ColumnElement[bool] | None:
    """For a query of several words, one of which is rare (or whose last word's completions
    are, together): every match holds it, so scoring the agents holding it scores every
    match. The filter restricting the full scan to them, or ``None`` when no word is rare.

    ``translate pro``: ``pro`` has a handful of postings, so the full scan probes a handful
    of agents by primary key instead of merging ``translate``'s 98,000 postings.
    """
    if len(terms) < 2 or group is None or len(group) > DOMINANT_COMPLETIONS:
        return None
    if any(len(term) > dialect.POSTING_TERM_MAX for term in terms):
        return None
    p = search_postings.c
    lists = {term: [term] for term in terms[:-1]}
    lists[" ".join(group) + " *"] = group
    words = sorted({term for members in lists.values() for term in members})
    sizes = _sizes(connection, words, RARE_POSTINGS + 1)
    rarest = min(lists.values(), key=lambda members: sum(sizes.get(t, 0) for t in members))
    if sum(sizes.get(term, 0) for term in rarest) > RARE_POSTINGS:
        return None
    return agents.c.id.in_(sa.select(p.agent_id).where(one_of(connection, p.term, rarest)))


def _sizes(connection: sa.Connection, words: list[str], most: int) -> dict[str, int]:
    """How many postings each of ``words`` has, counting at most ``most`` (one statement)."""
    if not words:
        return {}
    p = search_postings.c
    sized = sa.union_all(
        *(
            sa.select(sa.literal(word).label("term"), sa.func.count().label("n")).select_from(
                sa.select(p.agent_id).where(p.term == word).limit(most).subquery()
            )
            for word in words
        )
    )
    return {row.term: row.n for row in connection.execute(sized)}


def _follows(row: sa.Row[Any], after: tuple[int, str]) -> bool:
    return (-row.score, row.id) > (-after[0], after[1])


def postings_from_columns(
    connection: sa.Connection, agent_ids: list[str], terms: list[str]
) -> dict[str, dict[str, int]]:
    """Every agent's postings of ``terms`` (stored scores, with its popularity level), from
    its stored search columns (one primary-key read per agent; the postings' own
    (agent, word) key makes Postgres scan each word)."""
    weights = (
        (agents.c.search_key, dialect.SEARCH_WEIGHT_KEY),
        (agents.c.search_tags, dialect.SEARCH_WEIGHT_TAGS),
        (agents.c.search_body, dialect.SEARCH_WEIGHT_BODY),
    )
    held: dict[str, dict[str, int]] = {}
    for start in range(0, len(agent_ids), 500):
        for row in connection.execute(
            sa.select(agents.c.id, *(column for column, _ in weights), agents.c.search_level).where(
                one_of(connection, agents.c.id, agent_ids[start : start + 500])
            )
        ):
            fields = [(set(row[n + 1].split()), weight) for n, (_, weight) in enumerate(weights)]
            postings = {}
            for term in terms:
                score = sum(weight for words, weight in fields if term in words)
                if score:
                    postings[term] = score * dialect.SEARCH_LEVELS + row.search_level
            held[row.id] = postings
    return held


FACET_COMPLETIONS = 8
"""``word_facets`` counts one word's matches through at most this many completions."""

FACET_READ = 4_096
"""... and reads at most this many postings of the completions other than the largest."""


def word_facets(
    connection: sa.Connection, terms: list[str], most: int, group: list[str] | None = None
) -> list[TagCount] | None:
    """The ``most`` tags most carried by the matches of a one-word query, exactly, without
    reading its matches; ``None`` when this query is not one that can be counted so.

    The largest completion of the word counts from ``search_term_tags``; the agents of the
    other completions (at most ``FACET_READ`` postings) that lack it add their own tags.
    """
    if len(terms) != 1 or len(terms[0]) > dialect.POSTING_TERM_MAX:
        return None
    if group is None:
        group = completions(connection, terms[0], FACET_COMPLETIONS + 1)
    if len(group) > FACET_COMPLETIONS:
        return None
    p = search_postings.c
    sizes = _sizes(connection, group, FACET_READ + 1)
    base = max(group, key=lambda term: (sizes[term], term)) if group else None
    others = [term for term in group if term != base]
    if sum(sizes[term] for term in others) > FACET_READ:
        return None
    # One statement: the base word's counts, plus the tags of the other completions'
    # agents that lack the base word (its posting looked up by primary key).
    t, g = search_term_tags.c, agent_tags.c
    parts: list[sa.Select[Any]] = []
    if base is not None:
        parts.append(sa.select(t.tag, t.agents.label("n")).where(t.term == base, t.agents > 0))
    if others:
        # The base word's posting as a scalar subquery: one primary-key probe per agent.
        # (``NOT EXISTS`` becomes an anti join, which Postgres plans at 1M agents as a
        # hash of all of the base word's postings: 265,000 rows, 110 ms for ``data``.)
        held = search_postings.alias("held")
        base_score = (  # a key column: an index-only probe, no heap page read
            sa.select(held.c.term)
            .where(held.c.agent_id == p.agent_id, held.c.term == base)
            .scalar_subquery()
        )
        extra = sa.select(p.agent_id).where(
            one_of(connection, p.term, others), base_score.is_(None)
        )
        parts.append(
            sa.select(g.tag, sa.func.count().label("n"))
            .where(g.agent_id.in_(extra.distinct()))
            .group_by(g.tag)
        )
    counts: Counter[str] = Counter()
    statement = parts[0] if len(parts) == 1 else sa.union_all(*parts)
    for row in connection.execute(statement) if parts else []:
        counts[row.tag] += row.n
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:most]
    return [TagCount(tag=tag, count=count) for tag, count in ranked]


_PUBLISHED = agents.c.unpublished_at.is_(None)


def passing_rows(
    connection: sa.Connection,
    ranked: list[tuple[int, str]],
    filters: list[sa.ColumnElement[bool]],
    count: int,
) -> list[tuple[int, str]]:
    """The first ``count`` of ``ranked`` (score, id) whose agents pass ``filters``, checked
    a few at a time in order."""
    # Only agents with postings are ranked here, and those are published (``unindex_agent``
    # at unpublish): the "published" filter every search carries is true of all of them.
    filters = [f for f in filters if not f.compare(_PUBLISHED)]
    if not filters:
        return ranked[:count]
    passing: list[tuple[int, str]] = []
    step = 2 * count + 16
    for start in range(0, len(ranked), step):
        chunk = ranked[start : start + step]
        kept = set(
            connection.execute(
                sa.select(agents.c.id).where(
                    one_of(connection, agents.c.id, [agent_id for _, agent_id in chunk]), *filters
                )
            ).scalars()
        )
        passing += [item for item in chunk if item[1] in kept]
        if len(passing) >= count:
            return passing[:count]
    return passing


def rows_of(connection: sa.Connection, page: list[tuple[int, str]]) -> list[sa.Row[Any]]:
    """The agents of ``page`` (score, id), in its order, with their ``score``."""
    if not page:
        return []
    score = sa.case(*((agents.c.id == agent_id, total) for total, agent_id in page))
    statement: sa.Select[Any] = sa.select(*agents.c, score.label("score")).where(
        one_of(connection, agents.c.id, [agent_id for _, agent_id in page])
    )
    rows: list[sa.Row[Any]] = list(connection.execute(statement).all())
    return sorted(rows, key=lambda row: (-row.score, row.id))
