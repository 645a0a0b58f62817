"""Popularity in relevance (0014): a level from the jobs completed in 30 days and their success
rate, below one text point, in the full scan and in every postings path alike."""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio
import pytest
import sqlalchemy as sa
from alembic import command

from agnt_api.db import Database, dialect
from agnt_api.db.migrate import alembic_config, upgrade
from agnt_api.db.tables import agent_tags, agents, jobs, principals, search_postings, sweeps
from agnt_api.services import search_index, search_levels, search_merge, search_popularity
from agnt_api.services.agents import search_agents
from agnt_api.services.records import as_utc
from agnt_api.settings import Settings
from agnt_api.testing.search_corpus import corpus, insert_corpus, insert_ended_jobs
from agnt_models import AgentSummary, Role

from .conftest import ON_POSTGRES_ONLY


@pytest.fixture
def database(migrated_url: str) -> Iterator[Database]:
    db = Database(Settings(database_url=migrated_url).database_url)
    yield db
    db.dispose()


_TEMPLATE = corpus(1)[0]


def _agent(agent_id: str, name: str, tags: list[str], description: str) -> dict[str, Any]:
    return {
        **_TEMPLATE,
        "id": agent_id,
        "name": name,
        "tags": tags,
        "tags_text": " ".join(tags),
        "description": description,
        **dialect.search_fields(agent_id, name, tags, description),
    }


def _run_jobs(
    connection: sa.Connection,
    done: dict[str, tuple[int, int]],
    age: timedelta = timedelta(days=1),
) -> None:
    """``done``: agent -> (completed, failed) jobs ``age`` ago; then recount those agents."""
    ended_at = datetime.now(UTC) - age
    insert_ended_jobs(
        connection,
        [
            (agent_id, status, ended_at)
            for agent_id, (completed, failed) in done.items()
            for status in ["completed"] * completed + ["failed"] * failed
        ],
    )
    # Jobs written straight into the table: count them as their completions would.
    search_popularity.recount(connection, list(done))


def _levels(connection: sa.Connection) -> dict[str, int]:
    return {row.id: row.search_level for row in connection.execute(sa.select(agents))}


def _assert_postings_hold_levels(connection: sa.Connection) -> None:
    """Every posting's low part is its agent's level (what every path relies on)."""
    p = search_postings.c
    wrong = connection.execute(
        sa.select(sa.func.count())
        .select_from(search_postings.join(agents, agents.c.id == p.agent_id))
        .where(p.score % dialect.SEARCH_LEVELS != agents.c.search_level)
    ).scalar_one()
    assert wrong == 0


def _full_scan(connection: sa.Connection, query: str) -> list[tuple[str, int]]:
    terms = dialect.search_terms(query)
    matched = dialect.agent_search(connection, query, terms, []).subquery()
    rows = connection.execute(
        sa.select(matched.c.id, matched.c.score).order_by(matched.c.score.desc(), matched.c.id)
    )
    return [(row.id, row.score) for row in rows]


def _walk(database: Database, query: str, limit: int) -> list[AgentSummary]:
    seen: list[AgentSummary] = []
    cursor = None
    with database.engine.connect() as connection:
        while True:
            page = search_agents(connection, query, None, limit, cursor)
            seen.extend(page.items)
            cursor = page.next_cursor
            if cursor is None:
                return seen


def _ids(database: Database, query: str, limit: int = 4) -> list[str]:
    return [item.id for item in _walk(database, query, limit)]


def test_levels_step_at_1_8_64_completions_and_drop_with_failures() -> None:
    level = search_popularity.level_of
    assert [level(n, 0) for n in (0, 1, 7, 8, 63, 64, 500)] == [0, 1, 1, 2, 2, 3, 3]
    assert level(64, 16) == 3  # 80 % completed: no penalty
    assert level(64, 17) == 2  # under 80 %: one level less
    assert level(64, 65) == 1  # under 50 %: two less
    assert level(1, 1) == 0
    assert level(0, 9) == 0
    assert max(level(n, 0) for n in range(200)) == dialect.SEARCH_LEVELS - 1


def test_stored_levels_are_level_of_the_30_day_jobs(database: Database) -> None:
    cases = {
        "a-0": (0, 0),
        "a-1": (1, 0),
        "a-2": (8, 2),
        "a-3": (64, 0),
        "a-4": (64, 17),
        "a-5": (9, 9),
        "a-6": (3, 1),
    }
    with database.engine.begin() as connection:
        insert_corpus(connection, [_agent(a, "Agent", ["work"], "Does work.") for a in cases])
        _run_jobs(connection, cases)
        # Old jobs and jobs that did not run count for nothing.
        _run_jobs(connection, {"a-0": (70, 0), "a-1": (0, 70)}, age=timedelta(days=45))
        buyer = connection.execute(
            sa.select(principals.c.id).where(principals.c.role == "buyer").limit(1)
        ).scalar_one()
        now = datetime.now(UTC)
        connection.execute(
            sa.insert(jobs),
            [
                {
                    "id": uuid.uuid4(),
                    "agent_id": "a-1",
                    "buyer_id": buyer,
                    "prompt": "p",
                    "params": {},
                    "status": status,
                    "progress": 0,
                    "created_at": now,
                    "updated_at": now,
                }
                for status in ("canceled", "rejected", "pending")
            ],
        )
        search_popularity.recount(connection, list(cases))
        levels = _levels(connection)
        _assert_postings_hold_levels(connection)
    assert levels == {a: search_popularity.level_of(*done) for a, done in cases.items()}


def test_a_popular_agent_outranks_an_otherwise_equal_unpopular_one(database: Database) -> None:
    rows = [
        *corpus(300, seed=3),
        _agent("lex-a", "Lexicon", ["legal"], "Translate legal documents."),
        _agent("lex-b", "Lexicon", ["legal"], "Translate legal documents."),
    ]
    queries = ["legal", "lega", "legal documents", "translate legal", "lexicon", "legal doc"]
    with database.engine.begin() as connection:
        insert_corpus(connection, rows)
    for query in queries:
        ids = _ids(database, query)
        assert ids.index("lex-a") < ids.index("lex-b"), query
    with database.engine.begin() as connection:
        _run_jobs(connection, {"lex-b": (8, 0)})
    with database.engine.connect() as connection:
        for query in queries:
            walked = [(item.id, int(item.score or 0)) for item in _walk(database, query, 4)]
            assert walked == _full_scan(connection, query), query
            ids = [agent_id for agent_id, _ in walked]
            assert ids.index("lex-b") < ids.index("lex-a"), query
            scores = dict(walked)
            assert scores["lex-b"] - scores["lex-a"] == 2  # level 2 against level 0


def test_text_relevance_dominates_popularity(database: Database) -> None:
    rows = [
        *corpus(200, seed=4),
        _agent("quillow", "Quillow", [], "Plain."),
        _agent("keeper", "Quillow Keeper", [], "Keeps books."),
        _agent("tagged", "Tally", ["quillow"], "Counts."),
        _agent("pop-bot", "Pop Bot", [], "Also reads a quillow."),
    ]
    with database.engine.begin() as connection:
        insert_corpus(connection, rows)
        _run_jobs(connection, {"pop-bot": (200, 0), "tagged": (64, 0)})
    for query in ("quillow", "Quillow"):
        ids = _ids(database, query, 2)
        # Exact name, then name, then tags, then the popular description-only match.
        assert ids[:4] == ["quillow", "keeper", "tagged", "pop-bot"], query
    # A prefix: no exact match; the name matches (equal) in id order, then tags, then body.
    assert _ids(database, "quil", 2)[:4] == ["keeper", "quillow", "tagged", "pop-bot"]


def test_a_level_change_moves_the_agent_across_pages(database: Database) -> None:
    rows = [_agent(f"unit-{n:02}", f"Unit {n}", ["units"], "Converts units.") for n in range(30)]
    with database.engine.begin() as connection:
        insert_corpus(connection, rows)
    ids = [f"unit-{n:02}" for n in range(30)]
    for query in ("units", "convert unit"):
        assert _ids(database, query, 7) == ids
    # An unfinished walk over a level change: no agent twice, order kept on each page.
    with database.engine.connect() as connection:
        first = search_agents(connection, "units", None, 7, None)
    with database.engine.begin() as connection:
        _run_jobs(connection, {"unit-29": (1, 0), "unit-03": (8, 0)})
    with database.engine.connect() as connection:
        rest: list[str] = []
        cursor = first.next_cursor
        while cursor is not None:
            page = search_agents(connection, "units", None, 7, cursor)
            rest += [item.id for item in page.items]
            cursor = page.next_cursor
    walked = [item.id for item in first.items] + rest
    assert len(walked) == len(set(walked))
    assert "unit-29" not in walked  # it moved before the cursor: this walk is past it
    moved = ["unit-03", "unit-29", *(i for i in ids if i not in ("unit-03", "unit-29"))]
    for query in ("units", "convert unit", "unit"):
        assert _ids(database, query, 7) == moved, query
    # The completions leave the 30-day window: the next sweep recounts the stale counts
    # (no job ended since it last looked), and the levels fall back.
    with database.engine.begin() as connection:
        connection.execute(jobs.update().values(created_at=datetime.now(UTC) - timedelta(days=31)))
        connection.execute(
            agents.update()
            .where(agents.c.id.in_(["unit-03", "unit-29"]))
            .values(popularity_at=datetime.now(UTC) - timedelta(hours=2))
        )
        assert search_popularity.sweep(connection, datetime.now(UTC)) == 2
        _assert_postings_hold_levels(connection)
    assert _ids(database, "units", 7) == ids


RARE = [
    ("coder-one", "Coder One", ["code"], "A coder."),
    ("codex", "Codex", [], "Writes code with codex."),
    ("code", "Code", ["codex"], "x"),
    ("code-helper", "Helper", ["coding"], "Code and codes."),
]


def test_every_path_with_levels_equals_the_full_scan(database: Database) -> None:
    rows = [*corpus(1_500, seed=5), *(_agent(*rare) for rare in RARE)]
    rng = random.Random(20)
    steps = [(1, 0), (8, 0), (64, 0), (8, 3), (2, 5), (64, 20)]
    done = {row["id"]: rng.choice(steps) for row in rng.sample(rows, 250)}
    done["code"] = (64, 0)
    with database.engine.begin() as connection:
        insert_corpus(connection, rows)
        _run_jobs(connection, done)
        _assert_postings_hold_levels(connection)
        assert len(set(_levels(connection).values())) == dialect.SEARCH_LEVELS
    one_word = ["translate", "pdf", "invo", "summ", "general", "a"]
    several = ["general helper", "translate pro", "general c", "quick summ", "pdf to", "data a"]
    proved = 0
    leveled = 0
    with database.engine.connect() as connection:
        for query in one_word + several + ["code", "cod"]:
            terms = dialect.search_terms(query)
            expected = _full_scan(connection, query)
            for limit in (7, 150):
                walked = [(i.id, int(i.score or 0)) for i in _walk(database, query, limit)]
                assert walked == expected, (query, limit)
            if query in several:
                page = search_merge.merged_rows(connection, query, terms, [], None, 10)
                if page is not None:
                    proved += 1
                    assert [(row.id, row.score) for row in page] == expected[:10], query
                # Two words read by score level: each pair of postings carries one level.
                by_level = search_levels.level_rows(connection, query, terms, None, 10)
                if by_level is not None:
                    leveled += 1
                    assert [(row.id, row.score) for row in by_level] == expected[:10], query
            if query in ("code", "cod"):
                found = search_index.dominant_term_rows(connection, query, terms, [], None, 9)
                assert found is not None
                assert [(row.id, row.score) for row in found] == expected[:9], query
    assert proved >= 3  # the merge still proves pages with levels in the postings
    assert leveled >= 3  # and the levels path reads two words with levels in the postings


def test_the_migration_levels_existing_agents_and_rebuilds_their_postings(
    database_url: str,
) -> None:
    database = Database(Settings(database_url=database_url).database_url)
    pair = [
        _agent("old-a", "Scribe", ["notes"], "Takes notes."),
        _agent("old-b", "Scribe", ["notes"], "Takes notes."),
    ]
    try:
        with database.engine.begin() as connection:
            command.upgrade(alembic_config(connection), "0013_search_speed")
            owner = uuid.uuid4()
            now = datetime.now(UTC)
            connection.execute(
                sa.insert(principals),
                [{"id": owner, "name": "old", "role": "executor", "created_at": now}],
            )
            connection.execute(sa.insert(agents), [{**row, "owner_id": owner} for row in pair])
            connection.execute(
                sa.insert(agent_tags),
                [{"agent_id": row["id"], "tag": tag} for row in pair for tag in row["tags"]],
            )
            # Postings as 0011 wrote them: the field bits alone.
            old = {
                (row["id"], term, dialect.posting_bits(score))
                for row in pair
                for term, score in dialect.postings_of(
                    row["id"], row["name"], row["tags"], row["description"]
                ).items()
            }
            connection.execute(
                sa.insert(search_postings),
                [{"agent_id": a, "term": term, "score": bits} for a, term, bits in old],
            )
            buyer = uuid.uuid4()
            connection.execute(
                sa.insert(principals),
                [{"id": buyer, "name": "b", "role": "buyer", "created_at": now}],
            )
            connection.execute(
                sa.insert(jobs),
                [
                    {
                        "id": uuid.uuid4(),
                        "agent_id": "old-b",
                        "buyer_id": buyer,
                        "prompt": "p",
                        "params": {},
                        "status": "completed",
                        "progress": 100,
                        "created_at": now,
                        "updated_at": now,
                        "completed_at": now,
                    }
                    for _ in range(8)
                ],
            )
        upgrade(database.engine)
        with database.engine.connect() as connection:
            levels = _levels(connection)
            _assert_postings_hold_levels(connection)
            postings = dict(
                connection.execute(
                    sa.select(search_postings.c.term, search_postings.c.score).where(
                        search_postings.c.agent_id == "old-b"
                    )
                ).all()
            )
        found = _ids(database, "notes")
        typed = _ids(database, "scribe not")
        with database.engine.begin() as connection:
            command.downgrade(alembic_config(connection), "0013_search_speed")
            p = search_postings.c
            downgraded = {
                tuple(row) for row in connection.execute(sa.select(p.agent_id, p.term, p.score))
            }
        upgrade(database.engine)
        assert _ids(database, "notes") == found
    finally:
        database.dispose()
    assert levels == {"old-a": 0, "old-b": 2}
    assert postings["note"] == (4 | 2) * dialect.SEARCH_LEVELS + 2
    assert found == ["old-b", "old-a"]
    assert typed == ["old-b", "old-a"]
    assert downgraded == old


async def _relevance(api: Any, query: str) -> list[tuple[str, float]]:
    found = await api.client.get(
        "/v1/agents/search", params={"q": query}, headers=api.auth("buyer-a")
    )
    assert found.status_code == 200
    return [(item["id"], item["score"]) for item in found.json()["items"]]


async def _end_job(api: Any, agent_id: str, status: str) -> None:
    job = await api.order("buyer-a", agent_id)
    await api.run_to_running("executor-x", job["id"])
    if status == "completed":
        done = await api.complete("executor-x", job["id"], [("out.txt", b"ok")])
    else:
        done = await api.report("executor-x", job["id"], "failed", reason="broke")
    assert done.status_code == 200, done.text


async def test_the_sweep_moves_an_agent_whose_job_completed_up_in_relevance(api: Any) -> None:
    for agent_id in ("alpha-pdf", "beta-pdf"):
        await api.publish("executor-x", agent_id, tags=["pdf"])
    before = await _relevance(api, "pdf")
    assert [agent_id for agent_id, _ in before] == ["alpha-pdf", "beta-pdf"]
    started = datetime.now(UTC)
    await _end_job(api, "beta-pdf", "completed")
    # The completion itself recounts nothing (the job path does not pay for popularity).
    assert await _relevance(api, "pdf") == before
    # A sweep over a window that began after the job ended does not see it either.
    assert await api.runtime.database.write(search_popularity.sweep, datetime.now(UTC)) == 0
    assert await _relevance(api, "pdf") == before
    assert await api.runtime.database.write(search_popularity.sweep, started) == 1
    after = await _relevance(api, "pdf")
    assert [agent_id for agent_id, _ in after] == ["beta-pdf", "alpha-pdf"]
    assert dict(after)["beta-pdf"] == dict(before)["beta-pdf"] + 1  # level 1
    # A re-publish keeps the level (its postings are written at the agent's level).
    await api.publish("executor-x", "beta-pdf", tags=["pdf"])
    assert await _relevance(api, "pdf") == after


async def test_the_sweep_counts_failed_jobs_against_the_level(api: Any) -> None:
    for agent_id in ("alpha-ocr", "beta-ocr"):
        await api.publish("executor-x", agent_id, tags=["ocr"])
    started = datetime.now(UTC)
    for status in ("completed", "completed", "completed", "completed", "failed"):
        await _end_job(api, "alpha-ocr", status)
    await _end_job(api, "beta-ocr", "completed")
    assert await api.runtime.database.write(search_popularity.sweep, started) == 2
    levels = await api.runtime.database.run(_levels)
    assert (levels["alpha-ocr"], levels["beta-ocr"]) == (1, 1)
    # 4 of 5 completed (80 %): level 1. One more failure: under 80 %, one level less.
    started = datetime.now(UTC)
    await _end_job(api, "alpha-ocr", "failed")
    assert await api.runtime.database.write(search_popularity.sweep, started) == 1
    levels = await api.runtime.database.run(_levels)
    assert (levels["alpha-ocr"], levels["beta-ocr"]) == (0, 1)
    assert [agent_id for agent_id, _ in await _relevance(api, "ocr")] == [
        "beta-ocr",
        "alpha-ocr",
    ]
    agent = await api.client.get("/v1/agents/alpha-ocr", headers=api.auth("buyer-a"))
    assert agent.status_code == 200


def _set_mark(database: Database, done_until: datetime) -> None:
    with database.engine.begin() as connection:
        connection.execute(sweeps.update().values(done_until=done_until))


async def test_one_round_per_interval_covers_the_jobs_ended_since_the_last(api: Any) -> None:
    database = api.runtime.database
    for agent_id in ("alpha-xls", "beta-xls"):
        await api.publish("executor-x", agent_id, tags=["xls"])
    _set_mark(database, datetime.now(UTC) - timedelta(minutes=2))
    await _end_job(api, "beta-xls", "completed")
    every = timedelta(minutes=1)
    assert await search_popularity.sweep_round(api.runtime, every) == 1
    assert [agent_id for agent_id, _ in await _relevance(api, "xls")] == ["beta-xls", "alpha-xls"]
    # The next process within the interval finds the round done.
    assert await search_popularity.sweep_round(api.runtime, every) is None
    # A job that ends after the round began is the next round's (nothing is lost between).
    await _end_job(api, "alpha-xls", "completed")
    await _end_job(api, "alpha-xls", "completed")
    # alpha, and beta once more: its job ended within the commit margin of the last round.
    assert await search_popularity.sweep_round(api.runtime, timedelta(0)) == 2
    levels = await database.run(_levels)
    assert (levels["alpha-xls"], levels["beta-xls"]) == (1, 1)


@ON_POSTGRES_ONLY
def test_a_process_does_not_wait_for_a_round_under_way(database: Database) -> None:
    _set_mark(database, datetime.now(UTC) - timedelta(minutes=2))
    with database.engine.begin() as holder:
        # Another process's round: it holds the mark's row.
        holder.execute(
            sa.select(sweeps.c.done_until).where(sweeps.c.name == "popularity").with_for_update()
        )
        started = time.monotonic()
        assert database.transact_write(search_popularity.take_round, timedelta(0)) is None
        assert time.monotonic() - started < 5
    taken = database.transact_write(search_popularity.take_round, timedelta(0))
    assert taken is not None
    assert taken.agent_ids == []


def _mark(database: Database) -> datetime | None:
    with database.engine.connect() as connection:
        mark = connection.execute(sa.select(sweeps.c.done_until)).scalar_one_or_none()
    return None if mark is None else as_utc(mark)


async def test_a_failed_round_gives_its_window_back(api: Any, monkeypatch: Any) -> None:
    database = api.runtime.database
    await api.publish("executor-x", "alpha-doc", tags=["doc"])
    before = datetime.now(UTC) - timedelta(minutes=2)
    _set_mark(database, before)
    await _end_job(api, "alpha-doc", "completed")

    def broken(connection: sa.Connection, agent_ids: Any) -> None:
        raise RuntimeError("the database went away")

    with monkeypatch.context() as patched:
        patched.setattr(search_popularity, "recount", broken)
        with pytest.raises(RuntimeError):
            await search_popularity.sweep_round(api.runtime, timedelta(minutes=1))
    assert _mark(database) == before
    assert (await database.run(_levels))["alpha-doc"] == 0
    # The next round reads the failed round's window again.
    assert await search_popularity.sweep_round(api.runtime, timedelta(minutes=1)) == 1
    assert (await database.run(_levels))["alpha-doc"] == 1
    marked = _mark(database)
    assert marked is not None and marked > before


def test_a_round_that_finds_no_mark_starts_one(database: Database) -> None:
    with database.engine.begin() as connection:
        connection.execute(sweeps.delete())
    assert _mark(database) is None
    assert database.transact_write(search_popularity.take_round, timedelta(0)) is None
    started = _mark(database)
    assert started is not None
    assert abs((datetime.now(UTC) - started).total_seconds()) < 60
    assert database.transact_write(search_popularity.take_round, timedelta(0)) is not None


async def test_the_app_sweeps_while_it_runs(make_api: Any) -> None:
    api = await make_api(popularity_interval_seconds=0.05)
    api.make_key("buyer-a", Role.BUYER)
    api.make_key("executor-x", Role.EXECUTOR)
    try:
        for agent_id in ("alpha-csv", "beta-csv"):
            await api.publish("executor-x", agent_id, tags=["csv"])
        async with api.app.router.lifespan_context(api.app):
            await _end_job(api, "beta-csv", "completed")
            order: list[str] = []
            for _ in range(200):  # 10 s at most
                order = [agent_id for agent_id, _ in await _relevance(api, "csv")]
                if order == ["beta-csv", "alpha-csv"]:
                    break
                await anyio.sleep(0.05)
            assert order == ["beta-csv", "alpha-csv"]
    finally:
        await api.client.aclose()
        await api.runtime.close()


@pytest.mark.postgres
def test_sqlite_and_postgres_give_the_same_order_with_levels(
    tmp_path: Any, make_postgres_database: Any
) -> None:
    rows = [*corpus(2_000, seed=17), *(_agent(*rare) for rare in RARE)]
    rng = random.Random(7)
    steps = [(1, 0), (8, 0), (64, 0), (8, 3), (2, 5)]
    done = {row["id"]: rng.choice(steps) for row in rng.sample(rows, 300)}
    queries = ["translate", "pdf", "summ", "general helper", "translate pro", "code", "data a"]
    answers: list[list[tuple[str, float | None]]] = []
    for url in (f"sqlite:///{tmp_path / 'levels.db'}", make_postgres_database()):
        database = Database(Settings(database_url=url).database_url)
        try:
            upgrade(database.engine)
            with database.engine.begin() as connection:
                insert_corpus(connection, rows)
                _run_jobs(connection, done)
            answers.append(
                [(item.id, item.score) for query in queries for item in _walk(database, query, 500)]
            )
        finally:
            database.dispose()
    assert answers[0] == answers[1]
    assert len({score % dialect.SEARCH_LEVELS for _, score in answers[0] if score}) > 1
