"""Trailing stops and notional orders: a notional order has no qty until it trades; a trailing
stop keeps its trail and high-water mark, and pending ones are indexed by their mark.

The statuses are spelled out here on purpose: a migration is a record of what was applied, and
must not change when the code's constants do.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.alter_column("orders", "qty", existing_type=sa.Numeric(), nullable=True)
    for name in ("notional", "trail_price", "trail_percent", "hwm"):
        op.add_column("orders", sa.Column(name, sa.Numeric()))
    op.create_index(
        "ix_orders_trailing_marks",
        "orders",
        ["symbol", "side", "hwm"],
        postgresql_where=sa.text(
            "status IN ('new', 'partially_filled') AND type = 'trailing_stop' "
            "AND stop_triggered_at IS NULL"
        ),
    )


def downgrade() -> None:
    op.drop_index("ix_orders_trailing_marks", table_name="orders")
    # Orders this revision made possible cannot be written back without it.
    op.execute("DELETE FROM executions WHERE order_id IN (SELECT id FROM orders WHERE qty IS NULL)")
    op.execute("DELETE FROM orders WHERE qty IS NULL")
    for name in ("hwm", "trail_percent", "trail_price", "notional"):
        op.drop_column("orders", name)
    op.alter_column("orders", "qty", existing_type=sa.Numeric(), nullable=False)
