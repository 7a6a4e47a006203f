"""Records successful attempts in batches: one statement for every success that finished while
the previous statement ran. Under load that turns hundreds of transactions into a few."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import asyncpg

from tradewind.common.tasks import start_supervised
from tradewind.webhooks.adapters.records import Success
from tradewind.webhooks.adapters.unit_of_work import WebhooksUnitOfWork

log = logging.getLogger(__name__)

MAX_BATCH = 500


class SuccessBatcher:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool
        self._pending: list[tuple[Success, asyncio.Future[bool]]] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = start_supervised(self._run(), "webhook success batcher")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def record(self, success: Success) -> bool:
        """Wait until the success is written; False if its lease was lost meanwhile."""
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._pending.append((success, future))
        self._wake.set()
        return await future

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._pending:
                batch = self._pending[:MAX_BATCH]
                del self._pending[:MAX_BATCH]
                await self._write(batch)

    async def _write(self, batch: list[tuple[Success, asyncio.Future[bool]]]) -> None:
        try:
            async with WebhooksUnitOfWork.begin(self.pool) as unit:
                recorded = await unit.finish_successes([s for s, _ in batch])
        except Exception as exc:
            # Each waiter retries on its own (and logs if it finally gives up).
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        for success, future in batch:
            if not future.done():
                future.set_result(success.job.delivery_id in recorded)
