"""Work of concurrent requests sent to Redis together: one batch per round trip.

A group commit: whatever requests submit while the previous batch is in flight goes into the
next one, so under load a round trip carries many requests' work and at low load none waits for
company. Each caller still gets its own outcome (or its own error), and returns only once it has
it. ``script_batches.ScriptBatches`` sends the admission scripts and the pending order views
through one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

Item = TypeVar("Item")
Outcome = TypeVar("Outcome")

MAX_BATCH = 500


class PipelinedBatches(Generic[Item, Outcome]):
    """``submit`` queues an item; ``run`` (a background task) sends the queue in batches.

    ``send`` sends one batch in one pipeline and returns each item's outcome, in order; an
    outcome that is an exception is raised to that item's caller alone. ``stopped`` is the
    error callers get once ``run`` has ended.
    """

    def __init__(
        self,
        send: Callable[[list[Item]], Awaitable[Sequence[Outcome | Exception]]],
        *,
        stopped: type[Exception],
        what: str,
    ) -> None:
        self._send = send
        self._stopped_error = stopped
        self._what = what
        self._queued: list[tuple[Item, asyncio.Future[Outcome]]] = []
        self._wake = asyncio.Event()
        self._stopped = False

    async def submit(self, item: Item) -> Outcome:
        if self._stopped:
            raise self._stopped_error(f"{self._what} are no longer sent")
        done: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        self._queued.append((item, done))
        self._wake.set()
        return await done

    async def run(self) -> None:
        """Send what ``submit`` queues until cancelled."""
        try:
            while True:
                await self._wake.wait()
                self._wake.clear()
                while self._queued:
                    batch = self._queued[:MAX_BATCH]
                    del self._queued[:MAX_BATCH]
                    await self._send_batch(batch)
        finally:
            self._stopped = True
            self._fail(self._queued, self._stopped_error(f"the sender of {self._what} stopped"))
            self._queued.clear()

    async def _send_batch(self, batch: list[tuple[Item, asyncio.Future[Outcome]]]) -> None:
        try:
            outcomes = await self._send([item for item, _ in batch])
        except Exception as exc:
            self._fail(batch, exc)
            return
        except BaseException:
            self._fail(batch, self._stopped_error(f"the sender of {self._what} stopped"))
            raise
        for (_, done), outcome in zip(batch, outcomes, strict=True):
            if done.done():
                continue  # its caller gave up waiting
            if isinstance(outcome, Exception):
                done.set_exception(outcome)
            else:
                done.set_result(outcome)

    @staticmethod
    def _fail(batch: list[tuple[Item, asyncio.Future[Outcome]]], error: Exception) -> None:
        for _, done in batch:
            if not done.done():
                done.set_exception(error)
