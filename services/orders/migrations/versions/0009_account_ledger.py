"""The account ledger: cash and held value per account, deposits and withdrawals, and what each
working buy order holds.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Orders placed before the ledger hold nothing (NULL): they were never checked against it.
    op.add_column("orders", sa.Column("hold_price", sa.Numeric()))
    op.create_table(
        "account_ledgers",
        sa.Column("account_id", sa.String(128), primary_key=True),
        sa.Column("cash", sa.Numeric(), nullable=False),
        sa.Column("held_for_orders", sa.Numeric(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "cash_movements",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("account_id", sa.String(128), nullable=False),
        sa.Column("activity_type", sa.String(8), nullable=False),
        sa.Column("amount", sa.Numeric(), nullable=False),
        sa.Column("description", sa.String(200)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index(
        "ix_cash_movements_account_created",
        "cash_movements",
        ["account_id", sa.text("created_at DESC"), sa.text("id DESC")],
    )


def downgrade() -> None:
    op.drop_index("ix_cash_movements_account_created", table_name="cash_movements")
    op.drop_table("cash_movements")
    op.drop_table("account_ledgers")
    op.drop_column("orders", "hold_price")
