"""Search ranks a bounded candidate set: a word matching more agents than the cap pages
through exactly ``SEARCH_CANDIDATES`` distinct agents, then stops."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import sqlalchemy as sa

from agnt_api.db import Database
from agnt_api.db.tables import agent_tags, agents, principals
from agnt_api.services.agents import SEARCH_CANDIDATES, search_agents
from agnt_api.settings import Settings


def test_a_common_word_pages_through_the_capped_candidates_once(migrated_url: str) -> None:
    database = Database(Settings(database_url=migrated_url).database_url)
    owner = uuid.uuid4()
    now = datetime.now(UTC)
    count = SEARCH_CANDIDATES + 50
    try:
        with database.engine.begin() as connection:
            connection.execute(
                sa.insert(principals),
                [{"id": owner, "name": "owner", "role": "executor", "created_at": now}],
            )
            connection.execute(
                sa.insert(agents),
                [
                    {
                        "id": f"bulk-{n:05d}",
                        "owner_id": owner,
                        "name": f"Bulk data agent {n}",
                        "description": "Turns data into charts.",
                        "tags": ["data"],
                        "tags_text": "data",
                        "pricing": {"model": "free", "amount_cents": 0, "currency": "USD"},
                        "input_schema": {},
                        "output_schema": {},
                        "created_at": now,
                        "updated_at": now,
                    }
                    for n in range(count)
                ],
            )
            connection.execute(
                sa.insert(agent_tags),
                [{"agent_id": f"bulk-{n:05d}", "tag": "data"} for n in range(count)],
            )
        for tag in (None, "data"):
            seen: list[str] = []
            cursor = None
            with database.engine.connect() as connection:
                while True:
                    page = search_agents(connection, "data", tag, 200, cursor)
                    seen.extend(item.id for item in page.items)
                    cursor = page.next_cursor
                    if cursor is None:
                        break
            assert len(seen) == SEARCH_CANDIDATES
            assert len(set(seen)) == SEARCH_CANDIDATES
            with database.engine.connect() as connection:
                browsed = search_agents(connection, "", tag, 5, None)
            assert [item.id for item in browsed.items] == [
                "bulk-00000",
                "bulk-00001",
                "bulk-00010",
                "bulk-00100",
                "bulk-01000",
            ]
    finally:
        database.dispose()
