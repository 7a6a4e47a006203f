"""Orders the gateway has published but the orders service may not have stored yet.

Between the 202 and the orders service's decision, a read would otherwise find nothing; the
gateway keeps the pending view (per account) in Redis for that window.

Views are written in batches (``ScriptBatches``): every view remembered while the previous batch
was in flight goes into the next one, one round trip for all of them (a group commit). The
running gateway shares that sender with its admission scripts, so one request's view and
another's admission travel together. Each caller still returns only once its own view is
stored, so a read right after the 202 finds it.
"""

from __future__ import annotations

from uuid import UUID

from redis.asyncio import Redis

from tradewind.gateway.adapters.script_batches import BatcherStopped, ScriptBatches
from tradewind.gateway.domain.schemas import Order

# What a caller gets once the sender of its views has stopped.
WriterStopped = BatcherStopped


class PendingOrders:
    def __init__(
        self, redis: Redis, namespace: str, ttl_s: int, batches: ScriptBatches | None = None
    ) -> None:
        """``batches``: the sender to share, run by its owner; without it, views get their own,
        run by ``write_batches``."""
        self.redis = redis
        self.namespace = namespace
        self.ttl_s = ttl_s
        self._batches = batches or ScriptBatches(redis)

    def _key(self, account_id: str, order_id: UUID | str) -> str:
        return f"{self.namespace}:pending-order:{account_id}:{order_id}"

    async def remember(self, account_id: str, order_id: UUID | str, view: str | bytes) -> None:
        """Store ``view`` (the order's JSON); return once it is stored, raise if it could not be.
        ``order_id`` as a ``UUID`` or as its canonical text."""
        await self._batches.run("SET", self._key(account_id, order_id), view, "EX", self.ttl_s)

    async def get(self, account_id: str, order_id: UUID) -> Order | None:
        raw = await self.redis.get(self._key(account_id, order_id))
        return None if raw is None else Order.model_validate_json(raw)

    async def write_batches(self) -> None:
        """Send the views ``remember`` queues until cancelled (a background task), when they
        have a sender of their own."""
        await self._batches.send_batches()
