"""A stream session: gap-free sequence numbers, subscriptions, and a bounded backlog."""

from __future__ import annotations

import json
from typing import Any

from tradewind.common.broker import Delivery
from tradewind.common.envelope import CloudEvent
from tradewind.gateway.domain.stream_session import StreamSession
from tradewind.gateway.handlers.stream_hub import StreamHub

DELIVERY = Delivery(queue="q", message_id="m", attempt=1, redelivered=False, routing_key="k")


async def drain(session: StreamSession) -> list[dict[str, Any]]:
    frames = []
    while session.backlog:
        frame = await session.next_frame()
        frames.append(json.loads(frame) if frame is not None else None)
    return frames  # type: ignore[return-value]


def event(event_type: str, data: dict[str, Any], account: str | None = None) -> CloudEvent:
    return CloudEvent.model_validate(
        {
            "id": f"e-{event_type}-{account}",
            "source": "/t",
            "type": event_type,
            "time": "2026-01-05T15:00:00Z",
            "data": data,
            "accountid": account,
        }
    )


async def test_sequence_numbers_increase_by_one_across_message_kinds() -> None:
    session = StreamSession("a", max_backlog=100)
    session.push({"type": "authenticated"})
    session.subscribe(["AAPL"], trade_updates=True)
    session.push(session.subscription())
    session.push_json('{"type":"quote","data":{}}')
    frames = await drain(session)
    assert [f["seq"] for f in frames] == [1, 2, 3]
    assert frames[1] == {
        "seq": 2,
        "type": "subscription",
        "quotes": ["AAPL"],
        "trade_updates": True,
    }


async def test_unsubscribe_removes_symbols_and_trade_updates() -> None:
    session = StreamSession("a", max_backlog=10)
    session.subscribe(["AAPL", "MSFT", "*"], trade_updates=True)
    session.unsubscribe(["*", "MSFT"], trade_updates=True)
    assert session.subscription() == {
        "type": "subscription",
        "quotes": ["AAPL"],
        "trade_updates": False,
    }
    assert session.wants_quote("AAPL")
    assert not session.wants_quote("MSFT")


async def test_a_slow_client_gets_an_error_frame_then_a_close_and_nothing_more() -> None:
    session = StreamSession("a", max_backlog=5)
    session.push({"type": "authenticated"})
    assert await session.next_frame() is not None  # sent: its number stays taken
    for _ in range(50):
        session.push_json('{"type":"quote","data":{}}')
    assert session.overflowed
    frames = await drain(session)
    assert frames[-1] is None
    error = frames[-2]
    assert error["type"] == "error"
    assert error["code"] == "slow_consumer"
    # The five queued frames were dropped unsent: the error takes the first unsent number.
    assert [f["seq"] for f in frames[:-1]] == [2]
    session.push({"type": "heartbeat"})
    assert session.backlog == 0


async def test_hub_routes_quotes_by_subscription_and_trade_updates_by_account() -> None:
    hub = StreamHub()
    alice, bob, all_quotes = (
        StreamSession("alice", 100),
        StreamSession("bob", 100),
        StreamSession("carol", 100),
    )
    alice.subscribe(["AAPL"], trade_updates=True)
    bob.subscribe([], trade_updates=True)
    all_quotes.subscribe(["*"], trade_updates=None)
    for session in (alice, bob, all_quotes):
        hub.add(session)
    await hub.on_event(event("market.quote", {"symbol": "AAPL"}), DELIVERY)
    await hub.on_event(event("market.quote", {"symbol": "TSLA"}), DELIVERY)
    await hub.on_event(event("order.filled", {"order": {"id": "o1"}}, account="alice"), DELIVERY)
    await hub.on_event(event("order.unknown_kind", {}, account="alice"), DELIVERY)

    alice_frames = await drain(alice)
    assert [(f["type"], f.get("event")) for f in alice_frames] == [
        ("quote", None),
        ("trade_update", "fill"),
    ]
    assert await drain(bob) == []
    assert [f["data"]["symbol"] for f in await drain(all_quotes)] == ["AAPL", "TSLA"]
