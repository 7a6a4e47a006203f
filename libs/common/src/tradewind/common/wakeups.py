"""Waking a polling loop early: an event with a deadline, and PostgreSQL LISTEN/NOTIFY as its
trigger. Used by the outbox relay, the webhooks dispatcher and the bar writer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import asyncpg

log = logging.getLogger(__name__)


async def wait_at_most(event: asyncio.Event, timeout_s: float) -> None:
    """Until ``event`` is set or ``timeout_s`` passes, whichever first.

    asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation that races with
    the wake-up, and a shutdown would then wait forever.
    """
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(timeout_s):
            await event.wait()


class NotifyWakeup:
    """An event set by a NOTIFY on ``channel`` (or by ``set()`` in-process).

    The loop clears it before a pass and waits on it after; the wait's deadline is the safety net
    for a lost notification, a lost LISTEN connection (it is reopened before each wait) or a
    database without ``dsn`` (polling only).
    """

    def __init__(self, dsn: str | None, channel: str) -> None:
        self.dsn = dsn
        self.channel = channel
        self._event = asyncio.Event()
        self._listener: asyncpg.Connection | None = None

    def set(self) -> None:
        self._event.set()

    def clear(self) -> None:
        self._event.clear()

    async def wait(self, timeout_s: float) -> None:
        if self._listener is None or self._listener.is_closed():
            await self.listen()
        await wait_at_most(self._event, timeout_s)

    async def listen(self) -> None:
        if self.dsn is None:
            return
        try:
            self._listener = await asyncpg.connect(self.dsn)
            await self._listener.add_listener(self.channel, self._on_notify)
        except (OSError, asyncpg.PostgresError) as exc:
            self._listener = None
            log.warning(
                "LISTEN unavailable; polling", extra={"channel": self.channel, "error": repr(exc)}
            )

    async def close(self) -> None:
        if self._listener is not None:
            await self._listener.close()
            self._listener = None

    def _on_notify(self, *_: object) -> None:
        self._event.set()
