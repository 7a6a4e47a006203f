"""The migration creates exactly the tables the code describes."""

from __future__ import annotations

from support.schema_drift import schema_differences
from tradewind.webhooks.adapters.tables import metadata


async def test_migrations_match_the_tables(database_url: str) -> None:
    assert await schema_differences(database_url, metadata) == []
