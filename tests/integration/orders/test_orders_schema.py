"""The migrations create exactly the tables the code describes."""

from __future__ import annotations

from support.schema_drift import schema_differences
from tradewind.orders.adapters.tables import metadata


async def test_migrations_match_the_tables(orders_database_url: str) -> None:
    assert await schema_differences(orders_database_url, metadata) == []
