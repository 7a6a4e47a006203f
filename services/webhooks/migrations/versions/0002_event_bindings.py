"""The events queue's topic bindings, derived from the endpoints' subscriptions.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "event_bindings",
        sa.Column("pattern", sa.Text(), nullable=False),
        sa.Column(
            "bound_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("pattern"),
    )
    # Before this revision the queue was declared bound with "#". Recording that binding lets
    # the first reconcile remove it when no endpoint needs every event (unbinding a binding that
    # does not exist, on a fresh broker, is harmless).
    op.execute("INSERT INTO event_bindings (pattern) VALUES ('#')")


def downgrade() -> None:
    op.drop_table("event_bindings")
