"""The stream hub reading what a client missed: a resume gets the kept updates after its number
and then live ones, each once; too far behind, a snapshot; the orders service unreachable, an
error and a close, never a gap."""

from __future__ import annotations

import asyncio
import json
from typing import Any
from uuid import uuid4

from tradewind.common.broker import Delivery
from tradewind.common.contracts.trade_updates import RetainedTradeUpdate, TradeUpdatesPage
from tradewind.common.envelope import CloudEvent
from tradewind.gateway.domain.stream_session import StreamSession
from tradewind.gateway.handlers.stream_hub import StreamHub

DELIVERY = Delivery(queue="q", message_id="m", attempt=1, redelivered=False, routing_key="k")
ACCOUNT = "acct"


def update(sequence: int, event_type: str = "order.accepted") -> CloudEvent:
    return CloudEvent.model_validate(
        {
            "id": f"event-{sequence}",
            "source": "/tradewind/orders",
            "type": event_type,
            "time": "2026-01-05T15:00:00Z",
            "data": {"order": {"id": str(uuid4())}, "account_sequence": sequence},
            "accountid": ACCOUNT,
        }
    )


class KeptUpdates:
    """The orders service's kept updates of one account: 1..last, the first ``pruned`` gone."""

    def __init__(self, last: int, pruned: int = 0) -> None:
        self.last = last
        self.pruned = pruned
        self.reads: list[int] = []
        self.fail = False

    async def trade_updates(self, account_id: str, after: int, limit: int) -> TradeUpdatesPage:
        assert account_id == ACCOUNT
        self.reads.append(after)
        if self.fail:
            raise ConnectionError("orders unreachable")
        resumable = self.pruned <= after <= self.last
        numbers = range(after + 1, min(self.last, after + limit) + 1) if resumable else range(0)
        return TradeUpdatesPage(
            account_id=account_id,
            after=after,
            last_sequence=self.last,
            resumable=resumable,
            updates=[RetainedTradeUpdate(account_sequence=n, event=update(n)) for n in numbers],
            has_more=resumable and after + limit < self.last,
            open_orders=None if resumable else [],
        )


async def frames(session: StreamSession) -> list[dict[str, Any] | None]:
    queued: list[dict[str, Any] | None] = []
    while session.backlog:
        frame = await session.next_frame()
        queued.append(None if frame is None else json.loads(frame))
    return queued


async def resumed(hub: StreamHub, after: int, max_backlog: int = 100) -> StreamSession:
    session = StreamSession(ACCOUNT, max_backlog)
    hub.add(session)
    session.subscribe([], trade_updates=True, resume_after=after)
    hub.catch_up(session)
    return session


async def settled(hub: StreamHub, session: StreamSession) -> None:
    task = hub.catch_up_of(session)
    assert task is not None
    await task


async def test_a_resume_gets_the_missed_updates_then_live_ones_each_once() -> None:
    kept = KeptUpdates(last=5)
    hub = StreamHub(trade_update_reads=kept)
    session = await resumed(hub, after=2)
    await hub.on_event(update(5), DELIVERY)  # arrives live while the read runs: the seam
    await hub.on_event(update(6), DELIVERY)
    await settled(hub, session)
    await hub.on_event(update(7), DELIVERY)
    sent = await frames(session)
    assert [f["account_sequence"] for f in sent if f is not None] == [3, 4, 5, 6, 7]
    assert [f["seq"] for f in sent if f is not None] == [1, 2, 3, 4, 5]
    assert kept.reads == [2]


async def test_a_long_backlog_is_read_in_pages_that_fit_the_clients_queue() -> None:
    kept = KeptUpdates(last=60)
    hub = StreamHub(trade_update_reads=kept)
    session = await resumed(hub, after=0, max_backlog=20)
    received: list[int] = []
    while len(received) < 60:
        frame = await asyncio.wait_for(session.next_frame(), 5)
        assert frame is not None
        received.append(json.loads(frame)["account_sequence"])
    assert received == list(range(1, 61))
    assert not session.overflowed
    assert len(kept.reads) == 6  # pages of max_backlog / 2


async def test_too_far_behind_gets_a_snapshot_and_the_updates_after_it() -> None:
    hub = StreamHub(trade_update_reads=KeptUpdates(last=50, pruned=40))
    session = await resumed(hub, after=3)
    await hub.on_event(update(51), DELIVERY)
    await settled(hub, session)
    sent = [f for f in await frames(session) if f is not None]
    assert [(f["type"], f["account_sequence"]) for f in sent] == [
        ("snapshot", 50),
        ("trade_update", 51),
    ]
    assert sent[0]["orders"] == []


async def test_a_gap_in_live_updates_is_filled_from_the_kept_ones() -> None:
    kept = KeptUpdates(last=3)
    hub = StreamHub(trade_update_reads=kept)
    session = StreamSession(ACCOUNT, 100)
    hub.add(session)
    session.subscribe([], trade_updates=True)
    await hub.on_event(update(1), DELIVERY)
    await hub.on_event(update(3), DELIVERY)  # 2 went to another relay's batch, still on its way
    await settled(hub, session)
    await hub.on_event(update(2), DELIVERY)  # late: delivered already from the kept ones
    sent = [f["account_sequence"] for f in await frames(session) if f is not None]
    assert sent == [1, 2, 3]
    assert kept.reads == [1]


async def test_missed_updates_that_cannot_be_read_close_the_stream_with_an_error() -> None:
    kept = KeptUpdates(last=5)
    kept.fail = True
    hub = StreamHub(trade_update_reads=kept)
    session = await resumed(hub, after=2)
    await hub.on_event(update(5), DELIVERY)
    await settled(hub, session)
    sent = await frames(session)
    assert sent[-1] is None  # the sender closes the connection here
    error = sent[-2]
    assert error is not None
    assert error["code"] == "trade_updates_unavailable"
    assert '"resume_after": 2' in error["message"]
    assert all(f is None or f["type"] != "trade_update" for f in sent)


async def test_a_client_that_leaves_stops_its_read() -> None:
    started = asyncio.Event()

    class Slow(KeptUpdates):
        async def trade_updates(self, account_id: str, after: int, limit: int) -> TradeUpdatesPage:
            started.set()
            await asyncio.sleep(60)
            raise AssertionError("not reached")

    hub = StreamHub(trade_update_reads=Slow(last=5))
    session = await resumed(hub, after=0)
    await started.wait()
    task = hub.catch_up_of(session)
    assert task is not None
    hub.remove(session)
    await asyncio.wait({task}, timeout=5)
    assert task.cancelled()
