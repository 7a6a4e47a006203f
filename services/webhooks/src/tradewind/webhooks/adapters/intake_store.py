"""The event intake's writes: raw asyncpg, two round trips per event (it is the hot path)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass

import asyncpg

from tradewind.webhooks.adapters.store import DELIVERIES_CHANNEL, NewMessage

_SUBSCRIPTIONS = "SELECT id, event_types FROM endpoints WHERE account_id = $1 AND enabled"

# The inbox record, the message (stored once) and one delivery per endpoint, in one statement;
# a redelivered event finds its inbox record and writes nothing.
_FAN_OUT = f"""
    WITH fresh AS (
        INSERT INTO inbox (consumer, message_id) VALUES ($1, $2)
        ON CONFLICT DO NOTHING
        RETURNING 1
    ), message AS (
        INSERT INTO messages (id, account_id, event_id, event_type, payload, trace_headers)
        SELECT $3, $4, $2, $5, $6, $7::jsonb FROM fresh
        ON CONFLICT ON CONSTRAINT uq_messages_account_event DO NOTHING
        RETURNING id
    ), queued AS (
        INSERT INTO deliveries (message_id, endpoint_id)
        SELECT message.id, target FROM message, unnest($8::text[]) AS target
    )
    SELECT pg_notify('{DELIVERIES_CHANNEL}', '') FROM message
"""


@dataclass(frozen=True)
class Subscription:
    id: str
    event_types: tuple[str, ...]
    enabled: bool = True


class IntakeStore:
    def __init__(self, pool: asyncpg.Pool, *, consumer: str) -> None:
        self.pool = pool
        self.consumer = consumer

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[asyncpg.Connection]:
        # No explicit transaction: the writes are one statement, hence atomic. An endpoint
        # deleted after it was read makes that statement fail (foreign key); the broker retries.
        async with self.pool.acquire() as connection:
            yield connection

    async def subscriptions(
        self, connection: asyncpg.Connection, account_id: str
    ) -> list[Subscription]:
        rows = await connection.fetch(_SUBSCRIPTIONS, account_id)
        return [Subscription(row["id"], tuple(row["event_types"])) for row in rows]

    async def fan_out(
        self, connection: asyncpg.Connection, message: NewMessage, endpoint_ids: Sequence[str]
    ) -> bool:
        """Store the message and its deliveries; False if this event was fanned out before."""
        stored = await connection.fetch(
            _FAN_OUT,
            self.consumer,
            message.event_id,
            message.id,
            message.account_id,
            message.event_type,
            message.payload,
            json.dumps(dict(message.trace_headers)),
            list(endpoint_ids),
        )
        return bool(stored)
