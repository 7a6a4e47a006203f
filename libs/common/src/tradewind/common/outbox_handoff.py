"""Publishing a transaction's events the moment it commits, from the writer's memory.

The relay (``outbox.OutboxRelay``) learns of committed rows by a NOTIFY, claims them with a
query, publishes them, and marks them: a round of four statements and a wake-up, serial, so a row
committed while a pass waits for its confirms also waits for that pass. The writer that staged the
rows already holds them. With a hand-off it writes them with ``relay_after`` a lease ahead and no
NOTIFY, and after commit gives them to ``OutboxHandoff``, which publishes them at once (confirms
pipelined, on one channel, in hand-off order, not waiting for the confirms of earlier hand-offs)
and marks the confirmed ones published, many hand-offs to a statement.

Nothing is lost that the relay would not lose: a row is in the outbox, committed, before it is
handed off. If this process cannot publish it (the broker refuses it or is away) or dies first,
the row stays unpublished and a relay, in any process, takes it once its lease has passed; until
then relays skip it, so they do not race the hand-off. A row whose confirm came but whose mark
failed is published again after the lease: at least once, as everywhere.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from contextlib import AsyncExitStack

import asyncpg

from tradewind.common.broker import Broker
from tradewind.common.metrics import OUTBOX_PUBLISH_FAILURES, OUTBOX_PUBLISHED
from tradewind.common.outbox import OutboxMessage
from tradewind.common.tasks import start_background

log = logging.getLogger(__name__)

# How long a mark that failed (the database away) waits before it is tried again.
_MARK_RETRY_S = 1.0
_MARK_PUBLISHED = """
    UPDATE outbox SET published_at = now()
    WHERE message_id = ANY($1::text[]) AND published_at IS NULL
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
        self._to_mark = asyncio.Event()
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
        failed = [outcome for outcome in outcomes if outcome is not None]
        if confirmed:
            OUTBOX_PUBLISHED.inc(len(confirmed))
            self._confirmed.extend(confirmed)
        if failed:
            OUTBOX_PUBLISH_FAILURES.inc(len(failed))
            log.warning(
                "handed-off events not published; the relay takes them after the lease",
                extra={"failed": len(failed), "lease_s": self.lease_s, "error": repr(failed[0])},
            )
        self._to_mark.set()

    async def run(self) -> None:
        """Mark confirmed rows published, many hand-offs to a statement, until cancelled or, after
        ``finish``, until every hand-off made before it is published and marked."""
        retry_in: float | None = None
        while True:
            if retry_in is None:
                await self._to_mark.wait()
            else:
                try:
                    async with asyncio.timeout(retry_in):
                        await self._to_mark.wait()
                except TimeoutError:
                    pass
            self._to_mark.clear()
            retry_in = None
            marking, self._confirmed = self._confirmed, []
            if marking:
                try:
                    await self.pool.execute(_MARK_PUBLISHED, marking)
                except Exception as exc:
                    # Kept for the next round; published again by a relay if the lease passes.
                    self._confirmed[:0] = marking
                    retry_in = _MARK_RETRY_S
                    log.warning(
                        "published events not marked; retrying",
                        extra={"rows": len(marking), "error": repr(exc)},
                    )
            if self._finishing and not self._publishing and not self._confirmed:
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
        self._to_mark.set()
