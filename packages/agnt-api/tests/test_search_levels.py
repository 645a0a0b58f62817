"""Two-word searches read level by level (services/search_levels): every page is the full
scan's page, with the exact matches and the rare completions' agents scored apart."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from agnt_api.db import Database, dialect
from agnt_api.services import search_index, search_levels
from agnt_api.services.agents import search_agents
from agnt_api.settings import Settings
from agnt_api.testing.search_corpus import corpus, insert_corpus


@pytest.fixture
def database(migrated_url: str) -> Iterator[Database]:
    db = Database(Settings(database_url=migrated_url).database_url)
    yield db
    db.dispose()


def _full_scan(connection: sa.Connection, query: str) -> list[tuple[str, int]]:
    """Every match of ``query`` in order, by the statement that scores all of them."""
    terms = dialect.search_terms(query)
    matched = dialect.agent_search(connection, query, terms, []).subquery()
    rows = connection.execute(
        sa.select(matched.c.id, matched.c.score).order_by(matched.c.score.desc(), matched.c.id)
    )
    return [(row.id, row.score) for row in rows]


def _agent(base: dict[str, Any], agent_id: str, name: str, tags: list[str], text: str) -> Any:
    return {
        **base,
        "id": agent_id,
        "name": name,
        "tags": tags,
        "tags_text": " ".join(tags),
        "description": text,
        **dialect.search_fields(agent_id, name, tags, text),
    }


def _level_walk(connection: sa.Connection, query: str, limit: int) -> list[tuple[str, int]] | None:
    """Every page of ``level_rows`` in turn, each from the last one's (score, id)."""
    terms = dialect.search_terms(query)
    seen: list[tuple[str, int]] = []
    after = None
    while True:
        page = search_levels.level_rows(connection, query, terms, after, limit)
        if page is None:
            return None
        seen += [(row.id, row.score) for row in page]
        if len(page) < limit:
            return seen
        after = (page[-1].score, page[-1].id)


QUERIES = [
    "general helper",
    "quick helper",
    "can translate",
    "pdf summ",
    "invoice extr",
    "word count",
    "general c",
    "helper pdf",
    "pdf pdf",
    "translate review",
    "review code",
    "code review",
    "helper revi",
]


def test_two_words_by_levels_equal_the_full_scan(database: Database) -> None:
    rows = corpus(2_500, seed=17)
    extra = [
        # Exact names (boosted), rare completions of ``review``, ties on every field.
        ("code-review", "Code Review", ["code"], "Reviews code."),
        ("zz-code-review", "code review", [], "x"),
        ("reviewer-one", "Reviewer", ["code"], "A code reviewer."),
        ("reviews-code", "Review", ["reviewer"], "Code review and code."),
        ("review-only", "Review", [], "Nothing else."),
    ]
    rows += [_agent(rows[0], *row) for row in extra]
    for number in range(300):
        agent_id = f"cr-{number:03d}"
        text = "code review" if number % 3 else "reviews of helper code"
        name = ("Code " if number % 2 else "") + ("Review" if number % 5 else "Helper")
        rows.append(_agent(rows[0], agent_id, name, ["code"] if number % 7 else [], text))
    with database.engine.begin() as connection:
        insert_corpus(connection, rows)
    leveled = 0
    with database.engine.connect() as connection:
        for query in QUERIES:
            terms = dialect.search_terms(query)
            expected = _full_scan(connection, query)
            for limit in (1, 20):
                page = search_levels.level_rows(connection, query, terms, None, limit)
                if page is not None:
                    assert [(row.id, row.score) for row in page] == expected[:limit], query
            walked = _level_walk(connection, query, 7)
            if walked is not None:
                leveled += 1
                assert walked == expected, query
            summaries = _walk(database, query, 11)
            assert [(item.id, int(item.score or 0)) for item in summaries] == expected, query
        assert len(_full_scan(connection, "code review")) > 300
    assert leveled >= 10  # most two-word queries are read by levels


def _walk(database: Database, query: str, limit: int) -> list[Any]:
    seen: list[Any] = []
    cursor = None
    with database.engine.connect() as connection:
        while True:
            page = search_agents(connection, query, None, limit, cursor)
            seen.extend(page.items)
            cursor = page.next_cursor
            if cursor is None:
                return seen


def test_levels_take_two_words_only_and_few_rare_completions(database: Database) -> None:
    rows = corpus(600, seed=3)
    rows += [
        _agent(rows[0], f"pdfx-{n:03d}", f"Pdfx {n}", [], f"pdfx{n:03d} tool") for n in range(9)
    ]
    with database.engine.begin() as connection:
        insert_corpus(connection, rows)
    with database.engine.connect() as connection:
        for query in ("pdf", "pdf summarize helper", "helper pdfx"):
            terms = dialect.search_terms(query)
            assert search_levels.level_rows(connection, query, terms, None, 5) is None, query
        # A word with no posting: no match, not a fallback.
        terms = dialect.search_terms("qqzzqq helper")
        assert search_levels.level_rows(connection, "qqzzqq helper", terms, None, 5) == []
        group = search_index.last_word_group(connection, ["helper", "transl"])
        assert group is not None
        page = search_levels.level_rows(
            connection, "helper transl", ["helper", "transl"], None, 5, group
        )
        assert page is not None
        assert [(row.id, row.score) for row in page] == _full_scan(connection, "helper transl")[:5]


def test_the_best_of_5000_two_word_matches_inserted_last_comes_first_by_levels(
    database: Database,
) -> None:
    text = "Can translate a phrase or two."
    filler = [
        {
            **row,
            "description": text,
            **dialect.search_fields(row["id"], row["name"], row["tags"], text),
        }
        for row in corpus(5_031)[:5_000]
    ]
    best = _agent(filler[0], "zz-phrase-tool", "Phrase Translate Tool", ["translate"], text)
    with database.engine.begin() as connection:
        insert_corpus(connection, [*filler, best])
    with database.engine.connect() as connection:
        for query in ("translate phrase", "phrase translat"):
            terms = dialect.search_terms(query)
            page = search_levels.level_rows(connection, query, terms, None, 10)
            assert page is not None, query
            assert [(row.id, row.score) for row in page] == _full_scan(connection, query)[:10]
            assert page[0].id == "zz-phrase-tool"
        top = search_agents(connection, "translate phrase", None, 3, None)
    assert top.items[0].id == "zz-phrase-tool"
