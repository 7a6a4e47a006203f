"""The outbox's relay_after: rows the writer publishes itself are held from the relays until then
(libs/common outbox_handoff).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Nullable, no default: PostgreSQL adds it without rewriting the table.
    op.add_column("outbox", sa.Column("relay_after", sa.DateTime(timezone=True)))


def downgrade() -> None:
    op.drop_column("outbox", "relay_after")
