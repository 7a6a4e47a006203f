"""The kill switch: an account's trading block, and an index of each account's open orders.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OPEN = "status NOT IN ('canceled', 'expired', 'filled', 'rejected', 'replaced')"


def upgrade() -> None:
    op.create_table(
        "trading_blocks",
        sa.Column("account_id", sa.String(128), primary_key=True),
        sa.Column("reason", sa.String(200), nullable=False),
        sa.Column("blocked_by", sa.String(16), nullable=False),
        sa.Column("blocked_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index(
        "ix_orders_open_by_account", "orders", ["account_id"], postgresql_where=sa.text(OPEN)
    )


def downgrade() -> None:
    op.drop_index("ix_orders_open_by_account", table_name="orders")
    op.drop_table("trading_blocks")
