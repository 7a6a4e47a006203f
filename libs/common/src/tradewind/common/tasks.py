"""Background work beside a service's HTTP server: started, watched and stopped the same way."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine
from contextlib import AsyncExitStack
from typing import Any

log = logging.getLogger(__name__)

CANCEL_RETRY_S = 0.5


def start_supervised(work: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
    """Run ``work`` as a task whose unexpected end (an exception) is logged, never lost; the
    caller stops it (``cancel_and_wait``). Prefer ``start_background`` unless the shutdown order
    needs the task in hand."""
    task = asyncio.create_task(work, name=name)
    task.add_done_callback(_report_exit)
    return task


def start_background(
    resources: AsyncExitStack,
    work: Coroutine[Any, Any, None],
    name: str,
    *,
    finish: Callable[[], None] | None = None,
    grace_s: float = 0.0,
) -> asyncio.Task[None]:
    """Run ``work`` as a task that ``resources`` stops on exit; an unexpected end is logged.

    Without ``finish`` the task is cancelled. With it, the task is asked to finish (``finish()``
    must make ``work`` return once what it holds is done) and given ``grace_s`` to do so
    before it is cancelled.
    """
    task = start_supervised(work, name)
    if finish is None:
        resources.push_async_callback(cancel_and_wait, task)
    else:
        resources.push_async_callback(finish_within, task, finish, grace_s)
    return task


async def finish_within(
    task: asyncio.Task[Any], finish: Callable[[], None], grace_s: float
) -> None:
    """Ask ``task`` to finish, wait up to ``grace_s`` for it, then cancel what is left."""
    finish()
    await asyncio.wait({task}, timeout=grace_s)
    if not task.done():
        log.warning(
            "background task did not finish within its grace; cancelling it",
            extra={"task": task.get_name(), "grace_s": grace_s},
        )
    await cancel_and_wait(task)


async def cancel_and_wait(task: asyncio.Task[Any]) -> None:
    """Cancel ``task`` and wait until it has really stopped.

    On Python 3.11 ``asyncio.wait_for`` can lose a cancellation that races with the result it
    awaits (libraries use it inside), and a loop that lost it just runs on: cancel again until the
    task is done.
    """
    while not task.done():
        task.cancel()
        await asyncio.wait({task}, timeout=CANCEL_RETRY_S)


async def run_every(interval_s: float, name: str, work: Callable[[], Awaitable[object]]) -> None:
    """Run ``work`` every ``interval_s`` seconds until cancelled; a failed run is logged."""
    while True:
        try:
            await work()
        except Exception:
            log.exception("background task failed; trying again", extra={"task": name})
        await asyncio.sleep(interval_s)


def _report_exit(task: asyncio.Task[Any]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error(
            "background task stopped", extra={"task": task.get_name()}, exc_info=task.exception()
        )


class TimeSlice:
    """Keeps a run of CPU work from holding the event loop: call ``await slice.share()`` between
    units of work, and it yields to the loop once ``seconds`` of work have passed since the last
    time. Readiness probes and reads of the same process then wait a slice at most, not a batch.
    """

    def __init__(self, seconds: float = 0.002) -> None:
        self.seconds = seconds
        self._since = time.perf_counter()

    async def share(self) -> None:
        if time.perf_counter() - self._since >= self.seconds:
            await asyncio.sleep(0)
            self._since = time.perf_counter()
