"""Matching that reads only what can execute: price-time indexes of resting orders, pending stops
by stop price, waiting ioc/fok orders; what is left of the last quote's size on the book.

The statuses and times in force are spelled out here on purpose: a migration is a record of what
was applied, and must not change when the code's constants do.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

WORKING = "status IN ('new', 'partially_filled')"
RESTING = "time_in_force IN ('day', 'gtc')"
NOT_STOP_PENDING = "(stop_price IS NULL OR stop_triggered_at IS NOT NULL)"


def upgrade() -> None:
    op.add_column("symbol_books", sa.Column("bid_available", sa.Numeric()))
    op.add_column("symbol_books", sa.Column("ask_available", sa.Numeric()))
    # Before this revision the whole size of the last quote was taken by the orders it filled.
    op.execute("UPDATE symbol_books SET bid_available = 0, ask_available = 0")

    op.drop_index("ix_orders_working_by_symbol", table_name="orders")
    op.create_index(
        "ix_orders_resting_bids",
        "orders",
        [
            "symbol",
            sa.text("(-COALESCE(limit_price, 'Infinity'::numeric))"),
            "created_at",
            "id",
        ],
        postgresql_where=sa.text(
            f"side = 'buy' AND {WORKING} AND {RESTING} AND {NOT_STOP_PENDING}"
        ),
    )
    op.create_index(
        "ix_orders_resting_asks",
        "orders",
        [
            "symbol",
            sa.text("(COALESCE(limit_price, '-Infinity'::numeric))"),
            "created_at",
            "id",
        ],
        postgresql_where=sa.text(
            f"side = 'sell' AND {WORKING} AND {RESTING} AND {NOT_STOP_PENDING}"
        ),
    )
    op.create_index(
        "ix_orders_pending_stops",
        "orders",
        ["symbol", "side", "stop_price"],
        postgresql_where=sa.text(
            f"{WORKING} AND stop_price IS NOT NULL AND stop_triggered_at IS NULL"
        ),
    )
    op.create_index(
        "ix_orders_waiting_ioc_fok",
        "orders",
        ["symbol"],
        postgresql_where=sa.text(
            f"{WORKING} AND time_in_force IN ('fok', 'ioc') AND {NOT_STOP_PENDING}"
        ),
    )


def downgrade() -> None:
    op.drop_index("ix_orders_waiting_ioc_fok", table_name="orders")
    op.drop_index("ix_orders_pending_stops", table_name="orders")
    op.drop_index("ix_orders_resting_asks", table_name="orders")
    op.drop_index("ix_orders_resting_bids", table_name="orders")
    op.create_index(
        "ix_orders_working_by_symbol",
        "orders",
        ["symbol", "created_at", "id"],
        postgresql_where=sa.text(WORKING),
    )
    op.drop_column("symbol_books", "ask_available")
    op.drop_column("symbol_books", "bid_available")
