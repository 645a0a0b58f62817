"""The one place where SQLite and Postgres differ: engines, full-text search, wake-ups.

SQLite (embedded default): the sync pysqlite driver in WAL mode; writers take the lock up
front (``BEGIN IMMEDIATE``) so concurrent transactions queue on ``busy_timeout`` instead of
failing. Search is a LIKE fallback ranked by where the words hit.
Postgres: psycopg 3 with a connection pool; search uses a generated, weighted ``tsvector``
column with a GIN index; ``LISTEN/NOTIFY`` wakes long-pollers on every replica.
"""

from __future__ import annotations

import re
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url

from agnt_api.db.tables import agents
from agnt_api.settings import create_private_file

if TYPE_CHECKING:
    from alembic.operations import Operations

SEARCH_VECTOR_COLUMN = "search_vector"
SEARCH_VECTOR_INDEX = "ix_agents_search_vector"
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
    return sa.create_engine(
        url,
        hide_parameters=True,
        pool_size=10,
        max_overflow=30,
        pool_pre_ping=True,
        pool_recycle=1800,
    )


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
    """The words of a search query, lower-cased, punctuation dropped."""
    return re.findall(r"\w+", query.lower())[:16]


def agent_search(
    connection: sa.Connection,
    terms: list[str],
    filters: list[sa.ColumnElement[bool]],
    candidates: int,
) -> sa.Select[Any]:
    """Agents matching every term (prefix match) and ``filters``, best score first.

    The rows carry the ``agents`` columns plus ``score``. Only the first ``candidates``
    matches (in the database's scan order) are scored and sorted, so a word that matches
    a large share of the catalogue costs a bounded amount of work; matches beyond that
    set are not returned. Ties in score are ordered by id, so pages are stable.
    """
    if connection.dialect.name == "postgresql":
        tsquery = sa.func.to_tsquery(
            sa.literal_column("'english'"), " & ".join(f"{term}:*" for term in terms)
        )
        vector: sa.ColumnElement[Any] = sa.literal_column(SEARCH_VECTOR_COLUMN)
        matched = (
            sa.select(*agents.c, vector.label(SEARCH_VECTOR_COLUMN))
            .where(vector.op("@@")(tsquery).self_group(), *filters)
            .limit(candidates)
            .subquery("candidates")
        )
        score = sa.cast(sa.func.ts_rank(matched.c[SEARCH_VECTOR_COLUMN], tsquery), sa.Float)
        return _ranked(matched, score)
    conditions: list[sa.ColumnElement[bool]] = []
    for term in terms:
        pattern = _like_pattern(term)
        conditions.append(
            sa.or_(
                agents.c.name.ilike(pattern, escape="\\"),
                agents.c.tags_text.ilike(pattern, escape="\\"),
                agents.c.description.ilike(pattern, escape="\\"),
            )
        )
    matched = (
        sa.select(agents).where(*conditions, *filters).limit(candidates).subquery("candidates")
    )
    like_score: sa.ColumnElement[float] = sa.literal(0.0, sa.Float)
    for term in terms:
        pattern = _like_pattern(term)
        like_score = (
            like_score
            + sa.case((matched.c.name.ilike(pattern, escape="\\"), 0.5), else_=0.0)
            + sa.case((matched.c.tags_text.ilike(pattern, escape="\\"), 0.3), else_=0.0)
            + sa.case((matched.c.description.ilike(pattern, escape="\\"), 0.1), else_=0.0)
        )
    return _ranked(matched, like_score)


def _like_pattern(term: str) -> str:
    return "%" + term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _ranked(matched: sa.Subquery, score: sa.ColumnElement[float]) -> sa.Select[Any]:
    columns = [matched.c[column.name] for column in agents.c]
    return sa.select(*columns, score.label("score")).order_by(sa.desc("score"), matched.c.id)


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


def is_schema_object_of_dialect(name: str | None) -> bool:
    """Whether a schema object exists only through ``create_search_index`` (not in metadata)."""
    return name in (SEARCH_VECTOR_COLUMN, SEARCH_VECTOR_INDEX)
