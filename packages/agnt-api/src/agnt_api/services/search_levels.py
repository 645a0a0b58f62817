"""Two words (the second typed as a prefix): the page read level by level, in SQL.

An agent's score for ``code review`` is its posting score of ``code`` plus its part of the
last word's completions. Most completions of a common word are one large word and a few
rare ones (``review``: ``review`` and ``reviewer``). The agents of the rare ones, and the
exact id or name matches, are few: they are scored by the full scan's own statement
(``dialect.agent_search``) restricted to them, and the best of them read. Every
other match holds only the large word of the group, so its score is ``a + g(b)`` with
``a``, ``b`` its postings of the two words (``g``: the large word's part, halved when the
typed word is only its prefix). Each word has a handful of posting scores, so every total
is reached by a handful of (``a``, ``b``) pairs, and the agents of one pair are a join of
two index ranges (word, score) that are both in agent-id order: a merge join that stops
after the page's rows. The levels are read from the highest total down until the page is
full, a few levels per statement. Nothing is bounded by a depth: the page is the full
scan's page by construction (every pair of every total is read, in (total, id) order).

The level statements carry the words and scores as literals: their text is the same for the
same query, so psycopg prepares them after a few runs, and even a generic plan knows how
large each (word, score) range is (with the words as parameters it does not, and may walk
the large range of a pair against the small one). Only the ids left out (the exact and rare
completions' agents, scored apart) are a parameter.
"""

from __future__ import annotations

import re
from typing import Any

import sqlalchemy as sa

from agnt_api.db import dialect
from agnt_api.services.search_index import (
    DOMINANT_COMPLETIONS,
    DOMINANT_OTHERS,
    best_of,
    completions,
    rows_of,
    special_ids,
)

LEVELS_PER_STATEMENT = 4
"""Totals read per statement (most first pages fill within the first few)."""


def level_rows(
    connection: sa.Connection,
    query: str,
    terms: list[str],
    after: tuple[int, str] | None,
    count: int,
    group: list[str] | None = None,
) -> list[sa.Row[Any]] | None:
    """Up to ``count`` matches of a two-word query after ``after`` (score, id), best
    first, with ``score``; ``None`` when the query is not of that shape (see the module
    docstring). No filter but "published", which every agent with postings passes."""
    if len(terms) != 2 or any(len(term) > dialect.POSTING_TERM_MAX for term in terms):
        return None
    word, typed = terms
    if group is None:
        group = completions(connection, typed, DOMINANT_COMPLETIONS + 1)
    if not 0 < len(group) <= DOMINANT_COMPLETIONS:
        return None
    sizes, levels = _shape(connection, [word, *group])
    large = max(group, key=lambda term: (sizes[term], term))
    others = [term for term in group if term != large]
    if sum(sizes[term] for term in others) > DOMINANT_OTHERS:
        return None
    special = special_ids(connection, query, terms, others)
    following = best_of(connection, query, terms, special, [], after, count)
    boost = dialect.SEARCH_EXACT_BOOST
    # The exact matches come before every level: the levels fill what they leave.
    need = count - sum(1 for total, _ in following if total >= boost)
    if after is not None and after[0] >= boost:
        after = None  # the levels hold no exact match: all of them follow
    read: list[tuple[int, str]] = []
    if need > 0:
        totals = _totals(levels[word], levels[large], halved=large != typed)
        pending = [t for t in sorted(totals, reverse=True) if after is None or t <= after[0]]
        while pending and len(read) < need:
            batch, pending = pending[:LEVELS_PER_STATEMENT], pending[LEVELS_PER_STATEMENT:]
            statement, parameters = _levels_statement(
                connection,
                (word, large),
                {total: totals[total] for total in batch},
                after,
                special,
                need - len(read),
            )
            found = connection.execute(statement, parameters)
            read += [(total, agent_id) for agent_id, total in found]
    ranked = sorted([*following, *read], key=lambda item: (-item[0], item[1]))
    return rows_of(connection, ranked[:count])


def _shape(
    connection: sa.Connection, words: list[str]
) -> tuple[dict[str, int], dict[str, list[int]]]:
    """Each word's number of postings (counting at most ``DOMINANT_OTHERS + 1``) and its
    distinct posting scores, in one statement (the scores: a loose index scan of the
    word's (word, score) range, one seek per score). Written as text, as the levels are:
    built as SQLAlchemy constructs, a CTE per word cost more Python than the statement."""
    unique = list(dict.fromkeys(words))
    ctes, parts = [], []
    for n, word in enumerate(unique):
        quoted = _quoted(word)
        ctes.append(
            f"levels_{n}(score) AS (SELECT max(score) FROM search_postings WHERE term = {quoted} "
            f"UNION ALL SELECT (SELECT max(score) FROM search_postings WHERE term = {quoted} "
            f"AND score < levels_{n}.score) FROM levels_{n} WHERE levels_{n}.score IS NOT NULL)"
        )
        parts.append(
            f"SELECT {n} AS word, 1 AS level, score AS value FROM levels_{n} "
            "WHERE score IS NOT NULL"
        )
        parts.append(
            f"SELECT {n}, 0, count(*) FROM (SELECT agent_id FROM search_postings "
            f"WHERE term = {quoted} LIMIT {DOMINANT_OTHERS + 1:d}) AS sized_{n}"
        )
    statement = f"WITH RECURSIVE {', '.join(ctes)} {' UNION ALL '.join(parts)}"
    sizes: dict[str, int] = dict.fromkeys(words, 0)
    levels: dict[str, list[int]] = {word: [] for word in words}
    for n, level, value in connection.execute(sa.text(statement)):
        if level:
            levels[unique[n]].append(value)
        else:
            sizes[unique[n]] = value
    return sizes, levels


def _totals(first: list[int], second: list[int], halved: bool) -> dict[int, list[tuple[int, int]]]:
    """Each total and the (first, second) posting score pairs reaching it."""
    totals: dict[int, list[tuple[int, int]]] = {}
    for a in first:
        for b in second:
            total = _pair_total(a, b, halved)
            if total is not None:
                totals.setdefault(total, []).append((a, b))
    return totals


def _pair_total(a: int, b: int, halved: bool) -> int | None:
    """The query score of an agent whose postings of the two words score ``a`` and ``b``
    (``None``: no agent can hold both): they add up, the second halved when the typed word
    is only a prefix of it, as ``dialect.agent_search`` scores. The one place that knows
    what a posting score is made of."""
    if dialect.posting_level(a) != dialect.posting_level(b):
        return None  # both postings carry their agent's level: one agent, one level
    bits = dialect.posting_bits(a)
    second = dialect.posting_bits(b)
    total = bits + (second // 2 if halved else second)
    return total * dialect.SEARCH_LEVELS + dialect.posting_level(a)


def _levels_statement(
    connection: sa.Connection,
    words: tuple[str, str],
    levels: dict[int, list[tuple[int, int]]],
    after: tuple[int, str] | None,
    excluded: list[str],
    limit: int,
) -> tuple[sa.TextClause, dict[str, Any]]:
    """(agent id, total) of the first ``limit`` agents of ``levels`` but ``excluded``, in
    (total down, id) order: per score pair, a join of the two words' (word, score) ranges,
    both in id order.

    Written as text: dozens of branches built as SQLAlchemy constructs cost more Python
    (building, cache keys) than the database spends on them. The words are runs of
    letters and digits (``dialect.search_tokens``): quoted, they are valid literals.
    """
    first_word, second_word = (_quoted(word) for word in words)
    postgres = connection.dialect.name == "postgresql"
    parameters: dict[str, Any] = {}
    left_out = ""
    if excluded:
        parameters["excluded"] = excluded
        left_out = (
            " AND NOT (a.agent_id = ANY(:excluded))"
            if postgres
            else " AND a.agent_id NOT IN :excluded"
        )
    branches: list[str] = []
    for total, pairs in levels.items():
        beyond = ""
        if after is not None and total == after[0]:
            parameters["after_id"] = after[1]
            beyond = " AND a.agent_id > :after_id"
        for first_score, second_score in pairs:
            branches.append(
                f"SELECT agent_id, {total:d} AS total FROM (SELECT a.agent_id FROM "
                "search_postings AS a JOIN search_postings AS b ON b.agent_id = a.agent_id "
                f"WHERE a.term = {first_word} AND a.score = {first_score:d} "
                f"AND b.term = {second_word} AND b.score = {second_score:d}{beyond}{left_out} "
                f"ORDER BY a.agent_id LIMIT {limit:d}) AS pair_{len(branches)}"
            )
    statement = sa.text(
        f"SELECT agent_id, total FROM ({' UNION ALL '.join(branches)}) AS levels "
        f"ORDER BY total DESC, agent_id LIMIT {limit:d}"
    )
    if excluded and not postgres:
        statement = statement.bindparams(sa.bindparam("excluded", expanding=True))
    return statement, parameters


def _quoted(word: str) -> str:
    if not _WORD.fullmatch(word):
        raise ValueError(f"not a search word: {word!r}")
    return f"'{word}'"


_WORD = re.compile(r"[^\W_]+")
