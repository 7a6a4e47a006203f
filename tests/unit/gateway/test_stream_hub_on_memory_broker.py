"""The stream hub, the gateway's event handler, on the in-memory broker: its queue is bound only
while clients subscribe, each client gets only its own account's trade updates and the quotes it
asked for, and once nobody listens the events no longer reach the process."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any
from uuid import uuid4

from tradewind.common.broker import QueueSpec, Topology
from tradewind.common.broker.memory import InMemoryBroker
from tradewind.common.contracts import Quote, quote_routing_key
from tradewind.common.contracts.types import utc_now
from tradewind.common.envelope import CloudEvent, new_event
from tradewind.gateway.adapters.stream_bindings import StreamBindings
from tradewind.gateway.domain.stream_session import StreamSession
from tradewind.gateway.handlers.stream_hub import StreamHub

TOPOLOGY = Topology("unit")


def quote(symbol: str) -> CloudEvent:
    data = Quote(
        symbol=symbol,
        bid_price=Decimal("99"),
        bid_size=Decimal(1),
        ask_price=Decimal("100"),
        ask_size=Decimal(1),
        timestamp=utc_now(),
        sequence=1,
    )
    return new_event(source="/test", data=data, event_type=Quote.TYPE, subject=symbol)


async def frames(session: StreamSession) -> list[dict[str, Any]]:
    """Every frame queued for the client, in order."""
    queued: list[dict[str, Any]] = []
    while session.backlog:
        frame = await session.next_frame()
        assert frame is not None
        queued.append(json.loads(frame))
    return queued


def accepted(account_id: str) -> CloudEvent:
    """An order.accepted of ``account_id``; the hub passes its data through unread."""
    return CloudEvent(
        id=str(uuid4()),
        source="/tradewind/orders",
        type="order.accepted",
        time=utc_now(),
        data={"order": {"id": str(uuid4())}},
        accountid=account_id,
    )


async def test_each_client_gets_what_it_subscribed_to_and_nothing_else() -> None:
    broker = InMemoryBroker(TOPOLOGY)
    queue = QueueSpec("unit.gateway.stream.test", exclusive=True)
    hub = StreamHub(StreamBindings(broker, queue, TOPOLOGY.events))
    await broker.consume(queue, hub.on_event)

    trader, watcher = StreamSession("acct-a", 100), StreamSession("acct-b", 100)
    trader.subscribe([], trade_updates=True)
    watcher.subscribe(["AAPL"], trade_updates=None)
    for session in (trader, watcher):
        hub.add(session)
    await hub.follow_subscriptions()

    mine, theirs = accepted("acct-a"), accepted("acct-b")
    for event in (mine, theirs):
        await broker.publish_event(event)
    for symbol in ("AAPL", "MSFT"):
        await broker.publish_event(quote(symbol), routing_key=quote_routing_key(symbol))
    await broker.drain()

    assert [(f["type"], f.get("event"), f.get("event_id")) for f in await frames(trader)] == [
        ("trade_update", "new", mine.id)
    ]
    assert [(f["type"], f["data"]["symbol"]) for f in await frames(watcher)] == [("quote", "AAPL")]

    for session in (trader, watcher):
        hub.remove(session)
    await hub.follow_subscriptions()
    later = accepted("acct-a")
    await broker.publish_event(later)
    await broker.drain()
    assert broker.unrouted == [later]  # no binding is left: the events stop reaching the process
