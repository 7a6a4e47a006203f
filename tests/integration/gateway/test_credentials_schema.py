"""The gateway's migrations create exactly the credentials tables the code describes."""

from __future__ import annotations

from support.schema_drift import schema_differences
from tradewind.gateway.adapters.tables import metadata


async def test_migrations_match_the_tables(gateway_database: str) -> None:
    assert await schema_differences(gateway_database, metadata) == []
