"""Several words (or a prefix with several completions): a bounded merge of each word's best
postings that returns a page only when it can prove it is the full scan's page.

Each word's postings are read in score order (``search_postings``, best first) to a fixed
depth. An agent's score in a word it was not read in is at most the score read last there
(at that very score, only with a larger id: a level is in id order). So every agent has a
set of scores it could still reach: one (exact) when read in every word, several when read
in some, and a bound for every agent read nowhere. A page is returned when its last row
sorts before everything the unsure agents could reach; the few unsure agents nearest the
top are looked up first (``MERGE_PROBES``). Otherwise a deeper read, then ``None``: the
caller scores every match. What this can miss: nothing; what it costs when it cannot prove
its page: the full scan.

A posting's score holds the agent's popularity level below its field bits
(``dialect.SEARCH_LEVELS``): an agent read in any word has its level known, one read
nowhere may have any level, and its bounds are taken per level.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from agnt_api.db import dialect
from agnt_api.db.tables import agents, search_postings
from agnt_api.services.search_index import (
    completions,
    passing_rows,
    postings_from_columns,
    rows_of,
)

MERGE_DEPTHS = (256, 2_048)
"""Postings read per word: the smaller first, the larger when it cannot prove its page."""

MERGE_COMPLETIONS = 8
"""At most this many completions of the last word are merged (more: the full scan)."""

MERGE_PROBES = 64
"""Unsure agents looked up by id per read (plus twice the page): the ones nearest the top."""

_SCORES = (2, 4, 6, 8, 10, 12, 14)
"""Every possible posting's field bits (non-empty sums of 8, 4, 2)."""

Option = tuple[int, str]
"""Field bits an agent may have in a word, and the id it must exceed to have them (``""``:
any). A stored posting is bits * ``SEARCH_LEVELS`` + the agent's popularity level: one
level per agent, so the options of a word are taken at that level."""


@dataclass(frozen=True, slots=True)
class _Read:
    """The first postings of one word, best first; ``last`` is the (score, id) read last."""

    scores: dict[str, int]
    last: tuple[int, str]
    exhausted: bool

    def options(self, agent_id: str | None, absent: bool, level: int) -> list[Option]:
        """What ``agent_id`` (``None``: an agent read nowhere) of popularity ``level`` may
        score in this word."""
        if agent_id is not None and agent_id in self.scores:
            return [(dialect.posting_bits(self.scores[agent_id]), "")]
        found: list[Option] = [(0, "")] if absent else []
        if self.exhausted:
            return found
        floor, last_id = self.last
        for bits in _SCORES:
            score = bits * dialect.SEARCH_LEVELS + level
            if score < floor:
                found.append((bits, ""))
            elif score == floor and agent_id is None:
                found.append((bits, last_id))
            elif score == floor and agent_id is not None and agent_id > last_id:
                found.append((bits, ""))
        return found


def _reads(connection: sa.Connection, terms: list[str], depth: int) -> dict[str, _Read]:
    """The first ``depth`` postings of each of ``terms``, best first (one statement)."""
    p = search_postings.c
    firsts = [
        sa.select(
            sa.select(p.term, p.agent_id, p.score)
            .where(p.term == term)
            .order_by(p.score.desc(), p.agent_id)
            .limit(depth)
            .subquery()
        )
        for term in terms
    ]
    read: dict[str, list[tuple[int, str]]] = {term: [] for term in terms}
    # ``.all()``: one fetch of thousands of rows, not a fetch per row.
    for term, agent_id, score in connection.execute(sa.union_all(*firsts)).all():
        read[term].append((score, agent_id))
    found: dict[str, _Read] = {}
    for term, rows in read.items():
        rows.sort(key=lambda item: (-item[0], item[1]))
        last = rows[-1] if rows else (0, "")
        found[term] = _Read({agent_id: score for score, agent_id in rows}, last, len(rows) < depth)
    return found


def _reach(whole: list[list[Option]], group: list[tuple[bool, list[Option]]]) -> dict[int, str]:
    """Each total reachable by choosing one option per word, with the weakest id bound.

    ``group``: the last word's completions, (is the typed word itself, options); its part is
    ``(any + whole) / 2`` over field bits (as ``dialect.agent_search`` scores), so it is
    combined over (any bits, whole bits) states first; at least one completion must hit.
    """
    states: dict[tuple[int, int], str] = {(0, 0): ""}
    for typed, options in group:
        combined: dict[tuple[int, int], str] = {}
        for (bits, exact), bound in states.items():
            for score, floor in options:
                key = (bits | score, score if typed else exact)
                value = max(bound, floor)
                if key not in combined or value < combined[key]:
                    combined[key] = value
        states = combined
    totals: dict[int, str] = {}
    for (bits, exact), bound in states.items():
        if bits:
            total = (bits + exact) // 2
            totals[total] = min(totals.get(total, bound), bound)
    for options in whole:
        summed: dict[int, str] = {}
        for total, bound in totals.items():
            for score, floor in options:
                value = max(bound, floor)
                if total + score not in summed or value < summed[total + score]:
                    summed[total + score] = value
        totals = summed
    return totals


def _before(first: tuple[int, str], second: tuple[int, str]) -> bool:
    """Whether (score, id) ``first`` sorts before ``second`` (score down, id up)."""
    return (-first[0], first[1]) < (-second[0], second[1])


class _Words:
    """One read of the query's words, and what each agent can score in them."""

    def __init__(
        self,
        whole_terms: list[str],
        group_terms: list[str],
        typed: str,
        known: dict[str, dict[str, int]],
        reads: dict[str, _Read],
    ) -> None:
        self.whole_terms = whole_terms
        self.group_terms = group_terms
        self.typed = typed
        self.known = known
        self.reads = reads
        self._cache: dict[tuple[bool | int, ...], dict[int, str]] = {}
        self._columns = [(read.scores, read.last[1]) for read in reads.values()]

    def reach(self, agent_id: str | None) -> dict[int, str]:
        """The totals ``agent_id`` (``None``: an agent read nowhere) can reach."""
        if agent_id is None:
            return self._reach(None)
        # Agents alike in every word (same score read, or unread on the same side of the
        # last id read) reach the same totals: one computation per pattern.
        held = self.known.get(agent_id)
        pattern: tuple[bool | int, ...]
        if held is not None:
            pattern = (True, *[held.get(term, 0) for term in self.reads])
        else:
            # A posting's score is never 0: ``or`` falls through only when not read.
            pattern = (
                False,
                *[
                    scores.get(agent_id) or (-1 if agent_id > last_id else -2)
                    for scores, last_id in self._columns
                ],
            )
        found = self._cache.get(pattern)
        if found is None:
            found = self._cache[pattern] = self._reach(agent_id)
        return found

    def _reach(self, agent_id: str | None) -> dict[int, str]:
        """Totals (text total * ``SEARCH_LEVELS`` + level): an agent read or known somewhere
        has its level in those postings; one read nowhere may have any level."""
        levels = dialect.SEARCH_LEVELS
        if agent_id is not None and agent_id in self.known:
            held = {t: dialect.posting_bits(score) for t, score in self.known[agent_id].items()}
            stored = next(iter(self.known[agent_id].values()), 0)
            texts = _reach(
                [[(held[t], "")] if t in held else [] for t in self.whole_terms],
                [(t == self.typed, [(held.get(t, 0), "")]) for t in self.group_terms],
            )
            return _leveled(texts, dialect.posting_level(stored))
        if agent_id is not None:
            stored = next(r.scores[agent_id] for r in self.reads.values() if agent_id in r.scores)
            candidates = [dialect.posting_level(stored)]
        else:
            candidates = list(range(levels))
        totals: dict[int, str] = {}
        for level in candidates:
            texts = _reach(
                [self.reads[t].options(agent_id, False, level) for t in self.whole_terms],
                [
                    (t == self.typed, self.reads[t].options(agent_id, True, level))
                    for t in self.group_terms
                ],
            )
            totals.update(_leveled(texts, level))
        return totals


def _leveled(texts: dict[int, str], level: int) -> dict[int, str]:
    """Text totals (with their id bounds) as scores of an agent at popularity ``level``."""
    return {text * dialect.SEARCH_LEVELS + level: bound for text, bound in texts.items()}


def merged_rows(
    connection: sa.Connection,
    query: str,
    terms: list[str],
    filters: list[sa.ColumnElement[bool]],
    after: tuple[int, str] | None,
    count: int,
    group: list[str] | None = None,
) -> list[sa.Row[Any]] | None:
    """Up to ``count`` matches after ``after`` (score, id), best first, with ``score``; or
    ``None`` when the bounded reads cannot prove the page (see the module docstring).
    ``group``: the last word's completions when already read."""
    if any(len(term) > dialect.POSTING_TERM_MAX for term in terms):
        return None
    group_terms = (
        group if group is not None else completions(connection, terms[-1], MERGE_COMPLETIONS + 1)
    )
    if len(group_terms) > MERGE_COMPLETIONS:
        return None
    if not group_terms:
        return []
    whole_terms, typed = terms[:-1], terms[-1]
    query_terms = sorted({*whole_terms, *group_terms})
    exact_ids = set(
        connection.execute(sa.select(agents.c.id).where(dialect.exact_match(query, terms)))
        .scalars()
        .all()
    )
    known = postings_from_columns(connection, sorted(exact_ids), query_terms)
    for depth in MERGE_DEPTHS:
        words = _Words(
            whole_terms,
            group_terms,
            typed,
            known,
            _reads(connection, query_terms, depth),
        )
        reach, reads = words.reach, words.reads
        candidates = exact_ids.union(*(read.scores for read in reads.values()))
        # Sure: every posting known (read in every word whose list was not read to its end).
        sure_ids = set(candidates)
        for term in whole_terms:
            sure_ids.intersection_update(reads[term].scores)
        for term in group_terms:
            if not reads[term].exhausted:
                sure_ids.intersection_update(reads[term].scores)
        sure_ids |= known.keys()
        reachable = {agent_id: reach(agent_id) for agent_id in candidates}
        unsure = sorted(
            (
                agent_id
                for agent_id, totals in reachable.items()
                if totals
                and agent_id not in sure_ids
                and (after is None or any(_before(after, (t, agent_id)) for t in totals))
            ),
            key=lambda agent_id: (-max(reachable[agent_id]), agent_id),
        )
        probed = unsure[: MERGE_PROBES + 2 * count]
        known.update(postings_from_columns(connection, probed, query_terms))
        sure_ids.update(probed)
        for agent_id in probed:
            reachable[agent_id] = reach(agent_id)
        scores = {
            agent_id: next(iter(totals))
            for agent_id, totals in reachable.items()
            if totals and agent_id in sure_ids
        }
        ranked = [
            (score + (dialect.SEARCH_EXACT_BOOST if agent_id in exact_ids else 0), agent_id)
            for agent_id, score in scores.items()
        ]
        ranked.sort(key=lambda item: (-item[0], item[1]))
        following = [item for item in ranked if after is None or _before(after, item)]
        page = passing_rows(connection, following, filters, count)
        # An unsure agent threatens the page with its best total still after the cursor.
        # On a first page that is its best total, the order ``unsure`` is sorted in: the
        # first one left is the strongest threat.
        left = unsure[len(probed) :]
        threats = [
            (
                max(
                    t for t in reachable[agent_id] if after is None or _before(after, (t, agent_id))
                ),
                agent_id,
            )
            for agent_id in (left[:1] if after is None else left)
        ]
        # An agent read nowhere reaching ``total`` has an id above ``bound``, any such id.
        threats += [
            (total, bound)
            for total, bound in reach(None).items()
            if after is None or total <= after[0]
        ]
        if _proves(page, count, threats):
            return rows_of(connection, page)
    return None


def _proves(page: list[tuple[int, str]], count: int, threats: list[tuple[int, str]]) -> bool:
    """Whether no threat (a reachable (score, id) after the cursor; for agents read nowhere
    the id is a bound they exceed) can sort before the page's last row."""
    if len(page) < count:
        return not threats
    return not any(_before(threat, page[-1]) for threat in threats)
