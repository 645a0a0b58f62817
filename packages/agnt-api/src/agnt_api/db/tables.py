"""The API's tables (SQLAlchemy Core). These are storage rows, not the wire models.

The Alembic versions in ``migrations/`` create exactly this schema; ``alembic check``
proves there is no drift.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

Json = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
Timestamp = sa.DateTime(timezone=True)

principals = sa.Table(
    "principals",
    metadata,
    sa.Column("id", sa.Uuid(), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
)

api_keys = sa.Table(
    "api_keys",
    metadata,
    sa.Column("prefix", sa.String(32), primary_key=True),
    sa.Column(
        "principal_id",
        sa.Uuid(),
        sa.ForeignKey("principals.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    sa.Column("key_hash", sa.String(64), nullable=False),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("revoked_at", Timestamp, nullable=True),
)

agents = sa.Table(
    "agents",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("owner_id", sa.Uuid(), sa.ForeignKey("principals.id"), nullable=False, index=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("description", sa.Text(), nullable=False),
    sa.Column("tags", Json, nullable=False),
    sa.Column("tags_text", sa.Text(), nullable=False),
    sa.Column("pricing", Json, nullable=False),
    sa.Column("input_schema", Json, nullable=False),
    sa.Column("output_schema", Json, nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("updated_at", Timestamp, nullable=False),
    # Search (``dialect.search_fields``): the fields' words, lower-cased and space-padded.
    sa.Column("search_name", sa.Text(), nullable=False, server_default=""),
    sa.Column("search_key", sa.Text(), nullable=False, server_default=""),
    sa.Column("search_tags", sa.Text(), nullable=False, server_default=""),
    sa.Column("search_body", sa.Text(), nullable=False, server_default=""),
    sa.Index(None, "name", "id"),
    sa.Index(None, "created_at", "id"),
)

agent_tags = sa.Table(
    "agent_tags",
    metadata,
    sa.Column(
        "agent_id",
        sa.String(64),
        sa.ForeignKey("agents.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("tag", sa.String(50), primary_key=True),
    sa.Index(None, "tag"),
)

jobs = sa.Table(
    "jobs",
    metadata,
    sa.Column("id", sa.Uuid(), primary_key=True),
    sa.Column("agent_id", sa.String(64), sa.ForeignKey("agents.id"), nullable=False),
    sa.Column("buyer_id", sa.Uuid(), sa.ForeignKey("principals.id"), nullable=False),
    sa.Column("prompt", sa.Text(), nullable=False),
    sa.Column("params", Json, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("progress", sa.Integer(), nullable=False),
    sa.Column("decision_reason", sa.Text(), nullable=True),
    sa.Column("lease_expires_at", Timestamp, nullable=True),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("updated_at", Timestamp, nullable=False),
    sa.Column("started_at", Timestamp, nullable=True),
    sa.Column("completed_at", Timestamp, nullable=True),
    sa.Index(None, "buyer_id", "created_at"),
    sa.Index(None, "agent_id", "status", "created_at"),
    sa.Index(None, "status", "lease_expires_at"),
)

job_results = sa.Table(
    "job_results",
    metadata,
    sa.Column(
        "job_id",
        sa.Uuid(),
        sa.ForeignKey("jobs.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("files", Json, nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
)

idempotency_keys = sa.Table(
    "idempotency_keys",
    metadata,
    sa.Column("buyer_id", sa.Uuid(), sa.ForeignKey("principals.id"), primary_key=True),
    sa.Column("key", sa.String(255), primary_key=True),
    sa.Column("request_sha256", sa.String(64), nullable=False),
    sa.Column(
        "job_id",
        sa.Uuid(),
        sa.ForeignKey("jobs.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("created_at", Timestamp, nullable=False),
)

rate_limits = sa.Table(
    "rate_limits",
    metadata,
    # One row per (action, caller): GCRA needs only the bucket's theoretical arrival time.
    sa.Column("bucket", sa.String(200), primary_key=True),
    sa.Column("tat", sa.Float(precision=53), nullable=False),
)

web_sessions = sa.Table(
    "web_sessions",
    metadata,
    # SHA-256 of the session token the signed cookie carries: the table alone signs no one in.
    sa.Column("token_hash", sa.String(64), primary_key=True),
    sa.Column(
        "key_prefix",
        sa.String(32),
        sa.ForeignKey("api_keys.prefix", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("expires_at", Timestamp, nullable=False),
)
