"""Orders the gateway has published but the orders service may not have stored yet.

Between the 202 and the orders service's decision, a read would otherwise find nothing; the
gateway keeps the pending view (per account) in Redis for that window.
"""

from __future__ import annotations

from uuid import UUID

from redis.asyncio import Redis

from tradewind.gateway.schemas import Order


class PendingOrders:
    def __init__(self, redis: Redis, namespace: str, ttl_s: int) -> None:
        self.redis = redis
        self.namespace = namespace
        self.ttl_s = ttl_s

    def _key(self, account_id: str, order_id: UUID) -> str:
        return f"{self.namespace}:pending-order:{account_id}:{order_id}"

    async def remember(self, account_id: str, order: Order) -> None:
        await self.redis.set(
            self._key(account_id, order.id), order.model_dump_json(), ex=self.ttl_s
        )

    async def get(self, account_id: str, order_id: UUID) -> Order | None:
        raw = await self.redis.get(self._key(account_id, order_id))
        return None if raw is None else Order.model_validate_json(raw)
