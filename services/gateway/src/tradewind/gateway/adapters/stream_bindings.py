"""The gateway's stream queue is bound only to what its WebSocket clients subscribe to.

Each gateway process has its own exclusive stream queue. Bound to every quote and every order
event whether or not anybody listens, it made RabbitMQ route, and this process read and parse,
every event of every account only to drop it. Now the queue holds the two bindings on demand:
``market.quote.*`` while some client of this process wants quotes, ``order.*`` while some client
wants trade updates. The hub filters per client as before; the bindings only decide whether the
events reach this process at all. The queue is this process's alone, so no other process can race
a change of its bindings.
"""

from __future__ import annotations

from collections.abc import Iterable

from tradewind.common.broker import QueueBinder, QueueSpec
from tradewind.common.contracts.market import QUOTE_ROUTING_PREFIX
from tradewind.gateway.domain.stream_session import StreamSession

QUOTES = f"{QUOTE_ROUTING_PREFIX}*"
TRADE_UPDATES = "order.*"


def needed_routing_keys(sessions: Iterable[StreamSession]) -> frozenset[str]:
    """The routing keys the stream queue must be bound with for these clients."""
    keys: set[str] = set()
    for session in sessions:
        if session.quote_symbols:
            keys.add(QUOTES)
        if session.trade_updates:
            keys.add(TRADE_UPDATES)
    return frozenset(keys)


class StreamBindings:
    """The stream queue's bindings on the events exchange, changed through the broker."""

    def __init__(self, broker: QueueBinder, queue: QueueSpec, exchange: str) -> None:
        self.broker = broker
        self.queue = queue
        self.exchange = exchange
        self.bound: frozenset[str] = frozenset()

    async def apply(self, needed: frozenset[str]) -> None:
        """Bind what is needed and not bound, unbind what is bound and no longer needed."""
        for key in sorted(needed - self.bound):
            await self.broker.bind(self.queue, self.exchange, key)
            self.bound |= {key}
        for key in sorted(self.bound - needed):
            await self.broker.unbind(self.queue, self.exchange, key)
            self.bound -= {key}
