"""The migrations create exactly the tables the code describes."""

from __future__ import annotations

from support.schema_drift import schema_differences
from tradewind.market_data.adapters.store import metadata


async def test_migrations_match_the_tables(market_data_database_url: str) -> None:
    assert await schema_differences(market_data_database_url, metadata) == []
