"""Command handlers on the real database: state, outbox and inbox change together or not at all."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import pytest

from integration.orders.flows import Pool, handle_one
from support.polling import eventually
from tradewind.common.broker import Delivery, Topology
from tradewind.common.contracts import CancelOrder, PlaceOrder
from tradewind.common.contracts.types import OrderStatus, OrderType, Side, utc_now
from tradewind.common.envelope import CloudEvent, EnvelopeError, new_event
from tradewind.orders.adapters import OrderReads, OrdersUnitOfWork
from tradewind.orders.domain import MarketView, Order, RiskRules, place
from tradewind.orders.handlers import INBOX_CONSUMER, OrderCommandHandler, OrderNotFound

# --- commands and deliveries ---


def new_account() -> str:
    return f"acct-{uuid4().hex[:12]}"


def place_command(account_id: str, **overrides: Any) -> CloudEvent:
    fields: dict[str, Any] = {
        "order_id": uuid4(),
        "account_id": account_id,
        "symbol": "AAPL",
        "side": Side.BUY,
        "type": OrderType.MARKET,
        "qty": Decimal("10"),
        "client_order_id": f"coid-{uuid4().hex[:8]}",
        "submitted_at": utc_now(),
    }
    fields.update(overrides)
    return new_event(
        source="/tradewind/gateway",
        data=PlaceOrder(**fields),
        event_type=PlaceOrder.TYPE,
        account_id=account_id,
        correlation_id=f"req-{uuid4().hex[:8]}",
    )


def cancel_command(account_id: str, order_id: UUID) -> CloudEvent:
    return new_event(
        source="/tradewind/gateway",
        data=CancelOrder(order_id=order_id, account_id=account_id, requested_at=utc_now()),
        event_type=CancelOrder.TYPE,
        account_id=account_id,
    )


def delivery_of(
    command: CloudEvent, *, message_id: str | None = None, attempt: int = 1
) -> Delivery:
    return Delivery(
        queue="orders.commands",
        message_id=message_id or command.id,
        attempt=attempt,
        redelivered=attempt > 1,
        routing_key=command.type,
    )


def order_id_of(command: CloudEvent) -> UUID:
    return UUID(command.data["order_id"])


# --- what the database holds ---


async def stored_order(pool: Pool, account_id: str, order_id: UUID) -> Order | None:
    return await OrderReads(pool).order(account_id, order_id)


async def order_rows(pool: Pool, order_id: UUID) -> int:
    return int(await pool.fetchval("SELECT count(*) FROM orders WHERE id = $1", order_id))


async def emitted_events(pool: Pool, order_id: UUID) -> list[CloudEvent]:
    """The events staged in the outbox about ``order_id``, oldest first."""
    rows = await pool.fetch("SELECT body FROM outbox ORDER BY id")
    events = [CloudEvent.from_json(row["body"]) for row in rows]
    return [event for event in events if event.subject == str(order_id)]


async def inbox_has(pool: Pool, message_id: str) -> bool:
    count = await pool.fetchval(
        "SELECT count(*) FROM inbox WHERE consumer = $1 AND message_id = $2",
        INBOX_CONSUMER,
        message_id,
    )
    return bool(count == 1)


async def place_accepted(handler: OrderCommandHandler, account_id: str) -> UUID:
    command = place_command(account_id)
    await handle_one(handler, command, delivery_of(command))
    return order_id_of(command)


# --- place ---


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"qty": Decimal("10.0005")}, "qty 10.0005 is not a multiple of the lot size 0.001"),
        ({"limit_price": Decimal("100.005")}, "limit_price 100.005 is not a multiple of the tick"),
    ],
)
async def test_place_rejects_a_quantity_or_price_off_the_listings_increments(
    orders_handler: OrderCommandHandler, orders_pool: Pool, fields: dict[str, Any], message: str
) -> None:
    """The listing's tick and lot size, as the instrument.listed event stored them."""
    account = new_account()
    command = place_command(account, **{"type": OrderType.LIMIT, "limit_price": 100, **fields})

    await handle_one(orders_handler, command, delivery_of(command))

    order = await stored_order(orders_pool, account, order_id_of(command))
    assert order is not None
    assert (order.status, order.reject_reason) == (OrderStatus.REJECTED, "invalid_order")
    (event,) = await emitted_events(orders_pool, order.id)
    assert event.data["message"].startswith(message)


async def test_place_accepts_the_order_and_stages_its_event_and_inbox_row(
    orders_handler: OrderCommandHandler, orders_pool: Pool, orders_topology: Topology
) -> None:
    account = new_account()
    command = place_command(account, qty=Decimal("10.125"))
    order_id = order_id_of(command)

    await handle_one(orders_handler, command, delivery_of(command))

    order = await stored_order(orders_pool, account, order_id)
    assert order is not None
    assert order.status is OrderStatus.NEW
    assert order.qty == Decimal("10.125")
    assert order.accepted_at is not None
    assert order.version == 1
    (event,) = await emitted_events(orders_pool, order_id)
    assert event.type == "order.accepted"
    assert event.source == "/tradewind/orders"
    assert event.accountid == account
    assert event.correlationid == command.correlationid
    assert event.causationid == command.id
    assert event.data["order"]["status"] == "new"
    assert event.data["order"]["qty"] == "10.125"
    assert await inbox_has(orders_pool, command.id)
    row = await orders_pool.fetchrow(
        "SELECT exchange, routing_key FROM outbox WHERE message_id = $1", event.id
    )
    assert row is not None
    assert (row["exchange"], row["routing_key"]) == (orders_topology.events, "order.accepted")


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"symbol": "NOPE"}, "unknown_symbol"),
        ({"qty": Decimal("100000")}, "notional_limit_exceeded"),
        (
            {"type": OrderType.LIMIT, "qty": Decimal("1000"), "limit_price": Decimal("1000.01")},
            "notional_limit_exceeded",
        ),
    ],
)
async def test_place_rejects_an_order_that_breaks_a_rule(
    orders_handler: OrderCommandHandler,
    orders_pool: Pool,
    overrides: dict[str, Any],
    reason: str,
) -> None:
    account = new_account()
    command = place_command(account, **overrides)

    await handle_one(orders_handler, command, delivery_of(command))

    order = await stored_order(orders_pool, account, order_id_of(command))
    assert order is not None
    assert order.status is OrderStatus.REJECTED
    assert order.reject_reason == reason
    assert order.rejected_at is not None
    (event,) = await emitted_events(orders_pool, order_id_of(command))
    assert event.type == "order.rejected"
    assert event.data["reason"] == reason
    assert event.data["message"]


async def test_place_rejects_a_client_order_id_the_account_already_uses(
    orders_handler: OrderCommandHandler, orders_pool: Pool
) -> None:
    account = new_account()
    first = place_command(account, client_order_id="mine-1")
    second = place_command(account, client_order_id="mine-1")
    other_account = place_command(new_account(), client_order_id="mine-1")

    for command in (first, second, other_account):
        await handle_one(orders_handler, command, delivery_of(command))

    duplicate = await stored_order(orders_pool, account, order_id_of(second))
    assert duplicate is not None
    assert duplicate.reject_reason == "duplicate_client_order_id"
    (event,) = await emitted_events(orders_pool, order_id_of(second))
    assert event.type == "order.rejected"
    assert event.data["reason"] == "duplicate_client_order_id"
    other = await stored_order(
        orders_pool, other_account.data["account_id"], order_id_of(other_account)
    )
    assert other is not None
    assert other.status is OrderStatus.NEW, "client order ids are per account"


async def test_a_rejected_order_does_not_hold_its_client_order_id(
    orders_handler: OrderCommandHandler, orders_pool: Pool
) -> None:
    account = new_account()
    rejected = place_command(account, client_order_id="retry-me", symbol="NOPE")
    corrected = place_command(account, client_order_id="retry-me")

    for command in (rejected, corrected):
        await handle_one(orders_handler, command, delivery_of(command))

    order = await stored_order(orders_pool, account, order_id_of(corrected))
    assert order is not None
    assert order.status is OrderStatus.NEW
    assert order.client_order_id == "retry-me"


async def test_the_same_message_twice_places_one_order_and_one_event(
    orders_handler: OrderCommandHandler, orders_pool: Pool
) -> None:
    command = place_command(new_account())
    delivery = delivery_of(command)

    await handle_one(orders_handler, command, delivery)
    await handle_one(orders_handler, command, delivery_of(command, attempt=2))

    assert await order_rows(orders_pool, order_id_of(command)) == 1
    assert len(await emitted_events(orders_pool, order_id_of(command))) == 1


async def test_a_redelivery_after_commit_but_before_ack_changes_nothing(
    orders_handler: OrderCommandHandler, orders_pool: Pool
) -> None:
    account = new_account()
    command = place_command(account)
    delivery = delivery_of(command)
    await handle_one(orders_handler, command, delivery)
    before = await stored_order(orders_pool, account, order_id_of(command))

    # The broker never saw the ack, so it hands the very same message over again.
    await handle_one(orders_handler, command, delivery)

    assert await stored_order(orders_pool, account, order_id_of(command)) == before
    assert len(await emitted_events(orders_pool, order_id_of(command))) == 1


async def test_the_same_order_under_another_message_id_places_one_order(
    orders_handler: OrderCommandHandler, orders_pool: Pool
) -> None:
    account = new_account()
    command = place_command(account)
    resent = new_event(
        source=command.source,
        data=command.data_as(PlaceOrder),
        event_type=command.type,
        account_id=account,
    )

    await handle_one(orders_handler, command, delivery_of(command))
    await handle_one(orders_handler, resent, delivery_of(resent))

    assert resent.id != command.id
    assert await order_rows(orders_pool, order_id_of(command)) == 1
    (event,) = await emitted_events(orders_pool, order_id_of(command))
    assert event.causationid == command.id
    assert await inbox_has(orders_pool, resent.id)


async def test_a_concurrent_duplicate_client_order_id_fails_then_the_retry_rejects(
    orders_handler: OrderCommandHandler, orders_pool: Pool, orders_rules: RiskRules
) -> None:
    account = new_account()
    racing = place(
        place_command(account, client_order_id="race").data_as(PlaceOrder),
        orders_rules,
        MarketView(listed=True),
        client_order_id_in_use=False,
        now=utc_now(),
    ).order
    late = place_command(account, client_order_id="race")
    async with orders_pool.acquire() as racing_connection:
        async with racing_connection.transaction():
            # The racing order is written but not committed when the late one checks the id.
            racing_unit = OrdersUnitOfWork(racing_connection)
            racing_unit.add(racing)
            await racing_unit.flush()
            attempt = asyncio.create_task(handle_one(orders_handler, late, delivery_of(late)))
            await eventually(
                lambda: backend_waiting_on_a_lock(orders_pool),
                message="the late insert never waited for the racing transaction",
            )
        with pytest.raises(asyncpg.UniqueViolationError):
            await attempt

    assert await order_rows(orders_pool, order_id_of(late)) == 0
    assert not await inbox_has(orders_pool, late.id), "the claim rolled back with the insert"
    await handle_one(orders_handler, late, delivery_of(late, attempt=2))
    order = await stored_order(orders_pool, account, order_id_of(late))
    assert order is not None
    assert order.reject_reason == "duplicate_client_order_id"


async def backend_waiting_on_a_lock(pool: Pool) -> bool:
    waiting = await pool.fetchval(
        "SELECT count(*) FROM pg_stat_activity "
        "WHERE datname = current_database() AND wait_event_type = 'Lock'"
    )
    return bool(waiting)


# --- cancel ---


async def test_cancel_cancels_an_open_order(
    orders_handler: OrderCommandHandler, orders_pool: Pool
) -> None:
    account = new_account()
    order_id = await place_accepted(orders_handler, account)
    command = cancel_command(account, order_id)

    await handle_one(orders_handler, command, delivery_of(command))

    order = await stored_order(orders_pool, account, order_id)
    assert order is not None
    assert order.status is OrderStatus.CANCELED
    assert order.canceled_at is not None
    assert order.updated_at == order.canceled_at
    assert order.version == 2
    accepted, canceled = await emitted_events(orders_pool, order_id)
    assert (accepted.type, canceled.type) == ("order.accepted", "order.canceled")
    assert canceled.data["order"]["status"] == "canceled"
    assert canceled.data["order"]["version"] == 2
    assert canceled.causationid == command.id


async def test_cancel_of_a_canceled_order_changes_nothing_and_says_why(
    orders_handler: OrderCommandHandler, orders_pool: Pool
) -> None:
    account = new_account()
    order_id = await place_accepted(orders_handler, account)
    first = cancel_command(account, order_id)
    await handle_one(orders_handler, first, delivery_of(first))
    canceled = await stored_order(orders_pool, account, order_id)
    second = cancel_command(account, order_id)

    await handle_one(orders_handler, second, delivery_of(second))

    assert await stored_order(orders_pool, account, order_id) == canceled
    events = await emitted_events(orders_pool, order_id)
    assert [event.type for event in events] == [
        "order.accepted",
        "order.canceled",
        "order.cancel_rejected",
    ]
    assert events[-1].data["reason"] == "order is already canceled"
    assert events[-1].data["order"]["version"] == 2


async def test_a_redelivered_cancel_emits_once(
    orders_handler: OrderCommandHandler, orders_pool: Pool
) -> None:
    account = new_account()
    order_id = await place_accepted(orders_handler, account)
    command = cancel_command(account, order_id)

    await handle_one(orders_handler, command, delivery_of(command))
    await handle_one(orders_handler, command, delivery_of(command, attempt=2))

    events = await emitted_events(orders_pool, order_id)
    assert [event.type for event in events] == ["order.accepted", "order.canceled"]


async def test_cancel_naming_another_account_fails_and_changes_nothing(
    orders_handler: OrderCommandHandler, orders_pool: Pool
) -> None:
    owner = new_account()
    order_id = await place_accepted(orders_handler, owner)
    before = await stored_order(orders_pool, owner, order_id)
    command = cancel_command(new_account(), order_id)

    with pytest.raises(OrderNotFound):
        await handle_one(orders_handler, command, delivery_of(command))

    assert await stored_order(orders_pool, owner, order_id) == before
    assert len(await emitted_events(orders_pool, order_id)) == 1
    assert not await inbox_has(orders_pool, command.id)


async def test_a_cancel_that_overtakes_its_place_fails_until_the_order_exists(
    orders_handler: OrderCommandHandler, orders_pool: Pool
) -> None:
    account = new_account()
    placing = place_command(account)
    canceling = cancel_command(account, order_id_of(placing))

    with pytest.raises(OrderNotFound):
        await handle_one(orders_handler, canceling, delivery_of(canceling))
    assert not await inbox_has(orders_pool, canceling.id), "a retry must not be a duplicate"

    await handle_one(orders_handler, placing, delivery_of(placing))
    await handle_one(orders_handler, canceling, delivery_of(canceling, attempt=2))

    order = await stored_order(orders_pool, account, order_id_of(placing))
    assert order is not None
    assert order.status is OrderStatus.CANCELED


# --- anything else ---


async def test_an_unreadable_command_propagates_and_writes_nothing(
    orders_handler: OrderCommandHandler, orders_pool: Pool
) -> None:
    command = new_event(
        source="/tradewind/gateway",
        data=CancelOrder(order_id=uuid4(), account_id="a", requested_at=utc_now()),
        event_type=PlaceOrder.TYPE,  # a cancel's payload under the place type
    )

    with pytest.raises(EnvelopeError):
        await handle_one(orders_handler, command, delivery_of(command))

    assert not await inbox_has(orders_pool, command.id)


async def test_an_unknown_command_type_is_ignored(
    orders_handler: OrderCommandHandler, orders_pool: Pool
) -> None:
    command = place_command(new_account()).model_copy(update={"type": "orders.amend"})

    await handle_one(orders_handler, command, delivery_of(command))

    assert await order_rows(orders_pool, order_id_of(command)) == 0
    assert not await inbox_has(orders_pool, command.id)
