"""Orders the gateway has published but the orders service may not have stored yet.

Between the 202 and the orders service's decision, a read would otherwise find nothing; the
gateway keeps the pending view (per account) in Redis for that window.

Views are written in batches: every view remembered while the previous batch was being written
goes into the next pipeline, one round trip for all of them (a group commit, as the webhooks
success batcher does). Under wrk -c64 a pipeline carries 2.3 views on average and the gateway
spends 3 to 7% less CPU per order (bench/gateway_bench.py). Each caller still returns only once
its own view is stored, so a read right after the 202 finds it.
"""

from __future__ import annotations

from uuid import UUID

from redis.asyncio import Redis

from tradewind.gateway.adapters.redis_batches import PipelinedBatches
from tradewind.gateway.domain.schemas import Order


class WriterStopped(RuntimeError):
    """The batch writer is not running, so nothing can be remembered."""


class PendingOrders:
    def __init__(self, redis: Redis, namespace: str, ttl_s: int) -> None:
        self.redis = redis
        self.namespace = namespace
        self.ttl_s = ttl_s
        self._writes = PipelinedBatches[tuple[str, str], object](
            self._write, stopped=WriterStopped, what="pending order views"
        )

    def _key(self, account_id: str, order_id: UUID) -> str:
        return f"{self.namespace}:pending-order:{account_id}:{order_id}"

    async def remember(self, account_id: str, order_id: UUID, view: str) -> None:
        """Store ``view`` (the order's JSON); return once it is stored, raise if it could not be."""
        await self._writes.submit((self._key(account_id, order_id), view))

    async def get(self, account_id: str, order_id: UUID) -> Order | None:
        raw = await self.redis.get(self._key(account_id, order_id))
        return None if raw is None else Order.model_validate_json(raw)

    async def write_batches(self) -> None:
        """Write what ``remember`` queues until cancelled (run it as a background task)."""
        await self._writes.run()

    async def _write(self, batch: list[tuple[str, str]]) -> list[object]:
        async with self.redis.pipeline(transaction=False) as pipe:
            for key, view in batch:
                pipe.set(key, view, ex=self.ttl_s)
            return list(await pipe.execute(raise_on_error=False))
