"""The account ledger against the real database: buys refused beyond the buying power, holds
released by cancels and fills, cash moved by fills, deposits and withdrawals through the
internal API, and the account as the API shows it."""

from __future__ import annotations

from datetime import time, timedelta
from decimal import Decimal
from uuid import UUID, uuid4
from zoneinfo import ZoneInfo

import asyncpg
import httpx
import pytest

from integration.orders.flows import ARRIVAL_QUOTE_AGE, Desk, new_account
from tradewind.common.broker import Topology
from tradewind.common.contracts.types import OrderStatus, OrderType, Side, TimeInForce, utc_now
from tradewind.common.market_calendar import MarketCalendar
from tradewind.orders.domain import RiskRules
from tradewind.orders.domain.ledger import Ledger
from tradewind.orders.handlers import (
    DayOrderExpiry,
    InstrumentHandler,
    OrderCommandHandler,
    QuoteHandler,
)

CASH = Decimal(10_000)
"""What this module's accounts start with: the handler below is the first to see them."""


@pytest.fixture
async def desk(
    orders_pool: asyncpg.Pool,
    orders_rules: RiskRules,
    orders_topology: Topology,
    quote_handler: QuoteHandler,
    instrument_handler: InstrumentHandler,
) -> Desk:
    commands = OrderCommandHandler(
        pool=orders_pool,
        rules=orders_rules,
        topology=orders_topology,
        max_quote_age=ARRIVAL_QUOTE_AGE,
        initial_cash=CASH,
    )
    desk = Desk(commands, quote_handler, instrument_handler, orders_pool)
    await desk.list()
    return desk


async def ledger_of(pool: asyncpg.Pool, account_id: str) -> Ledger:
    row = await pool.fetchrow(
        "SELECT cash, held_for_orders FROM account_ledgers WHERE account_id = $1", account_id
    )
    assert row is not None, f"{account_id} has no ledger"
    return Ledger(account_id, row["cash"], row["held_for_orders"])


async def limit_buy(desk: Desk, account_id: str, qty: str, price: str = "100") -> UUID:
    return await desk.place(account_id, qty=Decimal(qty), limit_price=Decimal(price))


async def test_a_buy_beyond_the_buying_power_is_rejected_and_fits_once_the_first_is_canceled(
    desk: Desk,
) -> None:
    account = new_account()
    first = await limit_buy(desk, account, "60")
    assert await ledger_of(desk.pool, account) == Ledger(account, CASH, Decimal(6000))

    second = await limit_buy(desk, account, "50")
    refused = await desk.order(account, second)
    assert refused.status is OrderStatus.REJECTED
    assert refused.reject_reason == "insufficient_buying_power"
    assert (await ledger_of(desk.pool, account)).held_for_orders == Decimal(6000)

    await desk.cancel(account, first)
    assert (await ledger_of(desk.pool, account)).held_for_orders == 0
    third = await limit_buy(desk, account, "50")
    assert (await desk.order(account, third)).status is OrderStatus.NEW
    assert await ledger_of(desk.pool, account) == Ledger(account, CASH, Decimal(5000))


async def test_sells_are_not_checked_against_the_buying_power(desk: Desk) -> None:
    account = new_account()
    sell = await desk.place(account, side=Side.SELL, qty=Decimal(500), limit_price=Decimal(120))
    assert (await desk.order(account, sell)).status is OrderStatus.NEW
    assert (await ledger_of(desk.pool, account)).held_for_orders == 0


async def test_a_fill_moves_cash_and_releases_the_hold(desk: Desk) -> None:
    account = new_account()
    buy = await limit_buy(desk, account, "10", "101")  # holds 1010
    await desk.quote(bid="99.5", ask="100.5", ask_size="4")  # fills 4 at 100.5
    partly = await ledger_of(desk.pool, account)
    assert partly == Ledger(account, CASH - Decimal("402"), Decimal(606))  # 6 left x 101

    await desk.quote(bid="99.5", ask="100.5")  # the other 6
    assert (await desk.order(account, buy)).status is OrderStatus.FILLED
    assert await ledger_of(desk.pool, account) == Ledger(account, CASH - Decimal(1005), Decimal(0))

    await desk.place(
        account, side=Side.SELL, type=OrderType.MARKET, qty=Decimal(4), limit_price=None
    )
    await desk.quote(bid="99.5", ask="100.5")  # the market sell fills at the bid
    assert (await ledger_of(desk.pool, account)).cash == CASH - Decimal(1005) + Decimal(398)


async def test_a_market_buy_holds_the_ask_plus_the_margin_until_it_fills(desk: Desk) -> None:
    account = new_account()
    # An old quote: the order rests (nothing trades on arrival) but is valued at its ask.
    await desk.quote(bid="99", ask="100", age_s=60)
    buy = await desk.place(
        account,
        type=OrderType.MARKET,
        limit_price=None,
        qty=Decimal(10),
        time_in_force=TimeInForce.DAY,
    )
    assert (await ledger_of(desk.pool, account)).held_for_orders == Decimal(1050)
    await desk.quote(bid="101", ask="102")
    assert (await desk.order(account, buy)).status is OrderStatus.FILLED
    assert await ledger_of(desk.pool, account) == Ledger(account, CASH - Decimal(1020), Decimal(0))


async def test_an_expired_day_order_releases_its_hold(
    desk: Desk, orders_topology: Topology
) -> None:
    account = new_account()
    order = await desk.place(
        account, qty=Decimal(10), limit_price=Decimal(90), time_in_force=TimeInForce.DAY
    )
    assert (await ledger_of(desk.pool, account)).held_for_orders == Decimal(900)
    # Every day trades, in UTC, and today's session closed a moment after the order was placed.
    closed_at = utc_now() + timedelta(milliseconds=10)
    calendar = MarketCalendar(
        zone=ZoneInfo("UTC"),
        opens=time(0, 0),
        closes=max(closed_at.time(), time(0, 0, 1)),
        trading_weekdays=frozenset(range(7)),
    )
    expiry = DayOrderExpiry(
        pool=desk.pool,
        topology=orders_topology,
        calendar=calendar,
        clock=lambda: closed_at + timedelta(seconds=1),
    )
    await expiry.expire_due()
    assert (await desk.order(account, order)).status is OrderStatus.EXPIRED
    assert await ledger_of(desk.pool, account) == Ledger(account, CASH, Decimal(0))


async def test_a_replace_is_held_at_its_new_terms_or_refused_beyond_the_buying_power(
    desk: Desk,
) -> None:
    account = new_account()
    order = await limit_buy(desk, account, "50")  # 5000 of 10000
    await desk.replace(account, order, limit_price=Decimal(210))  # 10500: refused
    assert (await desk.order(account, order)).status is OrderStatus.NEW
    assert (await ledger_of(desk.pool, account)).held_for_orders == Decimal(5000)

    await desk.replace(account, order, limit_price=Decimal(200))  # 10000: fits exactly
    assert (await desk.order(account, order)).status is OrderStatus.REPLACED
    assert (await ledger_of(desk.pool, account)).held_for_orders == Decimal(10000)
    refused = await desk.pool.fetchrow(
        "SELECT reject_reason FROM orders WHERE replaces = $1 AND status = 'rejected'", order
    )
    assert refused is not None
    assert refused["reject_reason"] == "insufficient_buying_power"


async def test_a_deposit_raises_the_buying_power_and_a_withdrawal_cannot_take_held_cash(
    desk: Desk, orders_client: httpx.AsyncClient
) -> None:
    account = new_account()
    await limit_buy(desk, account, "60")  # holds 6000 of 10000
    assert (await desk.order(account, await limit_buy(desk, account, "50"))).reject_reason

    deposit_id = uuid4()
    body = {"amount": "1000", "id": str(deposit_id), "description": "demo top-up"}
    path = f"/internal/v1/accounts/{account}"
    deposited = await orders_client.post(f"{path}/deposits", json=body)
    assert deposited.status_code == 201, deposited.text
    assert deposited.json()["activity_type"] == "CSD"
    assert deposited.json()["net_amount"] == "1000"
    again = await orders_client.post(f"{path}/deposits", json=body)
    assert again.status_code == 200, "a retried deposit is not applied twice"
    assert (await desk.order(account, await limit_buy(desk, account, "50"))).status is (
        OrderStatus.NEW
    )

    shown = (await orders_client.get(path)).json()
    assert shown["cash"] == "11000"
    assert shown["held_for_orders"] == "11000"
    assert shown["buying_power"] == "0"
    assert shown["equity"] == "11000"
    assert shown["trading_blocked"] is False

    refused = await orders_client.post(f"{path}/withdrawals", json={"amount": "0.01"})
    assert refused.status_code == 409
    assert refused.json()["type"].endswith(":insufficient-buying-power")


async def test_deposits_and_withdrawals_are_activities_among_the_fills(
    desk: Desk, orders_client: httpx.AsyncClient
) -> None:
    account = new_account()
    path = f"/internal/v1/accounts/{account}"
    await limit_buy(desk, account, "1", "101")
    await desk.quote(bid="99.5", ask="100.5")  # a fill
    for route, amount in (("deposits", "250"), ("withdrawals", "50.5")):
        moved = await orders_client.post(f"{path}/{route}", json={"amount": amount})
        assert moved.status_code == 201, moved.text

    listed = (await orders_client.get(f"{path}/activities")).json()
    assert [(a["activity_type"], a.get("net_amount")) for a in listed["data"]] == [
        ("CSW", "-50.5"),
        ("CSD", "250"),
        ("FILL", None),
    ]
    paged = (await orders_client.get(f"{path}/activities", params={"limit": 2})).json()
    rest = await orders_client.get(
        f"{path}/activities", params={"limit": 2, "page_token": paged["next_page_token"]}
    )
    assert [a["activity_type"] for a in paged["data"] + rest.json()["data"]] == [
        "CSW",
        "CSD",
        "FILL",
    ]
    assert rest.json()["next_page_token"] is None
    cash_only = await orders_client.get(f"{path}/activities", params={"activity_types": "CSD"})
    assert [a["activity_type"] for a in cash_only.json()["data"]] == ["CSD"]
    cash = Decimal((await orders_client.get(path)).json()["cash"])
    assert cash == CASH - Decimal("100.5") + 250 - Decimal("50.5")


async def test_the_account_values_positions_at_the_latest_quote(
    desk: Desk, orders_client: httpx.AsyncClient
) -> None:
    account = new_account()
    await limit_buy(desk, account, "10", "101")
    await desk.quote(bid="99.5", ask="100.5")  # bought 10 at 100.5
    await desk.quote(bid="110", ask="112")  # marked at 111

    shown = (await orders_client.get(f"/internal/v1/accounts/{account}")).json()
    assert shown["cash"] == "8995"
    assert shown["long_market_value"] == "1110"
    assert shown["short_market_value"] == "0"
    assert shown["equity"] == "10105"
    assert shown["unrealized_pl"] == "105"
    assert shown["realized_pl"] == "0"


async def test_an_account_never_seen_shows_the_initial_cash(
    orders_client: httpx.AsyncClient,
) -> None:
    shown = await orders_client.get(f"/internal/v1/accounts/{new_account()}")
    assert shown.status_code == 200
    assert shown.json()["held_for_orders"] == "0"
    assert shown.json()["cash"] == shown.json()["buying_power"] == shown.json()["equity"]
