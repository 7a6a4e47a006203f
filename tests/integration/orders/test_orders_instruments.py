"""The service's copy of the listed instruments decides what it accepts orders for."""

from __future__ import annotations

from datetime import timedelta
from uuid import UUID

import httpx
import pytest
from fastapi import FastAPI

from integration.orders.flows import (
    Pool,
    delivery_of,
    handle_one,
    listing_event,
    new_account,
    new_symbol,
    order_exists,
    place_command,
    stored_order,
)
from support.polling import eventually
from support.runtime import runtime_in
from tradewind.common.contracts.types import OrderStatus, utc_now
from tradewind.common.envelope import EnvelopeError
from tradewind.orders.adapters import OrderReads
from tradewind.orders.bootstrap import OrdersRuntime
from tradewind.orders.handlers import InstrumentHandler, OrderCommandHandler


async def place(handler: OrderCommandHandler, account_id: str, symbol: str) -> UUID:
    command = place_command(account_id, symbol)
    await handle_one(handler, command, delivery_of(command))
    return UUID(command.data["order_id"])


async def listed_name(pool: Pool, symbol: str) -> str | None:
    instrument = await OrderReads(pool).instrument(symbol)
    return None if instrument is None else instrument.name


async def test_a_listing_makes_a_symbol_tradable(
    orders_handler: OrderCommandHandler,
    instrument_handler: InstrumentHandler,
    orders_pool: Pool,
) -> None:
    account, symbol = new_account(), new_symbol()
    before = await place(orders_handler, account, symbol)
    listing = listing_event(symbol)

    await instrument_handler.handle(listing, delivery_of(listing))
    after = await place(orders_handler, account, symbol)

    rejected = await stored_order(orders_pool, account, before)
    assert rejected.status is OrderStatus.REJECTED
    assert rejected.reject_reason == "unknown_symbol"
    assert (await stored_order(orders_pool, account, after)).status is OrderStatus.NEW


async def test_symbols_are_matched_exactly(
    orders_handler: OrderCommandHandler,
    instrument_handler: InstrumentHandler,
    orders_pool: Pool,
) -> None:
    account, symbol = new_account(), new_symbol()
    listing = listing_event(symbol)
    await instrument_handler.handle(listing, delivery_of(listing))

    # The gateway folds a-z; a command carries the canonical form, and orders folds nothing:
    # a lower-case symbol is not a command it can read (parked), never a guess at a symbol.
    command = place_command(account, symbol)
    command = command.model_copy(update={"data": {**command.data, "symbol": symbol.lower()}})
    with pytest.raises(EnvelopeError, match="symbol"):
        await handle_one(orders_handler, command, delivery_of(command))

    assert not await order_exists(orders_pool, UUID(command.data["order_id"]))


async def test_listings_are_idempotent_and_an_older_one_never_wins(
    instrument_handler: InstrumentHandler, orders_pool: Pool
) -> None:
    symbol = new_symbol()
    now = utc_now()
    current = listing_event(symbol, time=now, name="Current Name")
    stale = listing_event(symbol, time=now - timedelta(minutes=5), name="Old Name")

    await instrument_handler.handle(current, delivery_of(current))
    await instrument_handler.handle(current, delivery_of(current, attempt=2))
    await instrument_handler.handle(stale, delivery_of(stale))

    assert await listed_name(orders_pool, symbol) == "Current Name"
    renamed = listing_event(symbol, time=now + timedelta(minutes=5), name="New Name")
    await instrument_handler.handle(renamed, delivery_of(renamed))
    assert await listed_name(orders_pool, symbol) == "New Name"
    rows = await orders_pool.fetch("SELECT * FROM instruments WHERE symbol = $1", symbol)
    assert len(rows) == 1


async def test_a_listing_on_the_broker_makes_the_running_service_accept_the_symbol(
    orders_app: FastAPI, orders_client: httpx.AsyncClient, orders_pool: Pool
) -> None:
    broker = runtime_in(orders_app, OrdersRuntime).broker
    account, symbol = new_account(), new_symbol()

    await broker.publish_event(listing_event(symbol))

    async def listed() -> bool:
        return await listed_name(orders_pool, symbol) is not None

    await eventually(listed, message="the listing was not consumed")
    command = place_command(account, symbol)
    await broker.publish_command(command)

    async def status() -> str | None:
        response = await orders_client.get(
            f"/internal/v1/accounts/{account}/orders/{command.data['order_id']}"
        )
        return str(response.json()["status"]) if response.status_code == 200 else None

    assert await eventually(status, message="the order was not placed") == "new"


async def test_the_api_shows_the_services_copy_of_the_instruments(
    orders_client: httpx.AsyncClient, instrument_handler: InstrumentHandler
) -> None:
    symbol = new_symbol()
    listing = listing_event(symbol, name="Listed Here")
    await instrument_handler.handle(listing, delivery_of(listing))

    one = await orders_client.get(f"/internal/v1/instruments/{symbol}")
    every = await orders_client.get("/internal/v1/instruments")
    missing = await orders_client.get(f"/internal/v1/instruments/{new_symbol()}")

    assert one.status_code == 200
    assert one.json() == {
        "symbol": symbol,
        "name": "Listed Here",
        "tick_size": "0.01",
        "lot_size": "0.001",
        "currency": "USD",
    }
    assert one.json() in every.json()["data"]
    assert {"AAPL", symbol} <= {instrument["symbol"] for instrument in every.json()["data"]}
    assert missing.status_code == 404
    assert missing.json()["title"] == "Instrument not found"
