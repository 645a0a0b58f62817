"""Input files: buyers' uploads, each job's inputs, and an agent's input_files rule.

Revision ID: 0008_inputs
Revises: 0007_webhooks
Create Date: 2026-11-30 13:30:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0008_inputs"
down_revision: str | None = "0007_webhooks"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    """Apply this revision."""
    op.add_column("agents", sa.Column("input_files", JSON, nullable=True))
    op.create_table(
        "input_files",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("owner_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("storage_key", sa.String(length=512), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("media_type", sa.String(length=255), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("expires_at", TIMESTAMP, nullable=True),
        sa.ForeignKeyConstraint(
            ["owner_id"],
            ["principals.id"],
            name=op.f("fk_input_files_owner_id_principals"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_input_files")),
    )
    op.create_index(op.f("ix_input_files_owner_id"), "input_files", ["owner_id"], unique=False)
    op.create_index(op.f("ix_input_files_expires_at"), "input_files", ["expires_at"], unique=False)
    op.create_table(
        "job_inputs",
        sa.Column("job_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("file_id", sa.Uuid(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["job_id"], ["jobs.id"], name=op.f("fk_job_inputs_job_id_jobs"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["file_id"], ["input_files.id"], name=op.f("fk_job_inputs_file_id_input_files")
        ),
        sa.PrimaryKeyConstraint("job_id", "name", name=op.f("pk_job_inputs")),
    )
    op.create_index(op.f("ix_job_inputs_file_id"), "job_inputs", ["file_id"], unique=False)


def downgrade() -> None:
    """Revert this revision."""
    op.drop_index(op.f("ix_job_inputs_file_id"), table_name="job_inputs")
    op.drop_table("job_inputs")
    op.drop_index(op.f("ix_input_files_expires_at"), table_name="input_files")
    op.drop_index(op.f("ix_input_files_owner_id"), table_name="input_files")
    op.drop_table("input_files")
    # A plain DROP COLUMN: a batch copy of ``agents`` on SQLite would cascade-delete rows
    # that reference it (agent_tags, jobs).
    op.drop_column("agents", "input_files")
