"""The one place where SQLite and Postgres differ: engines, full-text search, wake-ups.

SQLite (embedded default): the sync pysqlite driver in WAL mode; writers take the lock up
front (``BEGIN IMMEDIATE``) so concurrent transactions queue on ``busy_timeout`` instead of
failing. Search scans the stored, pre-tokenized search columns with ``LIKE``.
Postgres: psycopg 3 with a connection pool; search finds matches through a generated
``tsvector`` of the same words with a GIN index, then scores them like SQLite; ``LISTEN/NOTIFY`` wakes long-pollers on every replica.
"""

from __future__ import annotations

import functools
import operator
import re
import time
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine, make_url

from agnt_api.db.tables import agents, search_term_tags
from agnt_api.settings import create_private_file

if TYPE_CHECKING:
    from alembic.operations import Operations

SEARCH_VECTOR_COLUMN = "search_vector"
SEARCH_VECTOR_INDEX = "ix_agents_search_vector"
SEARCH_DOCUMENT_COLUMN = "search_document"
SEARCH_DOCUMENT_INDEX = "ix_agents_search_document"
SQLITE_WRITE_OPTION = "agnt_sqlite_write"

_SEARCH_VECTOR_SQL = (
    "setweight(to_tsvector('english', coalesce(name, '')), 'A') || "
    "setweight(to_tsvector('english', coalesce(tags_text, '')), 'B') || "
    "setweight(to_tsvector('english', coalesce(description, '')), 'C')"
)


def is_postgres(engine: Engine) -> bool:
    """Whether ``engine`` talks to Postgres (else SQLite)."""
    return engine.dialect.name == "postgresql"


def create_engine(url: str) -> Engine:
    """An engine for ``url`` tuned for its dialect.

    ``hide_parameters``: a statement's parameters (prompts, params) never appear in an
    exception's text, so no log line of a database error carries them.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(url)
    engine = sa.create_engine(
        url,
        hide_parameters=True,
        pool_size=10,
        max_overflow=30,
        pool_recycle=1800,
    )
    _ping_connections_idle_for(engine, PING_AFTER_IDLE_SECONDS)
    return engine


PING_AFTER_IDLE_SECONDS = 2.0
"""A pooled Postgres connection unused for this long is pinged before it is handed out."""


def _ping_connections_idle_for(engine: Engine, seconds: float) -> None:
    """``pool_pre_ping``, but only for connections that sat idle for ``seconds``.

    A ping is a round trip, and a busy API checks a connection out for every request: on
    the job path that was one round trip in four or five. A connection that was used a
    moment ago is alive; one that sat idle may have been closed (a Postgres restart, an
    idle timeout on the way) and is pinged, and replaced if dead, as ``pool_pre_ping``
    does. A connection that dies within ``seconds`` of its last use fails its request
    with ``OperationalError`` (503, retried by clients), and SQLAlchemy then recycles
    every connection of that pool.
    """

    @event.listens_for(engine, "checkin")
    def _on_checkin(_dbapi_connection: Any, record: Any) -> None:
        record.info[_LAST_CHECKIN] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _on_checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        last = record.info.get(_LAST_CHECKIN)
        if last is None or time.monotonic() - last < seconds:
            return  # new, or used a moment ago
        dialect = engine.dialect
        try:
            dialect.do_ping(dbapi_connection)
        except dialect.loaded_dbapi.Error as exc:
            if dialect.is_disconnect(exc, dbapi_connection, None):
                # The pool discards this connection and checks out another one.
                raise sa.exc.DisconnectionError() from exc
            raise


_LAST_CHECKIN = "agnt_last_checkin"


def _sqlite_engine(url: str) -> Engine:
    database = make_url(url).database
    if database and database != ":memory:" and not database.startswith("file:"):
        # A new directory is private (0700); an existing one is the operator's choice.
        # SQLite gives its -wal and -shm files the database file's mode: 0600 covers all three.
        Path(database).parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        create_private_file(Path(database))
    engine = sa.create_engine(
        url,
        hide_parameters=True,
        connect_args={"check_same_thread": False, "timeout": 30},
        pool_size=10,
        max_overflow=20,
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control from pysqlite so that BEGIN is ours to emit.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: sa.Connection) -> None:
        # A deferred transaction that later writes can fail with SQLITE_BUSY without
        # waiting; writers lock at BEGIN so they wait their turn instead.
        write = connection.get_execution_options().get(SQLITE_WRITE_OPTION, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

    return engine


def search_terms(query: str) -> list[str]:
    """The words of a search query: lower-cased runs of letters and digits (``_`` splits)."""
    return search_tokens(query)[:16]


def search_tokens(text: str) -> list[str]:
    """The words of ``text`` as search sees them, on both databases.

    Lower-cased runs of letters and digits; a plural ``s`` is dropped (``logs`` finds
    ``log``, ``recipe`` finds ``recipes``). No other stemming and no stop words: the same
    words match on SQLite and Postgres.
    """
    return [_singular(word) for word in _WORD.findall(text.lower())]


def _singular(word: str) -> str:
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


_WORD = re.compile(r"[^\W_]+")

SEARCH_WEIGHT_KEY = 8
"""Score of a query word found whole in the agent's id or name (prefix-only: half)."""
SEARCH_WEIGHT_TAGS = 4
"""Score of a query word found whole in the tags (prefix-only: half)."""
SEARCH_WEIGHT_BODY = 2
"""Score of a query word found whole in the description (prefix-only: half)."""
SEARCH_EXACT_BOOST = 1_000
"""Added when the query is the agent's id, or its name word for word: it comes first."""
SEARCH_LEVELS = 4
"""Popularity levels (0..3, ``search_popularity.level_of``). A score is the text score times
``SEARCH_LEVELS`` plus the agent's level: text relevance always decides first, popularity
only among equal text scores (the level is below one text point), then the id. 16 words
of 14 points at level 3 stay below ``SEARCH_EXACT_BOOST``."""


def search_fields(agent_id: str, name: str, tags: list[str], description: str) -> dict[str, str]:
    """The stored search columns of an agent: its words per field, space-padded.

    Python tokenizes once, at publish, for both databases, so a word matches the same agents
    on SQLite and Postgres (``LIKE '% word %'`` on the padded text; ``'% word%'`` for a prefix).
    """

    def padded(text: str) -> str:
        return " " + " ".join(search_tokens(text)) + " "

    return {
        "search_name": " ".join(search_tokens(name)),
        "search_key": padded(f"{agent_id} {name}"),
        "search_tags": padded(" ".join(tags)),
        "search_body": padded(description),
    }


POSTING_TERM_MAX = 64
"""Longer words get no posting; a query with one is answered by the full scan."""


def postings_of(
    agent_id: str, name: str, tags: list[str], description: str, level: int = 0
) -> dict[str, int]:
    """Each word of the agent and its stored posting score: the word's field bits (8 id/name
    + 4 tags + 2 description) times ``SEARCH_LEVELS``, plus the agent's popularity ``level``.

    The bits say both how much the word is worth in this agent and where it is
    (``agent_search`` scores the same way); the level in the low part makes a word's
    postings, read in score order, come in (text score, popularity, id) order.
    """
    scores: dict[str, int] = {}
    for text, weight in (
        (f"{agent_id} {name}", SEARCH_WEIGHT_KEY),
        (" ".join(tags), SEARCH_WEIGHT_TAGS),
        (description, SEARCH_WEIGHT_BODY),
    ):
        for word in set(search_tokens(text)):
            if len(word) <= POSTING_TERM_MAX:
                scores[word] = scores.get(word, 0) | weight
    return {word: bits * SEARCH_LEVELS + level for word, bits in scores.items()}


def posting_bits(posting: int) -> int:
    """The field bits (8/4/2) of a stored posting score."""
    return posting // SEARCH_LEVELS


def posting_level(posting: int) -> int:
    """The agent's popularity level held in a stored posting score."""
    return posting % SEARCH_LEVELS


def add_term_tags(connection: sa.Connection, counts: dict[tuple[str, str], int]) -> None:
    """Add ``counts`` to ``search_term_tags`` (insert or increment), in key order.

    Key order: two publishes sharing words lock the same rows in the same order, so they
    queue instead of deadlocking.
    """
    if not counts:
        return
    insert = (
        postgresql.insert(search_term_tags)
        if connection.dialect.name == "postgresql"
        else sqlite.insert(search_term_tags)
    )
    statement = insert.on_conflict_do_update(
        index_elements=[search_term_tags.c.term, search_term_tags.c.tag],
        set_={"agents": search_term_tags.c.agents + insert.excluded.agents},
    )
    rows = [{"term": term, "tag": tag, "agents": n} for (term, tag), n in sorted(counts.items())]
    for start in range(0, len(rows), 5_000):
        connection.execute(statement, rows[start : start + 5_000])


def agent_search(
    connection: sa.Connection,
    query: str,
    terms: list[str],
    filters: list[sa.ColumnElement[bool]],
) -> sa.Select[Any]:
    """Agents matching every term (the last one as a prefix) and ``filters``, with ``score``.

    The rows carry the ``agents`` columns plus ``score``, an integer computed the same way on
    both databases over every match (no candidate cap): per word, 8/4/2 when it is a whole
    word of the id or name / tags / description (half for a prefix-only hit of the last word);
    that text score times ``SEARCH_LEVELS`` plus the agent's popularity level
    (``agents.search_level``); plus ``SEARCH_EXACT_BOOST`` when the query is the id or the
    name. SQLite scans the stored words with ``LIKE``; Postgres reads the same words from a
    weighted ``tsvector`` (``'simple'`` config: no stemming, no stop words) through a GIN
    index. The caller orders by (score, id) and pages by keyset.
    """
    if connection.dialect.name == "postgresql":
        return _postgres_search(query, terms, filters)
    key, tags, body = agents.c.search_key, agents.c.search_tags, agents.c.search_body
    conditions: list[sa.ColumnElement[bool]] = []
    hits: list[sa.ColumnElement[int]] = []
    for position, term in enumerate(terms):
        whole = f"% {term} %"
        last = position == len(terms) - 1
        pattern = f"% {term}%" if last else whole
        conditions.append(sa.or_(key.like(pattern), tags.like(pattern), body.like(pattern)))
        for column, weight in (
            (key, SEARCH_WEIGHT_KEY),
            (tags, SEARCH_WEIGHT_TAGS),
            (body, SEARCH_WEIGHT_BODY),
        ):
            if last:
                hit = sa.case(
                    (column.like(whole), weight), (column.like(pattern), weight // 2), else_=0
                )
            else:
                hit = sa.case((column.like(whole), weight), else_=0)
            hits.append(hit)
    ranked = _ranked(query, terms, hits)
    return sa.select(*agents.c, ranked.label("score")).where(*conditions, *filters)


def exact_match(query: str, terms: list[str]) -> sa.ColumnElement[bool]:
    """The query is the agent's id, or its name word for word (``SEARCH_EXACT_BOOST``)."""
    return sa.or_(agents.c.id == query.strip().lower(), agents.c.search_name == " ".join(terms))


def _ranked(
    query: str, terms: list[str], hits: list[sa.ColumnElement[int]]
) -> sa.ColumnElement[int]:
    """The score of the fields' ``hits``: their sum (the text score) times
    ``SEARCH_LEVELS``, plus the agent's popularity level, plus ``SEARCH_EXACT_BOOST`` for
    an exact id or name."""
    text = functools.reduce(operator.add, hits).self_group()
    boost = sa.case((exact_match(query, terms), SEARCH_EXACT_BOOST), else_=0)
    return boost + text * SEARCH_LEVELS + agents.c.search_level


_FIELD_LABELS = (("A", SEARCH_WEIGHT_KEY), ("B", SEARCH_WEIGHT_TAGS), ("C", SEARCH_WEIGHT_BODY))


def _postgres_search(
    query: str, terms: list[str], filters: list[sa.ColumnElement[bool]]
) -> sa.Select[Any]:
    """The same matches and scores as the ``LIKE`` statement, read from the weighted
    ``tsvector`` (A: id and name, B: tags, C: description): one GIN lookup finds the
    matches, then ``@@`` against weight-restricted constant queries (a binary search in
    the row's sorted lexemes) scores each field instead of scanning its text."""
    document: sa.ColumnElement[Any] = sa.literal_column(SEARCH_DOCUMENT_COLUMN)

    def has(text: str) -> sa.ColumnElement[bool]:
        return document.op("@@")(sa.cast(sa.literal(text), postgresql.TSQUERY)).self_group()

    hits: list[sa.ColumnElement[int]] = []
    for position, term in enumerate(terms):
        last = position == len(terms) - 1
        for label, weight in _FIELD_LABELS:
            whole = has(f"'{term}':{label}")
            if last:
                hit = sa.case((whole, weight), (has(f"'{term}':*{label}"), weight // 2), else_=0)
            else:
                hit = sa.case((whole, weight), else_=0)
            hits.append(hit)
    matching = " & ".join(
        f"'{term}':*" if n == len(terms) - 1 else f"'{term}'" for n, term in enumerate(terms)
    )
    ranked = _ranked(query, terms, hits)
    return sa.select(*agents.c, ranked.label("score")).where(has(matching), *filters)


def seconds_between(
    connection: sa.Connection, start: sa.ColumnElement[Any], end: sa.ColumnElement[Any]
) -> sa.ColumnElement[float]:
    """``end - start`` in seconds, as a SQL expression."""
    if connection.dialect.name == "postgresql":
        return sa.cast(sa.func.extract("epoch", end - start), sa.Float)
    return (sa.func.julianday(end) - sa.func.julianday(start)) * 86400.0


def create_search_index(op: Operations | ModuleType) -> None:
    """Migration step: the generated ``tsvector`` column and its GIN index (Postgres only)."""
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        f"ALTER TABLE agents ADD COLUMN {SEARCH_VECTOR_COLUMN} tsvector "
        f"GENERATED ALWAYS AS ({_SEARCH_VECTOR_SQL}) STORED"
    )
    op.execute(f"CREATE INDEX {SEARCH_VECTOR_INDEX} ON agents USING gin ({SEARCH_VECTOR_COLUMN})")


def drop_search_index(op: Operations | ModuleType) -> None:
    """Migration step: undo ``create_search_index``."""
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(f"DROP INDEX IF EXISTS {SEARCH_VECTOR_INDEX}")
    op.execute(f"ALTER TABLE agents DROP COLUMN IF EXISTS {SEARCH_VECTOR_COLUMN}")


def create_search_document(op: Operations | ModuleType) -> None:
    """Migration step (0005): the words of the search columns as a generated, weighted
    ``tsvector`` (``'simple'``: no stemming, no stop words; A: id and name, B: tags,
    C: description) with a GIN index (Postgres only)."""
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        f"ALTER TABLE agents ADD COLUMN {SEARCH_DOCUMENT_COLUMN} tsvector GENERATED ALWAYS AS ("
        "setweight(to_tsvector('simple', search_key), 'A') || "
        "setweight(to_tsvector('simple', search_tags), 'B') || "
        "setweight(to_tsvector('simple', search_body), 'C')) STORED"
    )
    op.execute(
        f"CREATE INDEX {SEARCH_DOCUMENT_INDEX} ON agents USING gin ({SEARCH_DOCUMENT_COLUMN})"
    )


def drop_search_document(op: Operations | ModuleType) -> None:
    """Migration step: undo ``create_search_document``."""
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(f"DROP INDEX IF EXISTS {SEARCH_DOCUMENT_INDEX}")
    op.execute(f"ALTER TABLE agents DROP COLUMN IF EXISTS {SEARCH_DOCUMENT_COLUMN}")


def is_schema_object_of_dialect(name: str | None) -> bool:
    """Whether a schema object exists only through the search migrations (not in metadata)."""
    return name in (
        SEARCH_VECTOR_COLUMN,
        SEARCH_VECTOR_INDEX,
        SEARCH_DOCUMENT_COLUMN,
        SEARCH_DOCUMENT_INDEX,
    )
