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
    # Written when the key authenticates, at most about once a minute (services/keys.py).
    sa.Column("last_used_at", Timestamp, nullable=True),
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
    # The executor's accept rules (``AcceptRules``), checked at order time; null: none.
    sa.Column("accept_rules", Json, nullable=True),
    # When an executor serving the agent last claimed or watched (throttled): ``online``.
    sa.Column("last_seen_at", Timestamp, nullable=True),
    # Set by an unpublish (hidden from search, orders refused); a publish clears it.
    sa.Column("unpublished_at", Timestamp, nullable=True),
    # ``AgentPublish.input_files`` (count and media types of a job's input files), or null.
    sa.Column("input_files", Json, nullable=True),
    sa.Index(None, "name", "id"),
    sa.Index(None, "created_at", "id"),
    # Job lifecycle (``AgentPublish.timeout_seconds``, ``max_attempts``, ``retry_on_failure``).
    sa.Column("timeout_default_seconds", sa.Float(), nullable=True),
    sa.Column("timeout_max_seconds", sa.Float(), nullable=True),
    sa.Column("max_attempts", sa.Integer(), nullable=False, server_default="3"),
    sa.Column("retry_on_failure", sa.Boolean(), nullable=False, server_default=sa.false()),
    sa.Index(None, "search_name"),
    # Sort keys kept on the row (0013_search_speed), each with an index walked in sort
    # order: ``pricing.amount_cents``, and the jobs completed in the last 30 days
    # (``services.popularity``; ``popularity_at``: when it was last counted).
    sa.Column("price_cents", sa.Integer(), nullable=False, server_default="0"),
    # ``pricing.model`` as a column: the planner knows how many agents each model has (a
    # JSON path gets a default guess of 0.5 %, and a parallel plan that costs 10+ ms).
    sa.Column("pricing_model", sa.String(16), nullable=False, server_default="free"),
    sa.Column("popularity", sa.Integer(), nullable=False, server_default="0"),
    sa.Column("popularity_at", Timestamp, nullable=True),
    sa.Index("ix_agents_price_cents_id", "price_cents", "id"),
    sa.Index(None, "popularity_at"),
    # The popularity level blended into relevance (0014_search_popularity): 0..3 from
    # ``popularity`` and the success rate (``search_popularity.level_of``), also held in
    # the low part of each of the agent's ``search_postings`` scores.
    sa.Column("search_level", sa.SmallInteger(), nullable=False, server_default="0"),
)
sa.Index("ix_agents_popularity_id", agents.c.popularity.desc(), agents.c.id)

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
    # Bytes of handler log lines stored for this job (the per-job log budget).
    sa.Column("log_bytes", sa.Integer(), nullable=False, server_default="0"),
    sa.Index(None, "buyer_id", "created_at"),
    sa.Index(None, "agent_id", "status", "created_at"),
    sa.Index(None, "status", "lease_expires_at"),
    # The claim's queue: only pending jobs, in arrival order (small, read from its head).
    sa.Index(
        "ix_jobs_pending_created_at_id",
        "created_at",
        "id",
        postgresql_where=sa.text("status = 'pending'"),
        sqlite_where=sa.text("status = 'pending'"),
    ),
    # Jobs by the time they ended (0015): the popularity and event-log sweeps.
    sa.Index(
        "ix_jobs_completed_at",
        "completed_at",
        postgresql_where=sa.text("completed_at IS NOT NULL"),
        sqlite_where=sa.text("completed_at IS NOT NULL"),
    ),
    # Attempts: 1, plus one per requeue; the agent's max_attempts and retry_on_failure as
    # ordered (the reaper needs no join). deadline_at: created_at + timeout_seconds.
    sa.Column("attempt", sa.Integer(), nullable=False, server_default="1"),
    sa.Column("max_attempts", sa.Integer(), nullable=False, server_default="3"),
    sa.Column("retry_on_failure", sa.Boolean(), nullable=False, server_default=sa.false()),
    sa.Column("deadline_at", Timestamp, nullable=True),
    # The reaper's deadline sweep: only open jobs that have a deadline.
    sa.Index(
        "ix_jobs_open_deadline_at",
        "deadline_at",
        postgresql_where=sa.text(
            "deadline_at IS NOT NULL AND status IN ('pending', 'accepted', 'running')"
        ),
        sqlite_where=sa.text(
            "deadline_at IS NOT NULL AND status IN ('pending', 'accepted', 'running')"
        ),
    ),
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
    # The completion's Idempotency-Key: a retried completion with it answers this result.
    sa.Column("idempotency_key", sa.String(255), nullable=True),
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

sweeps = sa.Table(
    "sweeps",
    metadata,
    # A periodic job shared by every API process (``search_popularity.take_round``): the row
    # is locked by the process taking a round; ``done_until`` is where the last round began.
    sa.Column("name", sa.String(32), primary_key=True),
    sa.Column("done_until", Timestamp, nullable=False),
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

job_events = sa.Table(
    "job_events",
    metadata,
    sa.Column(
        "job_id",
        sa.Uuid(),
        sa.ForeignKey("jobs.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    # Per job, from 1, no gaps: allocated under the job row's lock (see services/events.py).
    sa.Column("seq", sa.Integer(), primary_key=True, autoincrement=False),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("data", Json, nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
)

job_webhooks = sa.Table(
    "job_webhooks",
    metadata,
    # Where a job's events go (``JobCreate.webhook``); ``events`` is the list of kinds sent.
    sa.Column("job_id", sa.Uuid(), sa.ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True),
    sa.Column(
        "buyer_id",
        sa.Uuid(),
        sa.ForeignKey("principals.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("url", sa.Text(), nullable=False),
    sa.Column("events", Json, nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
)

webhook_secrets = sa.Table(
    "webhook_secrets",
    metadata,
    # A shared signing secret, not a password: the API must read it back to sign, so a hash
    # would not do. Stored as is (``whsec_...``), like the database's other credentials;
    # whoever reads this table could also forge the events themselves.
    sa.Column(
        "principal_id",
        sa.Uuid(),
        sa.ForeignKey("principals.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("secret", sa.String(100), nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
)

webhook_outbox = sa.Table(
    "webhook_outbox",
    metadata,
    # One row per (event, target): written in the event's transaction, claimed by workers.
    sa.Column("id", sa.Uuid(), primary_key=True),
    sa.Column("job_id", sa.Uuid(), sa.ForeignKey("jobs.id", ondelete="CASCADE"), nullable=False),
    sa.Column("event_seq", sa.Integer(), nullable=False),
    sa.Column("buyer_id", sa.Uuid(), nullable=False),
    sa.Column("url", sa.Text(), nullable=False),
    sa.Column("body", sa.Text(), nullable=False),
    # pending -> delivered | failed (attempts ran out).
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("attempts", sa.Integer(), nullable=False),
    # When the next attempt is due; a claim moves it past the attempt's end, so a worker
    # that dies mid-attempt leaves the row to be claimed again.
    sa.Column("next_attempt_at", Timestamp, nullable=False),
    sa.Column("claim_token", sa.Uuid(), nullable=True),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.UniqueConstraint("job_id", "event_seq"),
    # The workers' queue: only pending rows, by due time.
    sa.Index(
        "ix_webhook_outbox_due",
        "next_attempt_at",
        postgresql_where=sa.text("state = 'pending'"),
        sqlite_where=sa.text("state = 'pending'"),
    ),
)

webhook_attempts = sa.Table(
    "webhook_attempts",
    metadata,
    sa.Column("id", sa.Uuid(), primary_key=True),
    sa.Column(
        "outbox_id",
        sa.Uuid(),
        sa.ForeignKey("webhook_outbox.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("job_id", sa.Uuid(), sa.ForeignKey("jobs.id", ondelete="CASCADE"), nullable=False),
    sa.Column("event_seq", sa.Integer(), nullable=False),
    sa.Column("attempt", sa.Integer(), nullable=False),
    sa.Column("url", sa.Text(), nullable=False),
    sa.Column("status_code", sa.Integer(), nullable=True),
    sa.Column("latency_ms", sa.Float(), nullable=True),
    sa.Column("error", sa.Text(), nullable=True),
    sa.Column("delivered", sa.Boolean(), nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("next_attempt_at", Timestamp, nullable=True),
    sa.Index(None, "job_id", "created_at"),
)

input_files = sa.Table(
    "input_files",
    metadata,
    # A buyer's uploaded input file. ``expires_at`` is set until a job uses the file (then
    # null: it lives as long as the job); the reaper deletes expired files and their objects.
    sa.Column("id", sa.Uuid(), primary_key=True),
    sa.Column(
        "owner_id",
        sa.Uuid(),
        sa.ForeignKey("principals.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("storage_key", sa.String(512), nullable=False),
    sa.Column("size", sa.BigInteger(), nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("media_type", sa.String(255), nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("expires_at", Timestamp, nullable=True, index=True),
)

job_inputs = sa.Table(
    "job_inputs",
    metadata,
    # A job's inputs: which uploaded file each is, under the name the job sees.
    sa.Column("job_id", sa.Uuid(), sa.ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("name", sa.String(255), primary_key=True),
    sa.Column("file_id", sa.Uuid(), sa.ForeignKey("input_files.id"), nullable=False, index=True),
    sa.Column("position", sa.Integer(), nullable=False),
)

search_postings = sa.Table(
    "search_postings",
    metadata,
    # One row per (word, agent): the word's score in that agent, 8 id/name + 4 tags +
    # 2 description (``dialect.postings_of``); read in score order per word.
    sa.Column("agent_id", sa.String(64), sa.ForeignKey("agents.id", ondelete="CASCADE")),
    sa.Column("term", sa.String(64)),
    sa.Column("score", sa.SmallInteger(), nullable=False),
    sa.PrimaryKeyConstraint("agent_id", "term"),
)
sa.Index(
    "ix_search_postings_rank",
    search_postings.c.term,
    search_postings.c.score.desc(),
    search_postings.c.agent_id,
)

search_term_tags = sa.Table(
    "search_term_tags",
    metadata,
    # How many agents with the word carry the tag: a one-word search's facets without
    # reading its matches. Kept in step with ``search_postings`` at publish.
    sa.Column("term", sa.String(64), primary_key=True),
    sa.Column("tag", sa.String(50), primary_key=True),
    sa.Column("agents", sa.Integer(), nullable=False),
)
