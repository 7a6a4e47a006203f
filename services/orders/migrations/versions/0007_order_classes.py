"""Order classes: an order's class (simple, bracket, oco, oto) and the parent of a leg.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A constant default: PostgreSQL adds the column without rewriting the table.
    op.add_column(
        "orders",
        sa.Column("order_class", sa.String(16), nullable=False, server_default="simple"),
    )
    op.add_column("orders", sa.Column("parent_id", sa.Uuid(), nullable=True))
    op.create_index(
        "ix_orders_parent",
        "orders",
        ["parent_id"],
        postgresql_where=sa.text("parent_id IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_orders_parent", table_name="orders")
    op.drop_column("orders", "parent_id")
    op.drop_column("orders", "order_class")
