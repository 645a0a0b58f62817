"""Search: relevance over every match (no candidate cap), keyset pages to the end, the same
answer on SQLite and Postgres, facets over all matches, sorts and the price filter."""

from __future__ import annotations

import base64
import json
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agnt_api.db import Database, dialect
from agnt_api.db.migrate import alembic_config, upgrade
from agnt_api.errors import InvalidCursor
from agnt_api.services import search_popularity
from agnt_api.services.agents import search_agents
from agnt_api.services.cursors import encode_cursor
from agnt_api.settings import Settings
from agnt_api.testing.search_corpus import LABELLED, corpus, insert_corpus, insert_ended_jobs
from agnt_models import AgentSearchPage, AgentSummary, PricingModel, SearchSort


@pytest.fixture
def database(migrated_url: str) -> Iterator[Database]:
    db = Database(Settings(database_url=migrated_url).database_url)
    yield db
    db.dispose()


def _load(database: Database, rows: list[dict[str, Any]]) -> None:
    with database.engine.begin() as connection:
        insert_corpus(connection, rows)


def _walk(
    database: Database, query: str, limit: int, tag: str | None = None, **options: Any
) -> list[AgentSummary]:
    """Every page of a search, in order."""
    seen: list[AgentSummary] = []
    cursor = None
    with database.engine.connect() as connection:
        while True:
            page = search_agents(connection, query, tag, limit, cursor, **options)
            seen.extend(page.items)
            cursor = page.next_cursor
            if cursor is None:
                return seen


def _matches(rows: list[dict[str, Any]], query: str) -> set[str]:
    """Which rows a query must match: every word whole, the last one as a prefix."""
    terms = dialect.search_terms(query)
    found: set[str] = set()
    for row in rows:
        words = set((row["search_key"] + row["search_tags"] + row["search_body"]).split())
        whole = all(term in words for term in terms[:-1])
        if whole and (not terms or any(word.startswith(terms[-1]) for word in words)):
            found.add(row["id"])
    return found


def test_the_best_of_5000_matches_inserted_last_comes_first(database: Database) -> None:
    filler = [
        {
            **row,
            "description": "Can translate a phrase or two.",
            **dialect.search_fields(
                row["id"], row["name"], row["tags"], "Can translate a phrase or two."
            ),
        }
        for row in corpus(5_000 + 31)[:5_000]
    ]
    best = next(row for row in corpus(5_031) if row["id"] == "translate-pro")
    _load(database, [*filler, best])
    with database.engine.connect() as connection:
        page = search_agents(connection, "translate", None, 10, None)
    assert page.items[0].id == "translate-pro"
    assert len(_walk(database, "translate", 500)) == 5_001


def test_every_labelled_query_finds_its_agent_in_the_top_3(database: Database) -> None:
    _load(database, corpus(10_000))
    missed: list[tuple[str, str, list[str]]] = []
    reciprocal = 0.0
    with database.engine.connect() as connection:
        for query, expected in LABELLED:
            top = [item.id for item in search_agents(connection, query, None, 10, None).items]
            if expected not in top[:3]:
                missed.append((query, expected, top[:3]))
            reciprocal += 1 / (top.index(expected) + 1) if expected in top else 0.0
    assert not missed
    assert reciprocal / len(LABELLED) >= 0.95


def test_an_exact_id_or_name_comes_before_richer_matches(database: Database) -> None:
    rows = corpus(200)
    _load(database, rows)
    with database.engine.connect() as connection:
        by_id = search_agents(connection, "demo-wordcount", None, 5, None)
        by_name = search_agents(connection, "Word Count", None, 5, None)
        typing = search_agents(connection, "word cou", None, 5, None)
    assert by_id.items[0].id == "demo-wordcount"
    assert by_name.items[0].id == "demo-wordcount"
    assert typing.items[0].id == "demo-wordcount"


QUERIES = ["translate", "code", "writ", "a", "pdf summ", "general helper", "the", "zzz", "c"]


@pytest.fixture
def paged(database: Database) -> tuple[Database, list[dict[str, Any]]]:
    rows = corpus(1_500, seed=7)
    _load(database, rows)
    return database, rows


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    query=st.sampled_from(QUERIES),
    limit=st.integers(1, 400),
    sort=st.sampled_from(list(SearchSort)),
    pricing=st.sampled_from([None, *PricingModel]),
)
def test_paging_yields_every_match_once_in_order(
    paged: tuple[Database, list[dict[str, Any]]],
    query: str,
    limit: int,
    sort: SearchSort,
    pricing: PricingModel | None,
) -> None:
    database, rows = paged
    walked = _walk(database, query, limit, sort=sort, pricing=pricing)
    ids = [item.id for item in walked]
    expected = _matches(rows, query)
    if pricing is not None:
        expected = {row["id"] for row in rows if row["pricing"]["model"] == pricing} & expected
    assert len(ids) == len(set(ids))
    assert set(ids) == expected
    whole = _walk(database, query, 100_000, sort=sort, pricing=pricing)
    assert ids == [item.id for item in whole]
    by_id = {row["id"]: row for row in rows}
    if sort is SearchSort.RELEVANCE and dialect.search_terms(query):
        keys: list[Any] = [(-(item.score or 0), item.id) for item in walked]
    elif sort is SearchSort.RELEVANCE:
        keys = [(by_id[i]["name"], i) for i in ids]
    elif sort is SearchSort.NEWEST:
        keys = [(-by_id[i]["created_at"].timestamp(), i) for i in ids]
    elif sort is SearchSort.PRICE:
        keys = [(by_id[i]["pricing"]["amount_cents"], i) for i in ids]
    else:
        keys = [(0, i) for i in ids]
    assert keys == sorted(keys)


def test_facets_count_tags_over_all_matches(paged: tuple[Database, list[dict[str, Any]]]) -> None:
    database, rows = paged
    with database.engine.connect() as connection:
        page = search_agents(connection, "code", None, 5, None, facets=True)
        second = search_agents(connection, "code", None, 5, page.next_cursor, facets=True)
        plain = search_agents(connection, "code", None, 5, None)
    matched = _matches(rows, "code")
    counts = Counter(tag for row in rows if row["id"] in matched for tag in row["tags"])
    expected = sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:20]
    assert page.facets is not None
    assert [(facet.tag, facet.count) for facet in page.facets] == expected
    assert sum(facet.count for facet in page.facets) > 5
    assert second.facets == page.facets
    assert plain.facets is None


def test_a_cursor_with_a_forged_position_is_invalid_cursor(database: Database) -> None:
    _load(database, corpus(50))
    with database.engine.connect() as connection:
        page = search_agents(connection, "code", None, 1, None)
        assert page.next_cursor is not None
        for position in (
            {"v": ["x"], "id": "a"},
            {"v": [1]},
            {"offset": 3},
            {"v": [], "id": 1},
            {"v": [10**30], "id": "a"},
            {"v": [True], "id": "a"},
            {"v": [None], "id": "a"},
            {"v": [3], "id": "a\x00"},
        ):
            forged = encode_cursor("agents", _key_of(page.next_cursor), position)
            with pytest.raises(InvalidCursor):
                search_agents(connection, "code", None, 1, forged)
        with pytest.raises(InvalidCursor):
            search_agents(connection, "other", None, 1, page.next_cursor)
        browse_key = _key_of(search_agents(connection, "", None, 1, None).next_cursor or "")
        for position in ({"v": ["a\x00"], "id": "a"}, {"v": [4], "id": "a"}):
            forged = encode_cursor("agents", browse_key, position)
            with pytest.raises(InvalidCursor):
                search_agents(connection, "", None, 1, forged)
        newest = search_agents(connection, "", None, 1, None, sort=SearchSort.NEWEST)
        for value in ("yesterday", 5, "2026-13-01T00:00:00"):
            forged = encode_cursor(
                "agents", _key_of(newest.next_cursor or ""), {"v": [value], "id": "a"}
            )
            with pytest.raises(InvalidCursor):
                search_agents(connection, "", None, 1, forged, sort=SearchSort.NEWEST)


def _key_of(cursor: str) -> str:
    document = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    return str(document["q"])


UNUSUAL = [
    ("Café Naïve", "Straße und Ünïcode, 東京 and İstanbul."),
    ("v1.2 x2 3d", "1e5 0x1f e-mail re_write O'Brien it's"),
    ("The Analysis Bus", "Classes, glasses, status, virus: the analysis of buses."),
]
UNUSUAL_QUERIES = [
    "café",
    "東京",
    "strasse",
    "straße",
    "istanbul",
    "v1.2",
    "1e5",
    "o'brien",
    "it's",
    "re_wri",
    "bus",
    "buses",
    "analysi",
    "class",
    "status",
]


@pytest.mark.postgres
def test_sqlite_and_postgres_give_the_same_order(
    tmp_path: Any, make_postgres_database: Any
) -> None:
    rows = corpus(3_000, seed=11)
    for n, (name, description) in enumerate(UNUSUAL):
        template = rows[n]
        rows.append(
            {
                **template,
                "id": f"unusual-{n}",
                "name": name,
                "description": description,
                **dialect.search_fields(f"unusual-{n}", name, template["tags"], description),
            }
        )
    answers: list[list[tuple[str, float | None]]] = []
    for url in (f"sqlite:///{tmp_path / 'agree.db'}", make_postgres_database()):
        database = Database(Settings(database_url=url).database_url)
        try:
            upgrade(database.engine)
            _load(database, rows)
            answer: list[tuple[str, float | None]] = []
            for query in [*QUERIES, *UNUSUAL_QUERIES, *(query for query, _ in LABELLED)]:
                answer.extend((item.id, item.score) for item in _walk(database, query, 1_000))
            answers.append(answer)
        finally:
            database.dispose()
    assert answers[0] == answers[1]
    assert len(answers[0]) > 3_000
    found = {agent_id for agent_id, _ in answers[0]}
    assert {"unusual-0", "unusual-1", "unusual-2"} <= found


def test_agents_stored_before_the_search_migration_are_found_after_it(
    database_url: str,
) -> None:
    database = Database(Settings(database_url=database_url).database_url)
    try:
        with database.engine.begin() as connection:
            command.upgrade(alembic_config(connection), "0004_claims")
            owner = uuid.uuid4()
            now = datetime.now(UTC)
            connection.execute(
                sa.text(
                    "INSERT INTO principals (id, name, role, created_at) "
                    "VALUES (:id, 'old', 'executor', :now)"
                ),
                {"id": owner.hex if connection.dialect.name == "sqlite" else owner, "now": now},
            )
            connection.execute(
                sa.text(
                    "INSERT INTO agents (id, owner_id, name, description, tags, tags_text, "
                    "pricing, input_schema, output_schema, created_at, updated_at) VALUES "
                    "('demo-wordcount', :owner, 'Word Count', 'Counts words.', '[\"text\"]', "
                    "'text', '{}', '{}', '{}', :now, :now)"
                ),
                {"owner": owner.hex if connection.dialect.name == "sqlite" else owner, "now": now},
            )
        connection_tags = sa.text("SELECT count(*) FROM agent_tags")
        with database.engine.begin() as connection:
            connection.execute(
                sa.text("INSERT INTO agent_tags (agent_id, tag) VALUES ('demo-wordcount', 'text')")
            )
        upgrade(database.engine)
        with database.engine.begin() as connection:
            command.downgrade(alembic_config(connection), "0004_claims")
            assert connection.execute(connection_tags).scalar_one() == 1
        upgrade(database.engine)
        with database.engine.connect() as connection:
            assert connection.execute(connection_tags).scalar_one() == 1
            found = search_agents(connection, "demo-wordcount", None, 5, None)
            typed = search_agents(connection, "word cou", None, 5, None)
    finally:
        database.dispose()
    assert [item.id for item in found.items] == ["demo-wordcount"]
    assert [item.id for item in typed.items] == ["demo-wordcount"]


async def test_the_api_sorts_filters_by_price_and_counts_facets(api: Any) -> None:
    for agent_id, pricing, tags in (
        ("cheap-pdf", {"model": "per_job", "amount_cents": 5}, ["pdf"]),
        ("dear-pdf", {"model": "per_job", "amount_cents": 900}, ["pdf", "ocr"]),
        ("free-pdf", {"model": "free"}, ["pdf"]),
    ):
        published = await api.client.put(
            f"/v1/executor/agents/{agent_id}",
            headers=api.auth("executor-x"),
            json={"name": agent_id.replace("-", " "), "pricing": pricing, "tags": tags},
        )
        assert published.status_code == 201
    found = await api.client.get(
        "/v1/agents/search",
        params={"q": "pdf", "sort": "price", "pricing": "per_job", "facets": "true"},
        headers=api.auth("buyer-a"),
    )
    page = AgentSearchPage.model_validate(found.json())
    assert [item.id for item in page.items] == ["cheap-pdf", "dear-pdf"]
    assert page.facets is not None
    assert [(f.tag, f.count) for f in page.facets] == [("pdf", 2), ("ocr", 1)]
    for params in ({"sort": "cheapest"}, {"pricing": "gratis"}):
        bad = await api.client.get("/v1/agents/search", params=params, headers=api.auth("buyer-a"))
        assert bad.status_code == 422
        assert bad.json()["code"] == "validation_error"
    stale = await api.client.get(
        "/v1/agents/search",
        params={"q": "pdf", "cursor": encode_cursor("agents", "x", {"offset": 20})},
        headers=api.auth("buyer-a"),
    )
    assert stale.status_code == 400
    assert stale.json()["code"] == "invalid_cursor"


def test_sort_popular_puts_most_completed_jobs_of_30_days_first(database: Database) -> None:
    rows = corpus(40)
    _load(database, rows)
    now = datetime.now(UTC)
    done: list[tuple[str, str, timedelta]] = [
        ("pdf-summarizer", "completed", timedelta(days=1)),
        ("pdf-summarizer", "completed", timedelta(days=2)),
        ("pdf-summarizer", "failed", timedelta(days=1)),
        ("code-reviewer", "completed", timedelta(days=3)),
        ("code-reviewer", "completed", timedelta(days=40)),
        ("code-reviewer", "completed", timedelta(days=45)),
        ("code-reviewer", "completed", timedelta(days=50)),
    ]
    with database.engine.begin() as connection:
        insert_ended_jobs(
            connection, [(agent_id, status, now - age) for agent_id, status, age in done]
        )
        # Jobs written straight into the table: count them as their completions would.
        search_popularity.recount(connection, [agent_id for agent_id, _, _ in done])
    walked = _walk(database, "", 7, sort=SearchSort.POPULAR)
    ids = [item.id for item in walked]
    assert ids[:2] == ["pdf-summarizer", "code-reviewer"]
    assert len(ids) == len(set(ids)) == 40
    assert ids[2:] == sorted(ids[2:])


async def test_a_sweep_after_a_completed_job_moves_its_agent_up_in_sort_popular(
    api: Any,
) -> None:
    for agent_id in ("alpha-pdf", "beta-pdf"):
        await api.publish("executor-x", agent_id, tags=["pdf"])

    async def popular() -> list[str]:
        found = await api.client.get(
            "/v1/agents/search", params={"q": "pdf", "sort": "popular"}, headers=api.auth("buyer-a")
        )
        assert found.status_code == 200
        return [item["id"] for item in found.json()["items"]]

    assert await popular() == ["alpha-pdf", "beta-pdf"]
    started = datetime.now(UTC)
    job = await api.order("buyer-a", "beta-pdf")
    await api.run_to_running("executor-x", job["id"])
    assert (await api.complete("executor-x", job["id"], [("out.txt", b"ok")])).status_code == 200
    assert await popular() == ["alpha-pdf", "beta-pdf"]  # counted by the sweep, not here
    assert await api.runtime.database.write(search_popularity.sweep, started) == 1
    assert await popular() == ["beta-pdf", "alpha-pdf"]
