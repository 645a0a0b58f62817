"""The search postings: kept in step with the agents at publish, read in score order.

``search_postings`` holds one row per (word, agent) with the word's whole-word score in that
agent (8 id/name + 4 tags + 2 description, ``dialect.postings_of``), with a btree on
(word, score DESC, agent id): the matches of one word, best first, are one index range
scan, and a keyset page (score, id) is a seek, however many agents use the word.
``search_term_tags`` counts, per word, the agents carrying each tag: a one-word search's
facets without reading its matches. Both are written in the publishing transaction.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from agnt_api.db import dialect
from agnt_api.db.tables import agent_tags, agents, search_postings, search_term_tags
from agnt_models import TagCount

COMPLETIONS_READ = 2
"""``sole_term`` reads at most this many completions of the last word (one is enough)."""


@dataclass(frozen=True, slots=True)
class IndexedAgent:
    """What the postings of an agent are made of."""

    id: str
    name: str
    tags: Sequence[str]
    description: str


def index_agents(connection: sa.Connection, indexed: Iterable[IndexedAgent]) -> None:
    """Write the postings and tag counts of agents that have none (new or just unindexed)."""
    postings: list[dict[str, Any]] = []
    counts: Counter[tuple[str, str]] = Counter()
    for agent in indexed:
        scores = dialect.postings_of(agent.id, agent.name, list(agent.tags), agent.description)
        postings += [
            {"agent_id": agent.id, "term": term, "score": score} for term, score in scores.items()
        ]
        counts.update((term, tag) for term in scores for tag in set(agent.tags))
    for start in range(0, len(postings), 5_000):
        connection.execute(search_postings.insert(), postings[start : start + 5_000])
    dialect.add_term_tags(connection, dict(counts))


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

    def score(self, posting: int) -> int:
        """The query's score of an agent from its posting's score."""
        return posting // 2 if self.halved else posting

    def posting(self, score: int) -> int:
        """The posting score behind a query score (a cursor's position)."""
        return score * 2 if self.halved else score


def sole_term(connection: sa.Connection, terms: list[str]) -> SoleTerm | None:
    """The one word whose postings hold every match of ``terms`` in order, if there is one:
    a one-word query whose word, taken as a prefix, completes to a single indexed word."""
    if len(terms) != 1 or len(terms[0]) > dialect.POSTING_TERM_MAX:
        return None
    found = completions(connection, terms[0], COMPLETIONS_READ)
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

    posting_score = p.score // 2 if sole.halved else p.score
    rows: list[sa.Row[Any]] = []
    if after is None or after[0] >= boost:
        found = connection.execute(matches(posting_score + boost).where(exact)).all()
        rows = sorted(
            (row for row in found if after is None or _follows(row, after)),
            key=lambda row: (-row.score, row.id),
        )
    if len(rows) >= count:
        return rows[:count]
    rest = matches(posting_score).where(sa.not_(exact))
    if after is None or after[0] >= boost:
        statement = rest.order_by(p.score.desc(), p.agent_id).limit(count - len(rows))
        return rows + list(connection.execute(statement).all())
    posting = sole.posting(after[0])
    tied = rest.where(p.score == posting, p.agent_id > after[1]).order_by(p.agent_id)
    lower = rest.where(p.score < posting).order_by(p.score.desc(), p.agent_id)
    need = count - len(rows)
    found = list(connection.execute(tied.limit(need)).all())
    if len(found) < need:
        found += connection.execute(lower.limit(need - len(found))).all()
    return rows + found


def _follows(row: sa.Row[Any], after: tuple[int, str]) -> bool:
    return (-row.score, row.id) > (-after[0], after[1])


def term_facets(connection: sa.Connection, term: str, most: int) -> list[TagCount]:
    """The ``most`` tags most carried by agents with ``term`` (precomputed counts)."""
    t = search_term_tags.c
    rows = connection.execute(
        sa.select(t.tag, t.agents)
        .where(t.term == term, t.agents > 0)
        .order_by(t.agents.desc(), t.tag)
        .limit(most)
    ).all()
    return [TagCount(tag=row.tag, count=row.agents) for row in rows]


MERGE_DEPTHS = (256, 2_048)
"""How many postings the bounded merge reads per word: first the smaller, then the larger
when the first cannot prove its page; past both the caller scans every match."""

MERGE_COMPLETIONS = 16
"""The bounded merge reads the postings of at most this many completions of the last word
(a longer list, one or two letters typed, goes to the full scan)."""

_SCORES = (2, 4, 6, 8, 10, 12, 14)
"""Every possible posting score (non-empty subsets of 8, 4, 2)."""


@dataclass(frozen=True, slots=True)
class _Read:
    """The first postings of one word, best first; ``last`` is the (score, id) read last."""

    scores: dict[str, int]
    last: tuple[int, str]
    exhausted: bool

    def options(self, absent: bool) -> list[tuple[int, str]]:
        """The scores an agent not read here can have in this word, each with the id it must
        exceed (an equal score sorts after ``last`` by id); ``""``: no bound."""
        found = [(0, "")] if absent else []
        if self.exhausted:
            return found
        floor, last_id = self.last
        return found + [(s, "" if s < floor else last_id) for s in _SCORES if s <= floor]


def _read(connection: sa.Connection, term: str, depth: int) -> _Read:
    p = search_postings.c
    rows = connection.execute(
        sa.select(p.agent_id, p.score)
        .where(p.term == term)
        .order_by(p.score.desc(), p.agent_id)
        .limit(depth)
    ).all()
    last = (rows[-1].score, rows[-1].agent_id) if rows else (0, "")
    return _Read({row.agent_id: row.score for row in rows}, last, len(rows) < depth)


def _unread_best(whole: list[_Read], group: dict[str, _Read], last_term: str) -> dict[int, str]:
    """What an agent read in no list could score: each reachable score, with the id such an
    agent must exceed (the weakest bound over the ways to reach it).

    The last word's part is ``(any + whole) / 2`` over the field bits of its completions, so
    the completions are combined over (any bits, whole bits) states first.
    """
    states: dict[tuple[int, int], str] = {(0, 0): ""}
    for term, read in group.items():
        combined: dict[tuple[int, int], str] = {}
        for (bits, exact), bound in states.items():
            for score, floor in read.options(absent=True):
                key = (bits | score, score if term == last_term else exact)
                value = max(bound, floor)
                if key not in combined or value < combined[key]:
                    combined[key] = value
        states = combined
    totals: dict[int, str] = {}
    for (bits, exact), bound in states.items():
        if bits:
            total = (bits + exact) // 2
            totals[total] = min(totals.get(total, bound), bound)
    for read in whole:
        summed: dict[int, str] = {}
        for total, bound in totals.items():
            for score, floor in read.options(absent=False):
                value = max(bound, floor)
                if total + score not in summed or value < summed[total + score]:
                    summed[total + score] = value
        totals = summed
    return totals


def merged_rows(
    connection: sa.Connection,
    query: str,
    terms: list[str],
    filters: list[sa.ColumnElement[bool]],
    after: tuple[int, str] | None,
    count: int,
) -> list[sa.Row[Any]] | None:
    """Up to ``count`` matches after ``after``, best first, from the first postings of each
    word; ``None`` when those cannot prove the page (the caller scans every match).

    Reads the first ``depth`` postings (score order) of every whole word and of each
    completion of the last word, plus the exact id/name matches; scores these candidates
    exactly (their postings of every query word). An agent read nowhere has, in each word,
    at most the score read last there (and, at that score, a larger id): ``_unread_best``
    bounds what it can reach. The page is returned only when its last row sorts before
    every such bound, so it is the page the full scan would give; else a deeper read, then
    ``None``.
    """
    if any(len(term) > dialect.POSTING_TERM_MAX for term in terms):
        return None
    group_terms = completions(connection, terms[-1], MERGE_COMPLETIONS + 1)
    if len(group_terms) > MERGE_COMPLETIONS:
        return None
    if not group_terms:
        return []
    whole_terms = terms[:-1]
    query_terms = sorted({*whole_terms, *group_terms})
    exact_ids = set(
        connection.execute(sa.select(agents.c.id).where(dialect.exact_match(query, terms)))
        .scalars()
        .all()
    )
    for depth in MERGE_DEPTHS:
        reads = {term: _read(connection, term, depth) for term in query_terms}
        candidates = set(exact_ids).union(*(read.scores for read in reads.values()))
        held = _postings_of(connection, sorted(candidates), query_terms)
        scores: dict[str, int] = {}
        for agent_id, postings in held.items():
            bits = 0
            for term in group_terms:
                bits |= postings.get(term, 0)
            if bits and all(term in postings for term in whole_terms):
                whole = sum(postings[term] for term in whole_terms)
                scores[agent_id] = whole + (bits + postings.get(terms[-1], 0)) // 2
        ranked = sorted(
            (
                (score + (dialect.SEARCH_EXACT_BOOST if exact else 0), agent_id)
                for agent_id, exact, score in _filtered(connection, query, terms, filters, scores)
            ),
            key=lambda item: (-item[0], item[1]),
        )
        if after is not None:
            ranked = [item for item in ranked if (-item[0], item[1]) > (-after[0], after[1])]
        unread = _unread_best(
            [reads[term] for term in whole_terms], {t: reads[t] for t in group_terms}, terms[-1]
        )
        page = ranked[:count]
        if not unread or (
            len(page) == count
            and all(
                total < page[-1][0] or (total == page[-1][0] and page[-1][1] <= bound)
                for total, bound in unread.items()
            )
        ):
            return _rows_of(connection, page)
    return None


def _postings_of(
    connection: sa.Connection, agent_ids: list[str], terms: list[str]
) -> dict[str, dict[str, int]]:
    p = search_postings.c
    held: dict[str, dict[str, int]] = {}
    for start in range(0, len(agent_ids), 5_000):
        for row in connection.execute(
            sa.select(p.agent_id, p.term, p.score).where(
                p.agent_id.in_(agent_ids[start : start + 5_000]), p.term.in_(terms)
            )
        ):
            held.setdefault(row.agent_id, {})[row.term] = row.score
    return held


def _filtered(
    connection: sa.Connection,
    query: str,
    terms: list[str],
    filters: list[sa.ColumnElement[bool]],
    scores: dict[str, int],
) -> list[tuple[str, bool, int]]:
    """The scored agents that pass ``filters``: (id, exact id/name match, score)."""
    ids = sorted(scores)
    kept: list[tuple[str, bool, int]] = []
    exact = dialect.exact_match(query, terms)
    for start in range(0, len(ids), 5_000):
        for row in connection.execute(
            sa.select(agents.c.id, exact.label("exact")).where(
                agents.c.id.in_(ids[start : start + 5_000]), *filters
            )
        ):
            kept.append((row.id, bool(row.exact), scores[row.id]))
    return kept


def _rows_of(connection: sa.Connection, page: list[tuple[int, str]]) -> list[sa.Row[Any]]:
    """The agents of ``page`` (score, id), in its order, with their ``score``."""
    if not page:
        return []
    score = sa.case(*((agents.c.id == agent_id, total) for total, agent_id in page))
    statement: sa.Select[Any] = sa.select(*agents.c, score.label("score")).where(
        agents.c.id.in_([agent_id for _, agent_id in page])
    )
    rows: list[sa.Row[Any]] = list(connection.execute(statement).all())
    return sorted(rows, key=lambda row: (-row.score, row.id))
