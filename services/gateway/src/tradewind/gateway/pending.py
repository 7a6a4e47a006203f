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

import asyncio
from dataclasses import dataclass
from uuid import UUID

from redis.asyncio import Redis

from tradewind.gateway.schemas import Order

MAX_BATCH = 500


class WriterStopped(RuntimeError):
    """The batch writer is not running, so nothing can be remembered."""


@dataclass(frozen=True)
class _Write:
    key: str
    view: str
    done: asyncio.Future[None]


class PendingOrders:
    def __init__(self, redis: Redis, namespace: str, ttl_s: int) -> None:
        self.redis = redis
        self.namespace = namespace
        self.ttl_s = ttl_s
        self._queued: list[_Write] = []
        self._wake = asyncio.Event()
        self._stopped = False

    def _key(self, account_id: str, order_id: UUID) -> str:
        return f"{self.namespace}:pending-order:{account_id}:{order_id}"

    async def remember(self, account_id: str, order_id: UUID, view: str) -> None:
        """Store ``view`` (the order's JSON); return once it is stored, raise if it could not be."""
        if self._stopped:
            raise WriterStopped("pending order views are no longer written")
        write = _Write(
            self._key(account_id, order_id), view, asyncio.get_running_loop().create_future()
        )
        self._queued.append(write)
        self._wake.set()
        await write.done

    async def get(self, account_id: str, order_id: UUID) -> Order | None:
        raw = await self.redis.get(self._key(account_id, order_id))
        return None if raw is None else Order.model_validate_json(raw)

    async def write_batches(self) -> None:
        """Write what ``remember`` queues until cancelled (run it as a background task)."""
        try:
            while True:
                await self._wake.wait()
                self._wake.clear()
                while self._queued:
                    batch = self._queued[:MAX_BATCH]
                    del self._queued[:MAX_BATCH]
                    await self._write(batch)
        finally:
            self._stopped = True
            _fail(self._queued, WriterStopped("the pending order writer stopped"))
            self._queued.clear()

    async def _write(self, batch: list[_Write]) -> None:
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                for write in batch:
                    pipe.set(write.key, write.view, ex=self.ttl_s)
                outcomes = await pipe.execute(raise_on_error=False)
        except Exception as exc:
            _fail(batch, exc)
            return
        except BaseException:
            _fail(batch, WriterStopped("the pending order writer stopped"))
            raise
        for write, outcome in zip(batch, outcomes, strict=True):
            if write.done.done():
                continue  # its caller gave up waiting
            if isinstance(outcome, Exception):
                write.done.set_exception(outcome)
            else:
                write.done.set_result(None)


def _fail(writes: list[_Write], error: Exception) -> None:
    for write in writes:
        if not write.done.done():
            write.done.set_exception(error)
