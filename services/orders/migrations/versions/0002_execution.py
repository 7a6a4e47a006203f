"""Execution: stop prices and fill figures on orders, instruments, symbol books, executions,
positions; a replaced order hands its client_order_id on to its replacement.

Revision ID: 0002
Revises: 0001
Create Date: 2025-02-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

WORKING = "status IN ('new', 'partially_filled')"


def upgrade() -> None:
    op.add_column("orders", sa.Column("stop_price", sa.Numeric()))
    op.add_column(
        "orders", sa.Column("filled_notional", sa.Numeric(), nullable=False, server_default="0")
    )
    op.alter_column("orders", "filled_notional", server_default=None)
    for name in ("filled_at", "expired_at", "replaced_at", "stop_triggered_at"):
        op.add_column("orders", sa.Column(name, sa.DateTime(timezone=True)))
    op.add_column("orders", sa.Column("replaces", sa.Uuid()))
    op.add_column("orders", sa.Column("replaced_by", sa.Uuid()))

    op.drop_index("uq_orders_account_client_order_id", table_name="orders")
    op.create_index(
        "uq_orders_account_client_order_id",
        "orders",
        ["account_id", "client_order_id"],
        unique=True,
        postgresql_where=sa.text(
            "client_order_id IS NOT NULL AND status NOT IN ('rejected', 'replaced')"
        ),
    )
    op.create_index(
        "ix_orders_working_by_symbol",
        "orders",
        ["symbol", "created_at", "id"],
        postgresql_where=sa.text(WORKING),
    )
    op.create_index(
        "ix_orders_working_day_by_submitted",
        "orders",
        ["submitted_at"],
        postgresql_where=sa.text(f"time_in_force = 'day' AND {WORKING}"),
    )

    op.create_table(
        "instruments",
        sa.Column("symbol", sa.String(32), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("tick_size", sa.Numeric(), nullable=False),
        sa.Column("lot_size", sa.Numeric(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("listed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "symbol_books",
        sa.Column("symbol", sa.String(32), primary_key=True),
        sa.Column("last_sequence", sa.BigInteger(), nullable=False),
        sa.Column("bid_price", sa.Numeric()),
        sa.Column("bid_size", sa.Numeric()),
        sa.Column("ask_price", sa.Numeric()),
        sa.Column("ask_size", sa.Numeric()),
        sa.Column("quoted_at", sa.DateTime(timezone=True)),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "executions",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("order_id", sa.Uuid(), sa.ForeignKey("orders.id"), nullable=False),
        sa.Column("account_id", sa.String(128), nullable=False),
        sa.Column("symbol", sa.String(32), nullable=False),
        sa.Column("side", sa.String(16), nullable=False),
        sa.Column("qty", sa.Numeric(), nullable=False),
        sa.Column("price", sa.Numeric(), nullable=False),
        sa.Column("quote_sequence", sa.BigInteger(), nullable=False),
        sa.Column("executed_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_executions_order", "executions", ["order_id"])
    op.create_table(
        "positions",
        sa.Column("account_id", sa.String(128), primary_key=True),
        sa.Column("symbol", sa.String(32), primary_key=True),
        sa.Column("qty", sa.Numeric(), nullable=False),
        sa.Column("cost_basis", sa.Numeric(), nullable=False),
        sa.Column("realized_pl", sa.Numeric(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("positions")
    op.drop_index("ix_executions_order", table_name="executions")
    op.drop_table("executions")
    op.drop_table("symbol_books")
    op.drop_table("instruments")
    op.drop_index("ix_orders_working_day_by_submitted", table_name="orders")
    op.drop_index("ix_orders_working_by_symbol", table_name="orders")
    op.drop_index("uq_orders_account_client_order_id", table_name="orders")
    op.create_index(
        "uq_orders_account_client_order_id",
        "orders",
        ["account_id", "client_order_id"],
        unique=True,
        postgresql_where=sa.text("client_order_id IS NOT NULL AND status <> 'rejected'"),
    )
    for name in (
        "replaced_by",
        "replaces",
        "stop_triggered_at",
        "replaced_at",
        "expired_at",
        "filled_at",
        "filled_notional",
        "stop_price",
    ):
        op.drop_column("orders", name)
