"""Relevance with popularity blended in: MRR@10 and top-3 rate of the labelled queries over
the relevance corpus (``agnt_api.testing.search_corpus``, 10,000 agents by default), on
SQLite (the scoring is the same on Postgres), with the agents' popularity levels drawn
four ways:

- none: no completed jobs (every level 0: text relevance alone);
- random: levels 0/1/2/3 for 50/30/15/5 % of the agents, independent of the labels;
- adversarial: every agent but the labelled answers at level 1, the answers at 0 (a level
  only orders equal text scores, so any level above the answers' is the same as 3);
- helpful: the labelled answers at level 3, every other agent at 0.

Levels come from real job rows (1, 8 or 64 completed in the last 30 days) and
``search_popularity.recount``, as completions would leave them.

    uv run python bench/search_popularity.py [--agents N]
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from agnt_api.db import Database
from agnt_api.db.migrate import upgrade
from agnt_api.db.tables import jobs
from agnt_api.services import search_popularity
from agnt_api.services.agents import search_agents
from agnt_api.settings import Settings
from agnt_api.testing.search_corpus import LABELLED, corpus, insert_corpus, insert_ended_jobs

COMPLETED_FOR_LEVEL = {0: 0, 1: 1, 2: 8, 3: 64}


def set_levels(database: Database, levels: dict[str, int]) -> None:
    """Replace every job by ``COMPLETED_FOR_LEVEL[level]`` completions per agent, recount."""
    now = datetime.now(UTC) - timedelta(days=1)
    with database.engine.begin() as connection:
        connection.execute(jobs.delete())
        insert_ended_jobs(
            connection,
            [
                (agent_id, "completed", now)
                for agent_id, level in levels.items()
                for _ in range(COMPLETED_FOR_LEVEL[level])
            ],
        )
        agent_ids = list(levels)
        for start in range(0, len(agent_ids), 5_000):
            search_popularity.recount(connection, agent_ids[start : start + 5_000])


def score(database: Database) -> tuple[float, int, int]:
    """MRR@10, how many labelled answers are in the top 3, in the top 10."""
    reciprocal, top3, top10 = 0.0, 0, 0
    with database.engine.connect() as connection:
        for query, expected in LABELLED:
            ids = [item.id for item in search_agents(connection, query, None, 10, None).items]
            if expected in ids:
                rank = ids.index(expected) + 1
                reciprocal += 1 / rank
                top3 += rank <= 3
                top10 += 1
    return reciprocal / len(LABELLED), top3, top10


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--agents", type=int, default=10_000, help="corpus size")
    rows = corpus(parser.parse_args().agents)
    ids = [row["id"] for row in rows]
    answers = {expected for _, expected in LABELLED}
    rng = random.Random(20)
    scenarios = {
        "none": dict.fromkeys(ids, 0),
        "random": {i: rng.choices((0, 1, 2, 3), (50, 30, 15, 5))[0] for i in ids},
        "adversarial": {i: 0 if i in answers else 1 for i in ids},
        "helpful": {i: 3 if i in answers else 0 for i in ids},
    }
    with tempfile.TemporaryDirectory() as directory:
        database = Database(
            Settings(database_url=f"sqlite:///{Path(directory) / 'rank.db'}").database_url
        )
        upgrade(database.engine)
        with database.engine.begin() as connection:
            insert_corpus(connection, rows)
        print(f"{len(rows):,} agents")
        print("| levels | MRR@10 | best answer in top 3 | in top 10 | search s |")
        print("|---|---|---|---|---|")
        for name, levels in scenarios.items():
            set_levels(database, levels)
            started = time.perf_counter()
            mrr, top3, top10 = score(database)
            took = time.perf_counter() - started
            count = len(LABELLED)
            print(f"| {name} | {mrr:.3f} | {top3}/{count} | {top10}/{count} | {took:.1f} |")
        database.dispose()


if __name__ == "__main__":
    main()
