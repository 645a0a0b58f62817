"""Search postings (0011): kept in step with publishes, read in score order for one-word
queries with the same pages and facets as the full scan, and the search rate limit."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import httpx2
import pytest
import sqlalchemy as sa
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from agnt_api.db import Database, dialect
from agnt_api.db.tables import agents, search_postings, search_term_tags
from agnt_api.services import search_index, search_merge
from agnt_api.services.agents import search_agents
from agnt_api.settings import Settings
from agnt_api.testing.search_corpus import corpus, insert_corpus
from agnt_models import AgentSummary, PricingModel, Role


@pytest.fixture
def database(migrated_url: str) -> Iterator[Database]:
    db = Database(Settings(database_url=migrated_url).database_url)
    yield db
    db.dispose()


def _postings(connection: sa.Connection, agent_id: str) -> dict[str, int]:
    p = search_postings.c
    rows = connection.execute(sa.select(p.term, p.score).where(p.agent_id == agent_id))
    return {row.term: row.score for row in rows}


def _term_tags(connection: sa.Connection) -> dict[tuple[str, str], int]:
    t = search_term_tags.c
    rows = connection.execute(sa.select(t.term, t.tag, t.agents).where(t.agents > 0))
    return {(row.term, row.tag): row.agents for row in rows}


async def test_postings_follow_publish_update_and_unpublish(api: Any) -> None:
    await api.publish("executor-x", "pdf-tool", description="Reads PDF files.", tags=["pdf", "ocr"])
    await api.publish("executor-y", "pdf-other", description="More pdf.", tags=["pdf"])
    database: Database = api.runtime.database
    with database.engine.connect() as connection:
        # Field bits times the popularity levels (level 0: no completed jobs).
        assert _postings(connection, "pdf-tool") == {
            term: bits * dialect.SEARCH_LEVELS
            for term, bits in {"pdf": 8 | 4 | 2, "tool": 8, "ocr": 4, "read": 2, "file": 2}.items()
        }
        counts = _term_tags(connection)
    assert counts[("pdf", "pdf")] == 2
    assert counts[("pdf", "ocr")] == 1
    assert counts[("read", "ocr")] == 1
    await api.publish("executor-x", "pdf-tool", description="Writes images.", tags=["image"])
    with database.engine.connect() as connection:
        assert _postings(connection, "pdf-tool") == {
            term: bits * dialect.SEARCH_LEVELS
            for term, bits in {"pdf": 8, "tool": 8, "image": 4 | 2, "write": 2}.items()
        }
        counts = _term_tags(connection)
    assert counts[("pdf", "pdf")] == 1
    assert ("pdf", "ocr") not in counts
    assert ("read", "ocr") not in counts
    assert counts[("write", "image")] == 1
    found = await api.client.get(
        "/v1/agents/search", params={"q": "read"}, headers=api.auth("buyer-a")
    )
    assert found.json()["items"] == []
    # Unpublish: unindex, then delete the row (its postings would also go by cascade).
    with database.engine.begin() as connection:
        search_index.unindex_agent(connection, "pdf-tool")
        connection.execute(agents.delete().where(agents.c.id == "pdf-tool"))
    with database.engine.connect() as connection:
        assert _postings(connection, "pdf-tool") == {}
        assert _term_tags(connection) == {
            ("pdf", "pdf"): 1,
            ("other", "pdf"): 1,
            ("more", "pdf"): 1,
        }


def _full_scan(
    connection: sa.Connection, query: str, filters: list[sa.ColumnElement[bool]]
) -> list[tuple[str, int]]:
    """Every match of ``query`` in order, by the statement that scores all of them."""
    terms = dialect.search_terms(query)
    matched = dialect.agent_search(connection, query, terms, filters).subquery()
    rows = connection.execute(
        sa.select(matched.c.id, matched.c.score).order_by(matched.c.score.desc(), matched.c.id)
    )
    return [(row.id, row.score) for row in rows]


def _walk(database: Database, query: str, limit: int, **options: Any) -> list[AgentSummary]:
    seen: list[AgentSummary] = []
    cursor = None
    with database.engine.connect() as connection:
        while True:
            page = search_agents(
                connection,
                query,
                options.get("tag"),
                limit,
                cursor,
                **{key: value for key, value in options.items() if key != "tag"},
            )
            seen.extend(page.items)
            cursor = page.next_cursor
            if cursor is None:
                return seen


def test_one_word_pages_from_postings_equal_the_full_scan(database: Database) -> None:
    rows = corpus(1_200, seed=5)
    rows.append(
        {
            **rows[0],
            "id": "pdf",
            "name": "pdf",
            "tags": [],
            "tags_text": "",
            "description": "x",
            **dialect.search_fields("pdf", "pdf", [], "x"),
        }
    )
    with database.engine.begin() as connection:
        insert_corpus(connection, rows)
    words = ["pdf", "translate", "invoice", "general", "helper", "quick", "invo", "summ", "a"]
    checked = 0
    with database.engine.connect() as connection:
        for word in words:
            sole = search_index.sole_term(connection, [word])
            for limit in (13, 400):
                expected = _full_scan(connection, word, [])
                walked = [(item.id, int(item.score or 0)) for item in _walk(database, word, limit)]
                assert walked == expected, (word, limit)
            checked += sole is not None
        cheap = [agents.c.pricing["model"].as_string() == PricingModel.FREE.value]
        expected = _full_scan(connection, "general", cheap)
        walked = _walk(database, "general", 9, pricing=PricingModel.FREE)
        assert [(item.id, int(item.score or 0)) for item in walked] == expected
    assert checked >= 6  # most words go through one word's postings
    assert walked and len(expected) > 100


def test_an_exact_name_on_the_postings_path_comes_first(database: Database) -> None:
    rows = corpus(300)
    rows.append(
        {
            **rows[0],
            "id": "zz-pdf",
            "name": "pdf",
            "tags": [],
            "tags_text": "",
            "description": "",
            **dialect.search_fields("zz-pdf", "pdf", [], ""),
        }
    )
    with database.engine.begin() as connection:
        insert_corpus(connection, rows)
        assert search_index.sole_term(connection, ["pdf"]) is not None
        first = search_agents(connection, "pdf", None, 1, None)
        second = search_agents(connection, "pdf", None, 1, first.next_cursor)
    assert [item.id for item in first.items] == ["zz-pdf"]
    assert first.items[0].score is not None and first.items[0].score >= 1_000
    assert second.items[0].id == "pdf-summarizer"


def test_one_word_facets_from_counts_equal_counting_the_matches(database: Database) -> None:
    rows = corpus(1_000, seed=3)
    with database.engine.begin() as connection:
        insert_corpus(connection, rows)
    with database.engine.connect() as connection:
        counted = 0
        for word in ("translate", "pdf", "general", "summ", "in", "c", "zzz"):
            counted += search_index.word_facets(connection, [word], 20) is not None
            page = search_agents(connection, word, None, 5, None, facets=True)
            matched = {agent_id for agent_id, _ in _full_scan(connection, word, [])}
            counts = Counter(tag for row in rows if row["id"] in matched for tag in row["tags"])
            expected = sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:20]
            assert page.facets is not None
            assert [(facet.tag, facet.count) for facet in page.facets] == expected, word
        assert counted >= 5


async def test_searches_over_the_burst_get_429_with_retry_after(
    make_api: Callable[..., Any],
) -> None:
    limited = await make_api(rate_searches_per_minute=0.6, rate_searches_burst=3)
    try:
        limited.make_key("buyer-a", Role.BUYER)
        limited.make_key("buyer-b", Role.BUYER)
        for _ in range(3):
            passed = await limited.client.get(
                "/v1/agents/search", params={"q": "x"}, headers=limited.auth("buyer-a")
            )
            assert passed.status_code == 200
        refused = await limited.client.get(
            "/v1/agents/search", params={"q": "x"}, headers=limited.auth("buyer-a")
        )
        assert refused.status_code == 429
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.json()["code"] == "rate_limited"
        assert 1 <= int(refused.headers["retry-after"]) <= 100
        other = await limited.client.get(
            "/v1/agents/search", params={"q": "x"}, headers=limited.auth("buyer-b")
        )
        assert other.status_code == 200
    finally:
        await limited.client.aclose()
        await limited.runtime.close()


async def test_mcp_searches_share_the_search_rate_limit(make_api: Callable[..., Any]) -> None:
    api = await make_api(rate_searches_per_minute=0.6, rate_searches_burst=1)
    api.make_key("buyer-a", Role.BUYER)
    try:
        async with (
            api.app.router.lifespan_context(api.app),
            httpx2.AsyncClient(
                transport=httpx2.ASGITransport(app=api.app),
                base_url="http://testserver",
                headers=api.auth("buyer-a"),
            ) as http_client,
            Client(
                streamable_http_client("http://testserver/mcp", http_client=http_client)
            ) as client,
        ):
            first = await client.call_tool("search_agents", {"query": "echo"})
            second = await client.call_tool("search_agents", {"query": "echo"})
        native = await api.client.get(
            "/v1/agents/search", params={"q": "x"}, headers=api.auth("buyer-a")
        )
    finally:
        await api.client.aclose()
        await api.runtime.close()
    assert not first.is_error
    assert second.is_error and second.structured_content is not None
    assert second.structured_content["code"] == "rate_limited"
    assert native.status_code == 429


MERGED_QUERIES = [
    "pdf summ",
    "general helper",
    "translate pro",
    "quick helper",
    "translat",
    "summ",
    "can translate",
    "invoice extr",
    "demo-wordcount",
    "word count",
    "general c",
]


def test_several_words_from_the_bounded_merge_equal_the_full_scan(database: Database) -> None:
    rows = corpus(3_000, seed=9)
    with database.engine.begin() as connection:
        insert_corpus(connection, rows)
    proved = 0
    with database.engine.connect() as connection:
        for query in MERGED_QUERIES:
            terms = dialect.search_terms(query)
            expected = _full_scan(connection, query, [])
            for limit in (1, 20):
                first = search_merge.merged_rows(connection, query, terms, [], None, limit)
                if first is not None:
                    proved += 1
                    assert [(row.id, row.score) for row in first] == expected[:limit], query
            walked = [(item.id, int(item.score or 0)) for item in _walk(database, query, 150)]
            assert walked == expected, query
        tagged = [agents.c.pricing["model"].as_string() == PricingModel.PER_JOB.value]
        expected = _full_scan(connection, "general helper", tagged)
        walked = _walk(database, "general helper", 40, pricing=PricingModel.PER_JOB)
        assert [(item.id, int(item.score or 0)) for item in walked] == expected
    assert proved >= 12  # most first pages come from the merge, not the full scan


def test_the_best_of_5000_two_word_matches_inserted_last_comes_first(
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
    best = next(row for row in corpus(5_031) if row["id"] == "translate-pro")
    with database.engine.begin() as connection:
        insert_corpus(connection, [*filler, best])
    with database.engine.connect() as connection:
        for query in ("translate pro", "can translate", "translate phrase"):
            terms = dialect.search_terms(query)
            page = search_merge.merged_rows(connection, query, terms, [], None, 10)
            assert page is not None
            assert [(row.id, row.score) for row in page] == _full_scan(connection, query, [])[:10]
        top = search_agents(connection, "translate pro", None, 3, None)
    assert top.items[0].id == "translate-pro"


def test_one_word_with_one_large_completion_pages_equal_the_full_scan(database: Database) -> None:
    rows = corpus(1_500, seed=11)
    rare = [
        ("coder-one", "Coder One", ["code"], "A coder."),
        ("codex", "Codex", [], "Writes code with codex."),
        ("code", "Code", ["codex"], "x"),
        ("code-helper", "Helper", ["coding"], "Code and codes."),
    ]
    for agent_id, name, tags, description in rare:
        rows.append(
            {
                **rows[0],
                "id": agent_id,
                "name": name,
                "tags": tags,
                "tags_text": " ".join(tags),
                "description": description,
                **dialect.search_fields(agent_id, name, tags, description),
            }
        )
    with database.engine.begin() as connection:
        insert_corpus(connection, rows)
    free = [agents.c.pricing["model"].as_string() == PricingModel.FREE.value]
    with database.engine.connect() as connection:
        for query in ("code", "cod", "Code"):
            terms = dialect.search_terms(query)
            for limit in (1, 7, 300):
                page = search_index.dominant_term_rows(connection, query, terms, [], None, limit)
                assert page is not None, query
                expected = _full_scan(connection, query, [])
                assert [(row.id, row.score) for row in page] == expected[:limit], query
                walked = [(i.id, int(i.score or 0)) for i in _walk(database, query, limit)]
                assert walked == expected, (query, limit)
            walked = _walk(database, query, 9, pricing=PricingModel.FREE)
            expected = _full_scan(connection, query, free)
            assert [(i.id, int(i.score or 0)) for i in walked] == expected
        assert len(_full_scan(connection, "code", [])) > 100


def test_several_words_with_a_rare_one_score_only_its_agents(database: Database) -> None:
    rows = corpus(2_000, seed=13)
    with database.engine.begin() as connection:
        insert_corpus(connection, rows)
    with database.engine.connect() as connection:
        for query in ("demo-wordcount", "translate pro", "general wordc"):
            terms = dialect.search_terms(query)
            group = search_index.last_word_group(connection, terms)
            assert search_index.rare_word_filter(connection, terms, group) is not None, query
            expected = _full_scan(connection, query, [])
            for limit in (1, 4):
                walked = [(i.id, int(i.score or 0)) for i in _walk(database, query, limit)]
                assert walked == expected, (query, limit)
        common = dialect.search_terms("general helper")
        group = search_index.last_word_group(connection, common)
        assert search_index.rare_word_filter(connection, common, group) is None
