"""Publishing a transaction's events the moment it commits, from the writer's memory.

The relay (``outbox.OutboxRelay``) learns of committed rows by a NOTIFY, claims them with a
query, publishes them, and marks them: a round of four statements and a wake-up, serial, so a row
committed while a pass waits for its confirms also waits for that pass. The writer that staged the
rows already holds them. With a hand-off it writes them with ``relay_after`` a lease ahead and no
NOTIFY, and after commit gives them to ``OutboxHandoff``, which publishes them at once (confirms
pipelined, on one channel, in hand-off order, not waiting for the confirms of earlier hand-offs)
and marks the confirmed ones published, many hand-offs to a statement.

Nothing is lost that the relay would not lose: a row is in the outbox, committed, before it is
handed off. Until its lease has passed relays skip it, so they do not race the hand-off. If the
broker refuses a row or is away, the hand-off gives the row back to the relays at once (lifts its
lease and wakes them), and they retry it as they retry their own. If this process dies first, the
row stays unpublished and a relay, in any process, takes it once the lease has passed. A row
whose confirm came but whose mark failed is published again after the lease: at least once, as
everywhere.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from contextlib import AsyncExitStack

import asyncpg

from tradewind.common.broker import Broker
from tradewind.common.metrics import OUTBOX_PUBLISH_FAILURES, OUTBOX_PUBLISHED
from tradewind.common.outbox import NOTIFY_CHANNEL, OutboxMessage
from tradewind.common.tasks import start_background

log = logging.getLogger(__name__)

# How long a round that could not reach the database waits before it is tried again.
_SETTLE_RETRY_S = 1.0
_MARK_PUBLISHED = """
    UPDATE outbox SET published_at = now()
    WHERE message_id = ANY($1::text[]) AND published_at IS NULL
"""
# The data-modifying CTE runs whether or not the SELECT reads it; the NOTIFY wakes the relays.
_GIVE_BACK = """
    WITH given_back AS (
        UPDATE outbox SET relay_after = NULL
        WHERE message_id = ANY($1::text[]) AND published_at IS NULL
    )
    SELECT pg_notify($2, '')
"""


class OutboxHandoff:
    """Publishes committed outbox rows handed over by the transaction that wrote them.

    ``lease_s``: how long the writer holds its rows away from the relays (written into each
    row's ``relay_after`` by the writer, as ``now() + lease_s`` on the database's clock).
    """

    def __init__(self, *, pool: asyncpg.Pool, broker: Broker, lease_s: float) -> None:
        if lease_s <= 0:
            raise ValueError("a hand-off needs a lease: the relays would race it")
        self.pool = pool
        self.broker = broker
        self.lease_s = lease_s
        self._publishing: set[asyncio.Task[None]] = set()
        self._confirmed: list[str] = []
        self._refused: list[str] = []
        self._settle = asyncio.Event()
        self._finishing = False

    def hand_off(self, messages: Sequence[OutboxMessage]) -> None:
        """Publish ``messages``, whose rows have just been committed; returns at once."""
        if not messages:
            return
        # Created in hand-off order, the tasks take the publish channel's lock in that order:
        # events go out in the order their transactions committed.
        task = asyncio.create_task(self._publish(list(messages)))
        self._publishing.add(task)
        task.add_done_callback(self._publishing.discard)

    async def _publish(self, messages: list[OutboxMessage]) -> None:
        try:
            outcomes = await self.broker.publish_many([m.outgoing() for m in messages])
        except Exception as exc:  # the rows stay for the relay; nothing else to undo
            outcomes = [exc for _ in messages]
        confirmed = [
            m.message_id for m, outcome in zip(messages, outcomes, strict=True) if outcome is None
        ]
        failed = [
            (m.message_id, outcome)
            for m, outcome in zip(messages, outcomes, strict=True)
            if outcome is not None
        ]
        if confirmed:
            OUTBOX_PUBLISHED.inc(len(confirmed))
            self._confirmed.extend(confirmed)
        if failed:
            OUTBOX_PUBLISH_FAILURES.inc(len(failed))
            self._refused.extend(message_id for message_id, _ in failed)
            log.warning(
                "handed-off events not published; given back to the relay",
                extra={"failed": len(failed), "error": repr(failed[0][1])},
            )
        self._settle.set()

    async def run(self) -> None:
        """Settle what the hand-offs did, many to a statement, until cancelled or, after
        ``finish``, until every hand-off made before it is settled: confirmed rows are marked
        published; refused ones are given back to the relay at once (their lease lifted, the
        relay woken), rather than when the lease ends."""
        retry_in: float | None = None
        while True:
            if retry_in is None:
                await self._settle.wait()
            else:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(retry_in):
                        await self._settle.wait()
            self._settle.clear()
            retry_in = None
            marking, self._confirmed = self._confirmed, []
            refused, self._refused = self._refused, []
            try:
                if marking:
                    await self.pool.execute(_MARK_PUBLISHED, marking)
                    marking = []
                if refused:
                    await self.pool.execute(_GIVE_BACK, refused, NOTIFY_CHANNEL)
                    refused = []
            except Exception as exc:
                # Kept for the next round. If the lease passes first, a relay takes the rows
                # anyway (a published one a second time: at least once).
                self._confirmed[:0] = marking
                self._refused[:0] = refused
                retry_in = _SETTLE_RETRY_S
                log.warning(
                    "hand-offs not settled; retrying",
                    extra={"published": len(marking), "refused": len(refused), "error": repr(exc)},
                )
            if self._finishing and not (self._publishing or self._confirmed or self._refused):
                return

    def start(self, resources: AsyncExitStack, name: str, *, grace_s: float) -> asyncio.Task[None]:
        """Run in the background until ``resources`` closes; then publish and mark what was
        handed off (``finish``), for at most ``grace_s``. Start it after the relay and before
        the writers, so that on exit the writers stop first, then this, then the relay."""
        return start_background(resources, self.run(), name, finish=self.finish, grace_s=grace_s)

    def finish(self) -> None:
        """Shutting down: once the writers have stopped, publish and mark what they handed off,
        then let ``run`` return."""
        self._finishing = True
        self._settle.set()
