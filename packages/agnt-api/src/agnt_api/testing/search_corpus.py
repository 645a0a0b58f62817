"""A generated agent catalogue with labelled queries: the search relevance set.

``corpus(size)`` is deterministic: ``SPECIALISTS`` (the agents a buyer is looking for)
plus filler agents whose descriptions and tags mention the same words, so every labelled
query has many matches (hundreds to thousands at 10k agents) and only one best answer.
``LABELLED`` maps what a buyer types to the agent that should come first.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from agnt_api.db import dialect
from agnt_api.db.tables import agent_tags, agents, jobs, principals
from agnt_api.services import search_index


@dataclass(frozen=True)
class Specialist:
    """An agent some buyer is after, and what that buyer types."""

    id: str
    name: str
    tags: tuple[str, ...]
    description: str
    queries: tuple[str, ...]


SPECIALISTS: tuple[Specialist, ...] = (
    Specialist(
        "translate-pro",
        "Translate Pro",
        ("translate", "language"),
        "Translates documents between forty languages.",
        ("translate", "translate pro"),
    ),
    Specialist(
        "pdf-summarizer",
        "PDF Summarizer",
        ("pdf", "summarize"),
        "Summarizes long PDF reports into one page.",
        ("pdf summarizer", "pdf summ"),
    ),
    Specialist(
        "demo-wordcount",
        "Word Count",
        ("text", "count"),
        "Counts words, lines and characters.",
        ("demo-wordcount", "word count"),
    ),
    Specialist(
        "invoice-extractor",
        "Invoice Extractor",
        ("invoice", "ocr"),
        "Pulls totals and line items out of scanned invoices.",
        ("invoice", "invoice extr"),
    ),
    Specialist(
        "sql-tutor",
        "SQL Tutor",
        ("sql", "education"),
        "Explains and fixes SQL queries.",
        ("sql tutor", "sql-tutor"),
    ),
    Specialist(
        "image-upscaler",
        "Image Upscaler",
        ("image", "upscale"),
        "Upscales photos four times without blur.",
        ("upscaler", "image upsc"),
    ),
    Specialist(
        "csv-cleaner",
        "CSV Cleaner",
        ("csv", "cleaning"),
        "Fixes broken CSV files: quoting, encodings, headers.",
        ("csv cleaner", "csv"),
    ),
    Specialist(
        "code-reviewer",
        "Code Reviewer",
        ("code", "review"),
        "Reviews pull requests for bugs and style.",
        ("code reviewer", "code rev"),
    ),
    Specialist(
        "speech-to-text",
        "Speech To Text",
        ("audio", "transcribe"),
        "Transcribes audio recordings with timestamps.",
        ("speech to text", "speech-to-text"),
    ),
    Specialist(
        "resume-screener",
        "Resume Screener",
        ("hiring", "resume"),
        "Ranks resumes against a job description.",
        ("resume screener", "resume"),
    ),
    Specialist(
        "sentiment-scorer",
        "Sentiment Scorer",
        ("sentiment", "nlp"),
        "Scores the sentiment of reviews and tweets.",
        ("sentiment", "sentiment sc"),
    ),
    Specialist(
        "chart-maker",
        "Chart Maker",
        ("charts", "visualization"),
        "Turns tables into bar, line and pie charts.",
        ("chart maker", "charts"),
    ),
    Specialist(
        "legal-drafter",
        "Legal Drafter",
        ("legal", "contracts"),
        "Drafts contracts and NDAs from a short brief.",
        ("legal drafter", "legal"),
    ),
    Specialist(
        "email-writer",
        "Email Writer",
        ("email", "writing"),
        "Writes polite follow-up emails.",
        ("email writer", "email wri"),
    ),
    Specialist(
        "log-analyzer",
        "Log Analyzer",
        ("logs", "devops"),
        "Finds errors and anomalies in server logs.",
        ("log analyzer", "logs"),
    ),
    Specialist(
        "recipe-planner",
        "Recipe Planner",
        ("cooking", "recipes"),
        "Plans a week of meals from what is in the fridge.",
        ("recipe planner", "recipes"),
    ),
    Specialist(
        "tax-helper",
        "Tax Helper",
        ("tax", "finance"),
        "Prepares tax return worksheets.",
        ("tax helper", "tax"),
    ),
    Specialist(
        "slide-builder",
        "Slide Builder",
        ("slides", "presentation"),
        "Builds slide decks from an outline.",
        ("slide builder", "slides"),
    ),
    Specialist(
        "geo-coder",
        "Geo Coder",
        ("maps", "geocoding"),
        "Geocoding: turns street addresses into coordinates.",
        ("geo coder", "geo"),
    ),
    Specialist(
        "video-clipper",
        "Video Clipper",
        ("video", "editing"),
        "Cuts highlight clips from long videos.",
        ("video clipper", "video clip"),
    ),
    Specialist(
        "unit-test-writer",
        "Unit Test Writer",
        ("testing", "code"),
        "Writes pytest unit tests for Python modules.",
        ("unit test writer", "unit-test-writer"),
    ),
    Specialist(
        "seo-auditor",
        "SEO Auditor",
        ("seo", "marketing"),
        "Audits web pages for search ranking problems.",
        ("seo auditor", "seo"),
    ),
    Specialist(
        "json-validator",
        "JSON Validator",
        ("json", "validation"),
        "Validates JSON documents against a schema.",
        ("json validator", "json val"),
    ),
    Specialist(
        "music-tagger",
        "Music Tagger",
        ("music", "audio"),
        "Tags songs with genre, tempo and mood.",
        ("music tagger", "music"),
    ),
    Specialist(
        "poem-generator",
        "Poem Generator",
        ("poetry", "writing"),
        "Writes short poems in a given style.",
        ("poem generator", "poem"),
    ),
    Specialist(
        "stock-screener",
        "Stock Screener",
        ("stocks", "finance"),
        "Screens stocks by valuation ratios.",
        ("stock screener", "stocks"),
    ),
    Specialist(
        "weather-brief",
        "Weather Brief",
        ("weather", "forecast"),
        "Summarizes the weather forecast for a city.",
        ("weather brief", "weather"),
    ),
    Specialist(
        "flashcard-maker",
        "Flashcard Maker",
        ("education", "flashcards"),
        "Turns notes into spaced-repetition flashcards.",
        ("flashcard maker", "flashcards"),
    ),
    Specialist(
        "bug-triager",
        "Bug Triager",
        ("bugs", "devops"),
        "Labels and routes incoming bug reports.",
        ("bug triager", "bug tri"),
    ),
    Specialist(
        "diagram-drawer",
        "Diagram Drawer",
        ("diagrams", "visualization"),
        "Draws architecture diagrams from a description.",
        ("diagram drawer", "diagrams"),
    ),
)

LABELLED: tuple[tuple[str, str], ...] = tuple(
    (query, specialist.id) for specialist in SPECIALISTS for query in specialist.queries
)
"""(what a buyer types, the agent id that should come first)."""

_FILLER_NAMES = ("Helper", "Assistant", "Worker", "Bot", "Agent", "Runner", "Tool", "Service")
_FILLER_ADJECTIVES = ("Quick", "Smart", "Tiny", "Bright", "Handy", "Busy", "Calm", "Bold")


def _vocabulary() -> list[str]:
    words: set[str] = set()
    for specialist in SPECIALISTS:
        words.update(dialect.search_tokens(specialist.name))
        words.update(specialist.tags)
    return sorted(words)


def corpus(size: int, seed: int = 20) -> list[dict[str, Any]]:
    """``size`` agent rows (``agents`` columns but ``owner_id``): fillers, specialists last.

    Specialists are inserted last, so no scan order finds them first by accident.
    """
    rng = random.Random(seed)
    vocabulary = _vocabulary()
    start = datetime(2026, 1, 1, tzinfo=UTC)
    rows: list[dict[str, Any]] = []
    fillers = max(size - len(SPECIALISTS), 0)
    for n in range(fillers):
        mentioned = rng.sample(vocabulary, 3)
        tags = sorted(set(rng.sample(vocabulary, 2)))
        name = f"{rng.choice(_FILLER_ADJECTIVES)} {rng.choice(_FILLER_NAMES)} {n}"
        description = (
            f"A general helper that can {mentioned[0]}, {mentioned[1]} and {mentioned[2]}."
        )
        rows.append(_row(f"filler-{n:07d}", name, tags, description, start, n, rng))
    for n, specialist in enumerate(SPECIALISTS):
        rows.append(
            _row(
                specialist.id,
                specialist.name,
                list(specialist.tags),
                specialist.description,
                start,
                fillers + n,
                rng,
            )
        )
    return rows[:size] if size < len(SPECIALISTS) else rows


def _row(
    agent_id: str,
    name: str,
    tags: list[str],
    description: str,
    start: datetime,
    n: int,
    rng: random.Random,
) -> dict[str, Any]:
    created = start + timedelta(seconds=n)
    model = rng.choice(("free", "per_job", "per_second"))
    amount = 0 if model == "free" else rng.randrange(1, 500)
    return {
        "id": agent_id,
        "name": name,
        "description": description,
        "tags": tags,
        "tags_text": " ".join(tags),
        "pricing": {"model": model, "amount_cents": amount, "currency": "USD"},
        "price_cents": amount,
        "pricing_model": model,
        "input_schema": {"type": "object"},
        "output_schema": {},
        "created_at": created,
        "updated_at": created,
        **dialect.search_fields(agent_id, name, tags, description),
    }


def insert_corpus(connection: sa.Connection, rows: list[dict[str, Any]]) -> uuid.UUID:
    """Insert ``rows`` (and their tags) under a new executor; its id."""
    owner = uuid.uuid4()
    connection.execute(
        sa.insert(principals),
        [{"id": owner, "name": "corpus", "role": "executor", "created_at": datetime.now(UTC)}],
    )
    for chunk in _chunks(rows, 2_000):
        connection.execute(sa.insert(agents), [{**row, "owner_id": owner} for row in chunk])
        connection.execute(
            sa.insert(agent_tags),
            [{"agent_id": row["id"], "tag": tag} for row in chunk for tag in row["tags"]],
        )
        search_index.index_agents(
            connection,
            [
                search_index.IndexedAgent(row["id"], row["name"], row["tags"], row["description"])
                for row in chunk
            ],
        )
    return owner


def insert_ended_jobs(
    connection: sa.Connection, ended: Iterable[tuple[str, str, datetime]]
) -> None:
    """Jobs that ended (``(agent_id, status, ended_at)``, status ``completed`` or
    ``failed``, ordered and ended at that time) under a new buyer, written straight into
    ``jobs``: their agents' popularity is not recounted (``search_popularity.recount``)."""
    buyer = uuid.uuid4()
    connection.execute(
        sa.insert(principals),
        [
            {
                "id": buyer,
                "name": f"b-{buyer.hex[:8]}",
                "role": "buyer",
                "created_at": datetime.now(UTC),
            }
        ],
    )
    rows = [
        {
            "id": uuid.uuid4(),
            "agent_id": agent_id,
            "buyer_id": buyer,
            "prompt": "p",
            "params": {},
            "status": status,
            "progress": 100,
            "created_at": at,
            "updated_at": at,
            "completed_at": at,
        }
        for agent_id, status, at in ended
    ]
    for chunk in _chunks(rows, 20_000):
        connection.execute(sa.insert(jobs), chunk)


def _chunks(rows: list[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    for start in range(0, len(rows), size):
        yield rows[start : start + size]
