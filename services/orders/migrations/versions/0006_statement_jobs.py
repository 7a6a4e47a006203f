"""Activities and statement jobs: executions by account newest first (the activities keyset),
and the jobs table (background statement jobs, their progress, error and file).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_executions_account_executed",
        "executions",
        ["account_id", sa.text("executed_at DESC"), sa.text("id DESC")],
    )
    op.create_table(
        "jobs",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("account_id", sa.String(128), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("params", postgresql.JSONB(), nullable=False),
        sa.Column("priority", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("progress", sa.Float(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("not_before", sa.DateTime(timezone=True)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True)),
        sa.Column("finished_at", sa.DateTime(timezone=True)),
        sa.Column("error", sa.Text()),
        sa.Column("result_rows", sa.Integer()),
        sa.Column("result", sa.LargeBinary()),
    )
    op.create_index("ix_jobs_account_created", "jobs", ["account_id", sa.text("created_at DESC")])


def downgrade() -> None:
    op.drop_index("ix_jobs_account_created", table_name="jobs")
    op.drop_table("jobs")
    op.drop_index("ix_executions_account_executed", table_name="executions")
