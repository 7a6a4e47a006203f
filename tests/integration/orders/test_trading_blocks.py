"""The kill switch: a blocked account's open orders are canceled, its new orders and replaces
rejected, and no order slips past a block that races it."""

from __future__ import annotations

import asyncio
from collections import Counter
from decimal import Decimal
from uuid import UUID

from integration.orders.flows import (
    Desk,
    delivery_of,
    events_about,
    handle_one,
    message,
    new_account,
    replace_command,
)
from integration.orders.test_orders_races import backends_waiting_on_locks
from support.polling import eventually
from tradewind.common.broker import Incoming
from tradewind.common.contracts import BlockTrading, TradingBlockedBy, UnblockTrading
from tradewind.common.contracts.types import OrderStatus, utc_now
from tradewind.common.envelope import CloudEvent

ROUNDS = 20
ACCOUNT = TradingBlockedBy.ACCOUNT
OPERATOR = TradingBlockedBy.OPERATOR


def block_command(account_id: str, by: TradingBlockedBy = ACCOUNT) -> CloudEvent:
    return message(
        BlockTrading(
            account_id=account_id, reason="risk desk", blocked_by=by, requested_at=utc_now()
        ),
        account_id=account_id,
    )


def unblock_command(account_id: str, by: TradingBlockedBy = ACCOUNT) -> CloudEvent:
    return message(
        UnblockTrading(account_id=account_id, unblocked_by=by, requested_at=utc_now()),
        account_id=account_id,
    )


async def account_events(desk: Desk, account_id: str) -> list[CloudEvent]:
    rows = await desk.pool.fetch(
        "SELECT body FROM outbox WHERE message_type LIKE 'account.%' ORDER BY id"
    )
    events = [CloudEvent.from_json(row["body"]) for row in rows]
    return [event for event in events if event.subject == account_id]


async def open_orders(desk: Desk, account_id: str) -> list[UUID]:
    rows = await desk.pool.fetch(
        "SELECT id FROM orders WHERE account_id = $1 AND status IN ('new', 'partially_filled')",
        account_id,
    )
    return [row["id"] for row in rows]


async def test_a_block_cancels_the_accounts_open_orders_and_rejects_its_new_ones(
    desk: Desk,
) -> None:
    account, neighbour = new_account(), new_account()
    working = [await desk.place(account), await desk.place(account, limit_price=Decimal("90"))]
    untouched = await desk.place(neighbour)

    await handle_one(desk.commands, block_command(account))

    for order_id in working:
        assert (await desk.order(account, order_id)).status is OrderStatus.CANCELED
        assert [e.type for e in await events_about(desk.pool, order_id)][-1] == "order.canceled"
    assert (await desk.order(neighbour, untouched)).status is OrderStatus.NEW
    (blocked,) = await account_events(desk, account)
    assert blocked.type == "account.trading_blocked"
    assert (blocked.data["canceled_orders"], blocked.data["blocked_by"]) == (2, "account")
    refused = await desk.order(account, await desk.place(account))
    assert (refused.status, refused.reject_reason) == (OrderStatus.REJECTED, "account_blocked")

    await handle_one(desk.commands, unblock_command(account))

    assert (await desk.order(account, await desk.place(account))).status is OrderStatus.NEW
    assert [e.type for e in await account_events(desk, account)] == [
        "account.trading_blocked",
        "account.trading_unblocked",
    ]


async def test_an_account_cannot_lift_an_operators_block_nor_weaken_it(desk: Desk) -> None:
    account = new_account()
    await handle_one(desk.commands, block_command(account, OPERATOR))

    await handle_one(desk.commands, block_command(account, ACCOUNT))
    await handle_one(desk.commands, unblock_command(account, ACCOUNT))

    still = await desk.order(account, await desk.place(account))
    assert still.reject_reason == "account_blocked"
    events = await account_events(desk, account)
    assert [(e.type, e.data["blocked_by"]) for e in events] == [
        ("account.trading_blocked", "operator"),
        ("account.trading_blocked", "operator"),
    ]
    await handle_one(desk.commands, unblock_command(account, OPERATOR))
    assert (await desk.order(account, await desk.place(account))).status is OrderStatus.NEW


async def test_a_blocked_accounts_replace_is_refused_and_its_cancel_still_works(
    desk: Desk,
) -> None:
    account = new_account()
    await handle_one(desk.commands, block_command(account))
    await handle_one(desk.commands, unblock_command(account))
    order_id = await desk.place(account)
    # A block that arrives in the same batch as the replace, after it: the order is canceled.
    replace = replace_command(account, order_id, qty=Decimal("5"))
    block = block_command(account)
    outcome = await desk.commands(
        [
            _incoming(replace),
            _incoming(block),
        ]
    )
    assert not outcome.retry
    assert not outcome.park
    new_id = UUID(replace.data["new_order_id"])
    assert (await desk.order(account, order_id)).status is OrderStatus.REPLACED
    assert (await desk.order(account, new_id)).status is OrderStatus.CANCELED

    again = replace_command(account, new_id, qty=Decimal("4"))
    await handle_one(desk.commands, again)
    refused = await desk.order(account, UUID(again.data["new_order_id"]))
    assert refused.status is OrderStatus.REJECTED


async def test_a_block_racing_a_replace_never_leaves_an_order_open(desk: Desk) -> None:
    """The replace reads the account unblocked and the block reads the open orders; whichever
    commits first, nothing of the account may work afterwards. A third transaction holds the
    order both want, so each reads before the other commits (without the accounts' lock, the
    replacement then escaped the block whenever the replace won the order)."""
    winners: Counter[str] = Counter()
    for round_number in range(ROUNDS):
        account = new_account()
        order_id = await desk.place(account)
        replace = replace_command(account, order_id, qty=Decimal("5"))
        block = block_command(account)
        contenders = [
            handle_one(desk.commands, replace, delivery_of(replace)),
            handle_one(desk.commands, block, delivery_of(block)),
        ]
        if round_number % 2:
            contenders.reverse()
        async with desk.pool.acquire() as gate, gate.transaction():
            await gate.execute("SELECT id FROM orders WHERE id = $1 FOR UPDATE", order_id)
            started = [asyncio.create_task(contenders[0])]
            await eventually(lambda: backends_waiting_on_locks(desk.pool, 1), message="held")
            started.append(asyncio.create_task(contenders[1]))
            await eventually(lambda: backends_waiting_on_locks(desk.pool, 2), message="held")
        await asyncio.gather(*started)

        assert await open_orders(desk, account) == [], f"round {round_number}"
        old = await desk.order(account, order_id)
        winners[old.status.value] += 1
    assert set(winners) == {"canceled", "replaced"}, winners


def _incoming(event: CloudEvent) -> Incoming:
    return Incoming(event, delivery_of(event), {})
