"""What the API and the dispatcher read outside a unit of work: endpoints, attempts, messages and
the next retry time, one statement each on plain asyncpg.

Every query that a caller scopes to an account takes ``account_id``; ``None`` means an operator,
who may see any account's rows. A row of another account is reported exactly like a missing one.
"""

from __future__ import annotations

import asyncpg

from tradewind.common.contracts.webhooks import AttemptOut
from tradewind.common.statement_args import StatementArgs
from tradewind.webhooks.adapters.records import (
    ATTEMPT_COLUMNS,
    ENDPOINT_COLUMNS,
    Endpoint,
    EndpointNotFound,
    attempt_from_row,
    endpoint_from_row,
)

_ATTEMPT_COLUMNS_OF_A = ", ".join("a." + column.strip() for column in ATTEMPT_COLUMNS.split(","))
_LIST_ENDPOINTS = f"SELECT {ENDPOINT_COLUMNS} FROM endpoints WHERE account_id = $1 ORDER BY id"
# ``$2`` NULL: an operator, any account.
_GET_ENDPOINT = f"""
    SELECT {ENDPOINT_COLUMNS} FROM endpoints
    WHERE id = $1 AND ($2::text IS NULL OR account_id = $2)
"""
_ATTEMPTS_OF_ACCOUNT = (
    "EXISTS (SELECT 1 FROM endpoints e WHERE e.id = a.endpoint_id AND e.account_id = {})"
)
_MESSAGE_EXISTS = """
    SELECT EXISTS (SELECT 1 FROM messages WHERE id = $1 AND ($2::text IS NULL OR account_id = $2))
"""
_NEXT_DUE = """
    SELECT EXTRACT(EPOCH FROM min(next_attempt_at) - now())::float8 FROM deliveries
    WHERE status = 'pending' AND next_attempt_at > now()
"""


class WebhookReads:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def list_endpoints(self, account_id: str) -> list[Endpoint]:
        rows = await self.pool.fetch(_LIST_ENDPOINTS, account_id)
        return [endpoint_from_row(row) for row in rows]

    async def get_endpoint(self, endpoint_id: str, account_id: str | None) -> Endpoint:
        row = await self.pool.fetchrow(_GET_ENDPOINT, endpoint_id, account_id)
        if row is None:
            raise EndpointNotFound(endpoint_id)
        return endpoint_from_row(row)

    async def list_attempts(
        self,
        *,
        account_id: str | None,
        endpoint_id: str | None = None,
        message_id: str | None = None,
        succeeded: bool | None = None,
        before: int | None = None,
        limit: int = 50,
    ) -> list[AttemptOut]:
        """Newest first. Filter by endpoint and/or message; page with ``before`` (an attempt id)."""
        # The statement names only the filters given, so each shape gets a plan using its index
        # (a generic plan for "$1 IS NULL OR endpoint_id = $1" may scan every attempt).
        conditions: list[str] = []
        arg = StatementArgs()

        def where(condition: str, value: object) -> None:
            conditions.append(condition.format(arg(value)))

        if endpoint_id is not None:
            where("a.endpoint_id = {}", endpoint_id)
        if message_id is not None:
            where("a.message_id = {}", message_id)
        if succeeded is not None:
            where("a.succeeded = {}", succeeded)
        if before is not None:
            where("a.id < {}", before)
        if account_id is not None:
            where(_ATTEMPTS_OF_ACCOUNT, account_id)
        query = (
            f"SELECT {_ATTEMPT_COLUMNS_OF_A} FROM attempts a"
            f" WHERE {' AND '.join(conditions) or 'true'} ORDER BY a.id DESC LIMIT {arg(limit)}"
        )
        rows = await self.pool.fetch(query, *arg.values)
        return [attempt_from_row(row) for row in rows]

    async def message_exists(self, message_id: str, account_id: str | None) -> bool:
        exists: bool = await self.pool.fetchval(_MESSAGE_EXISTS, message_id, account_id)
        return exists

    async def seconds_until_next_due(self) -> float | None:
        """Seconds until the earliest scheduled retry, if any is scheduled in the future."""
        seconds: float | None = await self.pool.fetchval(_NEXT_DUE)
        return seconds
