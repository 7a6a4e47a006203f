"""The internal HTTP API of the whole running service (real database, real broker)."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID, uuid4

import httpx
from fastapi import FastAPI

from integration.orders.flows import Pool
from support.polling import eventually
from support.runtime import runtime_in
from tradewind.common.broker import QueueSpec
from tradewind.common.contracts import PlaceOrder
from tradewind.common.contracts.types import OrderStatus, OrderType, Side, TimeInForce, utc_now
from tradewind.common.envelope import CloudEvent, new_event
from tradewind.orders.adapters import OrdersUnitOfWork
from tradewind.orders.bootstrap import OrdersRuntime
from tradewind.orders.domain import MarketView, Order, RiskRules, cancel, place

T0 = datetime(2025, 3, 3, 14, 30, tzinfo=UTC)


def new_account() -> str:
    return f"acct-{uuid4().hex[:12]}"


def orders_path(account_id: str) -> str:
    return f"/internal/v1/accounts/{account_id}/orders"


def place_order(account_id: str, **overrides: Any) -> PlaceOrder:
    fields: dict[str, Any] = {
        "order_id": uuid4(),
        "account_id": account_id,
        "symbol": "AAPL",
        "side": Side.BUY,
        "type": OrderType.LIMIT,
        "qty": Decimal("10.5"),
        "limit_price": Decimal("189.25"),
        # gtc: the running service expires day orders submitted before the last session end
        "time_in_force": TimeInForce.GTC,
        "submitted_at": T0,
    }
    fields.update(overrides)
    return PlaceOrder(**fields)


async def given_order(
    pool: Pool,
    rules: RiskRules,
    account_id: str,
    *,
    created_at: datetime = T0,
    canceled: bool = False,
    **overrides: Any,
) -> Order:
    """An order stored as the handlers would have stored it."""
    order = place(
        place_order(account_id, **overrides),
        rules,
        MarketView(listed=overrides.get("symbol") != "NOPE"),
        client_order_id_in_use=False,
        now=created_at,
    ).order
    if canceled:
        order = cancel(order, created_at + timedelta(seconds=1)).order
    async with OrdersUnitOfWork.begin(pool) as unit:
        unit.add(order)
    return order


def ids(body: dict[str, Any]) -> list[str]:
    return [order["id"] for order in body["data"]]


# --- one order ---


async def test_get_returns_the_accounts_order_with_decimal_strings(
    orders_client: httpx.AsyncClient, orders_pool: Pool, orders_rules: RiskRules
) -> None:
    account = new_account()
    order = await given_order(orders_pool, orders_rules, account, client_order_id="c-1")

    response = await orders_client.get(f"{orders_path(account)}/{order.id}")

    assert response.status_code == 200
    body = response.json()
    assert body["id"] == str(order.id)
    assert body["account_id"] == account
    assert body["client_order_id"] == "c-1"
    assert body["status"] == "new"
    assert body["qty"] == "10.5"
    assert body["limit_price"] == "189.25"
    assert body["filled_qty"] == "0"
    assert body["version"] == 1
    assert datetime.fromisoformat(body["created_at"]) == T0


async def test_get_of_another_accounts_order_is_a_404_problem(
    orders_client: httpx.AsyncClient, orders_pool: Pool, orders_rules: RiskRules
) -> None:
    order = await given_order(orders_pool, orders_rules, new_account())

    response = await orders_client.get(f"{orders_path(new_account())}/{order.id}")

    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["type"] == "urn:tradewind:problem:not-found"
    assert problem["title"] == "Order not found"
    assert problem["status"] == 404


# --- listing ---


async def test_list_filters_by_status_and_symbol(
    orders_client: httpx.AsyncClient, orders_pool: Pool, orders_rules: RiskRules
) -> None:
    account = new_account()
    open_aapl = await given_order(orders_pool, orders_rules, account)
    canceled_msft = await given_order(
        orders_pool, orders_rules, account, symbol="MSFT", canceled=True
    )
    rejected = await given_order(orders_pool, orders_rules, account, symbol="NOPE")
    await given_order(orders_pool, orders_rules, new_account())  # someone else's

    async def listed(**params: str) -> set[str]:
        response = await orders_client.get(orders_path(account), params=params)
        assert response.status_code == 200, response.text
        return set(ids(response.json()))

    every = {str(open_aapl.id), str(canceled_msft.id), str(rejected.id)}
    assert await listed() == every
    assert await listed(status="all") == every
    assert await listed(status="open") == {str(open_aapl.id)}
    assert await listed(status="closed") == {str(canceled_msft.id), str(rejected.id)}
    assert await listed(status="canceled") == {str(canceled_msft.id)}
    assert await listed(status="filled") == set()
    assert await listed(symbol="AAPL") == {str(open_aapl.id)}
    assert await listed(status="closed", symbol="MSFT") == {str(canceled_msft.id)}


async def test_list_filters_by_update_time(
    orders_client: httpx.AsyncClient, orders_pool: Pool, orders_rules: RiskRules
) -> None:
    account = new_account()
    await given_order(orders_pool, orders_rules, account, created_at=T0)
    recent = await given_order(
        orders_pool, orders_rules, account, created_at=T0 + timedelta(hours=1)
    )

    response = await orders_client.get(
        orders_path(account),
        params={"updated_since": (T0 + timedelta(hours=1)).isoformat()},
    )

    assert ids(response.json()) == [str(recent.id)]


async def test_pages_return_every_order_once_newest_first(
    orders_client: httpx.AsyncClient, orders_pool: Pool, orders_rules: RiskRules
) -> None:
    account = new_account()
    # Pairs share a creation time, so the id must break ties for the pages to be exact.
    stored = [
        await given_order(
            orders_pool, orders_rules, account, created_at=T0 + timedelta(seconds=n // 2)
        )
        for n in range(7)
    ]
    newest_first = sorted(stored, key=lambda order: (order.created_at, order.id), reverse=True)

    pages: list[list[str]] = []
    params: dict[str, str | int] = {"limit": 3}
    while True:
        response = await orders_client.get(orders_path(account), params=params)
        assert response.status_code == 200, response.text
        body = response.json()
        pages.append(ids(body))
        if body["next_page_token"] is None:
            break
        params = {"limit": 3, "page_token": body["next_page_token"]}

    assert [len(page) for page in pages] == [3, 3, 1]
    assert [order_id for page in pages for order_id in page] == [
        str(order.id) for order in newest_first
    ]


async def test_an_exactly_full_last_page_has_no_next_token(
    orders_client: httpx.AsyncClient, orders_pool: Pool, orders_rules: RiskRules
) -> None:
    account = new_account()
    for n in range(2):
        await given_order(orders_pool, orders_rules, account, created_at=T0 + timedelta(n))

    body = (await orders_client.get(orders_path(account), params={"limit": 2})).json()

    assert len(body["data"]) == 2
    assert body["next_page_token"] is None


async def test_a_malformed_page_token_is_a_400_problem(orders_client: httpx.AsyncClient) -> None:
    not_ours = base64.urlsafe_b64encode(b'{"created_at": 1}').decode()
    naive_time = base64.urlsafe_b64encode(f'["2025-01-01T00:00:00", "{uuid4()}"]'.encode())

    for token in ("not-a-token", not_ours, naive_time.decode()):
        response = await orders_client.get(orders_path(new_account()), params={"page_token": token})

        assert response.status_code == 400, token
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["type"] == "urn:tradewind:problem:invalid-page-token"


async def test_a_page_token_outside_the_base64url_alphabet_is_a_422_naming_it(
    orders_client: httpx.AsyncClient,
) -> None:
    for token in ("%%%", "a\x00b", "x" * 513):
        response = await orders_client.get(orders_path(new_account()), params={"page_token": token})

        assert response.status_code == 422, token
        assert [e["field"] for e in response.json()["errors"]] == ["page_token"]


async def test_a_limit_out_of_range_is_a_422_problem_naming_limit(
    orders_client: httpx.AsyncClient,
) -> None:
    for limit in ("0", "501", "many"):
        response = await orders_client.get(orders_path(new_account()), params={"limit": limit})

        assert response.status_code == 422, limit
        assert response.headers["content-type"] == "application/problem+json"
        problem = response.json()
        assert problem["type"] == "urn:tradewind:problem:validation-error"
        assert [error["field"] for error in problem["errors"]] == ["limit"]


async def test_every_order_status_is_a_status_filter(orders_client: httpx.AsyncClient) -> None:
    for status in OrderStatus:
        response = await orders_client.get(
            orders_path(new_account()), params={"status": status.value}
        )

        assert response.status_code == 200, status


async def test_an_unknown_status_filter_is_a_422_problem(
    orders_client: httpx.AsyncClient,
) -> None:
    response = await orders_client.get(orders_path(new_account()), params={"status": "opened"})

    assert response.status_code == 422
    assert {error["field"] for error in response.json()["errors"]} == {"status"}


# --- the service as a whole ---


async def test_the_service_is_ready(orders_client: httpx.AsyncClient) -> None:
    response = await orders_client.get("/health/ready")

    assert response.status_code == 200
    assert response.json()["checks"] == {"postgres": {"status": "up"}, "broker": {"status": "up"}}


async def test_a_place_command_on_the_broker_becomes_an_order_and_an_event(
    orders_app: FastAPI, orders_client: httpx.AsyncClient
) -> None:
    runtime = runtime_in(orders_app, OrdersRuntime)
    broker, topology = runtime.broker, runtime.topology
    account = new_account()
    listener = await broker.declare_queue(
        QueueSpec(
            f"{topology.namespace}.test.orders-events.{uuid4().hex[:8]}",
            bindings=[],
            exclusive=True,
        )
    )
    await listener.bind(topology.events, routing_key="order.*")
    command = new_event(
        source="/tradewind/gateway",
        data=place_order(account, submitted_at=utc_now()),
        event_type=PlaceOrder.TYPE,
        account_id=account,
    )
    order_id = UUID(command.data["order_id"])

    await broker.publish_command(command)

    async def order_status() -> str | None:
        response = await orders_client.get(f"{orders_path(account)}/{order_id}")
        return str(response.json()["status"]) if response.status_code == 200 else None

    assert await eventually(order_status, message="the order was not placed") == "new"

    async def next_event() -> CloudEvent | None:
        message = await listener.get(no_ack=True, fail=False)
        return None if message is None else CloudEvent.from_json(message.body)

    event = await eventually(next_event, message="order.accepted was not published")
    assert event.type == "order.accepted"
    assert event.subject == str(order_id)
    assert event.causationid == command.id
    await listener.delete(if_unused=False, if_empty=False)
