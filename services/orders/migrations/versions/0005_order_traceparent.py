"""The trace context an order was placed in, so its fills (in the traces of the quotes that
cause them) can link back to it.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Nullable, no default: orders placed before this revision simply have no link.
    op.add_column("orders", sa.Column("traceparent", sa.String(128)))


def downgrade() -> None:
    op.drop_column("orders", "traceparent")
