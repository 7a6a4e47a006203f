"""Issue 2 end to end: HTTP → gateway → RabbitMQ → orders → outbox → events, on real services."""

from __future__ import annotations

import asyncio
import json
import secrets
import time
import uuid
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aio_pika
import httpx
import pytest

from e2e.harness import MAX_ATTEMPTS, Spy, System, auth
from support.internal import INTERNAL_HEADERS
from support.polling import eventually
from support.services import ServiceProcess, free_port
from support.tcp_proxy import TcpProxy
from tradewind.common.broker.topology import ATTEMPT_HEADER
from tradewind.common.contracts import CancelOrder, PlaceOrder
from tradewind.common.contracts.types import OrderType, Side
from tradewind.common.envelope import new_event

pytestmark = pytest.mark.e2e

LIMIT_ORDER = {
    "symbol": "AAPL",
    "side": "buy",
    "type": "limit",
    "qty": "10",
    "limit_price": "150.25",
}


async def place(client: httpx.AsyncClient, key: str, **overrides: Any) -> httpx.Response:
    return await client.post("/api/v1/orders", json={**LIMIT_ORDER, **overrides}, headers=auth(key))


async def wait_status(
    client: httpx.AsyncClient,
    key: str,
    order_id: str,
    status: str,
    timeout: float = 5.0,
    *,
    may_be_unknown: bool = False,
) -> dict[str, Any]:
    """Poll until the order has ``status``. Orders placed through the gateway are never 404;
    ``may_be_unknown`` is for commands a test publishes straight to the broker."""

    async def probe() -> dict[str, Any] | None:
        response = await client.get(f"/api/v1/orders/{order_id}", headers=auth(key))
        if may_be_unknown and response.status_code == 404:
            return None
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body if body["status"] == status else None

    return await eventually(probe, timeout=timeout, message=f"order never became {status}")


async def test_placed_order_becomes_new_and_its_event_continues_the_request_trace(
    client: httpx.AsyncClient, api_keys: dict[str, str], events_spy: Spy
) -> None:
    trace_id = secrets.token_hex(16)
    traceparent = f"00-{trace_id}-{secrets.token_hex(8)}-01"
    started = time.monotonic()
    response = await client.post(
        "/api/v1/orders",
        json={**LIMIT_ORDER, "client_order_id": "e2e-trace-1"},
        headers={**auth(api_keys["alice"]), "traceparent": traceparent},
    )
    assert response.status_code == 202, response.text
    # What the request really carried: an httpx instrumentation in this process may have replaced
    # our header with its own client span's context.
    trace_id = response.request.headers["traceparent"].split("-")[1]
    order = response.json()
    assert order["status"] == "pending_new"
    assert order["qty"] == "10"
    assert order["limit_price"] == "150.25"
    assert response.headers["location"] == f"/api/v1/orders/{order['id']}"

    accepted = await wait_status(client, api_keys["alice"], order["id"], "new", timeout=2.0)
    assert time.monotonic() - started < 2.0
    assert accepted["accepted_at"] is not None

    events = await eventually(
        lambda: asyncio.sleep(0, events_spy.events("order.accepted", subject=order["id"])),
        message="order.accepted not received",
    )
    event = events[0]
    assert event.specversion == "1.0"
    assert event.source == "/tradewind/orders"
    assert event.accountid == "alice"
    assert event.data["order"]["id"] == order["id"]
    assert event.data["order"]["status"] == "new"
    headers = events_spy.headers_of(event.id)
    assert str(headers["traceparent"]).split("-")[1] == trace_id
    assert event.traceparent is not None
    assert event.traceparent.split("-")[1] == trace_id


async def test_get_right_after_202_never_answers_404(
    client: httpx.AsyncClient, api_keys: dict[str, str]
) -> None:
    for _ in range(10):
        response = await place(client, api_keys["alice"])
        assert response.status_code == 202
        read = await client.get(response.headers["location"], headers=auth(api_keys["alice"]))
        assert read.status_code == 200, read.text
        assert read.json()["status"] in {"pending_new", "new"}


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({**LIMIT_ORDER, "qty": "0"}, {"qty"}),
        ({**LIMIT_ORDER, "qty": 1.5}, {"qty"}),
        ({**LIMIT_ORDER, "limit_price": None}, {"limit_price"}),
        ({**LIMIT_ORDER, "type": "market"}, {"limit_price"}),
        ({**LIMIT_ORDER, "side": "hold", "time_in_force": "forever"}, {"side", "time_in_force"}),
        ({**LIMIT_ORDER, "client_order_id": "x" * 129}, {"client_order_id"}),
        # Without a type the quantity cannot be judged: a market order may trade a notional.
        ({"symbol": "AAPL"}, {"side", "type"}),
        ({**LIMIT_ORDER, "qty": None}, {"qty"}),
        ({**LIMIT_ORDER, "qty": "NaN"}, {"qty"}),
        ({**LIMIT_ORDER, "surprise": 1}, {"surprise"}),
    ],
)
async def test_invalid_orders_are_422_problems_naming_fields_and_publish_nothing(
    client: httpx.AsyncClient,
    api_keys: dict[str, str],
    commands_spy: Spy,
    body: dict[str, Any],
    fields: set[str],
) -> None:
    response = await client.post("/api/v1/orders", json=body, headers=auth(api_keys["alice"]))
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == 422
    assert {error["field"] for error in problem["errors"]} == fields
    # A valid order afterwards is the sentinel: commands arrive in publish order, so once it is
    # here anything the invalid request had published would be here too.
    sentinel = await place(client, api_keys["alice"])
    await eventually(lambda: asyncio.sleep(0, commands_spy.events("orders.place")))
    assert [e.subject for e in commands_spy.events()] == [sentinel.json()["id"]]


async def test_missing_or_wrong_key_is_401_problem(client: httpx.AsyncClient) -> None:
    for headers in ({}, {"Authorization": "Bearer tw_nope"}, {"Authorization": "Basic abc"}):
        response = await client.post("/api/v1/orders", json=LIMIT_ORDER, headers=headers)
        assert response.status_code == 401
        assert response.headers["content-type"] == "application/problem+json"
        assert response.headers["www-authenticate"].startswith("Bearer")


async def test_cancel_open_order_then_cancel_again_is_refused(
    client: httpx.AsyncClient, api_keys: dict[str, str], events_spy: Spy
) -> None:
    key = api_keys["alice"]
    order_id = (await place(client, key)).json()["id"]
    await wait_status(client, key, order_id, "new")
    response = await client.delete(f"/api/v1/orders/{order_id}", headers=auth(key))
    assert response.status_code == 202
    canceled = await wait_status(client, key, order_id, "canceled")
    assert canceled["canceled_at"] is not None
    await eventually(lambda: asyncio.sleep(0, events_spy.events("order.canceled", order_id)))
    again = await client.delete(f"/api/v1/orders/{order_id}", headers=auth(key))
    assert again.status_code == 422
    assert again.json()["order_status"] == "canceled"


async def test_rejections_carry_a_reason(
    client: httpx.AsyncClient, api_keys: dict[str, str], events_spy: Spy
) -> None:
    key = api_keys["alice"]
    unknown = (await place(client, key, symbol="ZZZZ")).json()["id"]
    rejected = await wait_status(client, key, unknown, "rejected")
    assert rejected["reject_reason"] == "unknown_symbol"
    coid = f"dup-{uuid.uuid4().hex[:8]}"
    first = (await place(client, key, client_order_id=coid)).json()["id"]
    await wait_status(client, key, first, "new")
    second = (await place(client, key, client_order_id=coid)).json()["id"]
    assert (await wait_status(client, key, second, "rejected"))["reject_reason"] == (
        "duplicate_client_order_id"
    )
    huge = (await place(client, key, qty="100000", limit_price="1000")).json()["id"]
    assert (await wait_status(client, key, huge, "rejected"))["reject_reason"] == (
        "notional_limit_exceeded"
    )
    events = await eventually(lambda: asyncio.sleep(0, events_spy.events("order.rejected", huge)))
    assert events[0].data["reason"] == "notional_limit_exceeded"


async def test_account_cannot_read_or_cancel_another_accounts_order(
    client: httpx.AsyncClient, api_keys: dict[str, str]
) -> None:
    order_id = (await place(client, api_keys["alice"])).json()["id"]
    # Before and after the orders service has decided: never visible to bob.
    assert (
        await client.get(f"/api/v1/orders/{order_id}", headers=auth(api_keys["bob"]))
    ).status_code == 404
    await wait_status(client, api_keys["alice"], order_id, "new")
    read = await client.get(f"/api/v1/orders/{order_id}", headers=auth(api_keys["bob"]))
    assert read.status_code == 404
    assert read.headers["content-type"] == "application/problem+json"
    cancel = await client.delete(f"/api/v1/orders/{order_id}", headers=auth(api_keys["bob"]))
    assert cancel.status_code == 404
    listing = await client.get("/api/v1/orders?limit=500", headers=auth(api_keys["bob"]))
    assert order_id not in {o["id"] for o in listing.json()["data"]}
    assert (await wait_status(client, api_keys["alice"], order_id, "new"))["status"] == "new"


async def test_list_paginates_with_cursor(client: httpx.AsyncClient, system: System) -> None:
    key = (await system.create_key("carol")).secret
    placed = [(await place(client, key, symbol="MSFT")).json()["id"] for _ in range(5)]
    for order_id in placed:
        await wait_status(client, key, order_id, "new")
    seen: list[str] = []
    token: str | None = None
    while True:
        params = {"limit": "2", "symbol": "MSFT", **({"page_token": token} if token else {})}
        page = (await client.get("/api/v1/orders", params=params, headers=auth(key))).json()
        seen += [o["id"] for o in page["data"]]
        token = page["next_page_token"]
        if token is None:
            break
    assert seen == list(reversed(placed))
    # Outside the token's alphabet: refused by the parameter's declared pattern.
    malformed = await client.get(
        "/api/v1/orders", params={"page_token": "garbage!"}, headers=auth(key)
    )
    assert malformed.status_code == 422
    # Well-formed but no token the service issued ("garbage", base64url).
    forged = await client.get(
        "/api/v1/orders", params={"page_token": "Z2FyYmFnZQ"}, headers=auth(key)
    )
    assert forged.status_code == 400
    for bad in (malformed, forged):
        assert bad.headers["content-type"] == "application/problem+json"


async def test_same_command_delivered_twice_makes_one_order_and_one_event(
    client: httpx.AsyncClient, system: System, api_keys: dict[str, str], events_spy: Spy
) -> None:
    command = PlaceOrder(
        order_id=uuid.uuid4(),
        account_id="alice",
        symbol="SPY",
        side=Side.BUY,
        type=OrderType.MARKET,
        qty="1",  # type: ignore[arg-type]
        submitted_at=datetime.now(UTC),
    )
    envelope = new_event(source="/tests", data=command, event_type=command.TYPE, account_id="alice")
    connection = await aio_pika.connect(system.infra.amqp_url)
    async with connection:
        channel = await connection.channel()
        exchange = await channel.get_exchange(f"{system.namespace}.commands")
        for _ in range(2):
            await exchange.publish(
                aio_pika.Message(envelope.to_json(), message_id=envelope.id, type=command.TYPE),
                routing_key=command.TYPE,
            )
    await wait_status(client, api_keys["alice"], str(command.order_id), "new", may_be_unknown=True)
    # A later order for the same account is the sentinel that both copies were processed.
    sentinel = (await place(client, api_keys["alice"])).json()["id"]
    await eventually(lambda: asyncio.sleep(0, events_spy.events("order.accepted", sentinel)))
    assert len(events_spy.events("order.accepted", str(command.order_id))) == 1


async def test_poison_command_is_retried_with_backoff_then_parked_while_others_complete(
    client: httpx.AsyncClient, system: System, api_keys: dict[str, str]
) -> None:
    # A cancel for an order that never arrives fails every attempt (it may just be early).
    ghost = CancelOrder(order_id=uuid.uuid4(), account_id="alice", requested_at=datetime.now(UTC))
    envelope = new_event(source="/tests", data=ghost, event_type=ghost.TYPE, account_id="alice")
    parked_queue = f"{system.namespace}.orders.commands.parked"
    connection = await aio_pika.connect(system.infra.amqp_url)
    async with connection:
        channel = await connection.channel()
        exchange = await channel.get_exchange(f"{system.namespace}.commands")
        await exchange.publish(
            aio_pika.Message(envelope.to_json(), message_id=envelope.id, type=ghost.TYPE),
            routing_key=ghost.TYPE,
        )
        after = [(await place(client, api_keys["alice"])).json()["id"] for _ in range(3)]
        for order_id in after:
            await wait_status(client, api_keys["alice"], order_id, "new")
        queue = await channel.declare_queue(parked_queue, passive=True)

        async def parked() -> aio_pika.abc.AbstractIncomingMessage | None:
            return await queue.get(no_ack=False, fail=False)

        message = await eventually(parked, timeout=15, message="poison command not parked")
        assert message.message_id == envelope.id
        assert int(message.headers[ATTEMPT_HEADER]) == MAX_ATTEMPTS  # type: ignore[arg-type]
        await message.ack()


async def test_consumers_resume_after_the_broker_closes_every_connection(
    client: httpx.AsyncClient, system: System, api_keys: dict[str, str]
) -> None:
    await asyncio.to_thread(system.infra.close_broker_connections)

    async def placed_after_reconnect() -> str | None:
        response = await place(client, api_keys["alice"])
        return response.json()["id"] if response.status_code == 202 else None

    order_id = await eventually(placed_after_reconnect, timeout=30, interval=0.25)
    await wait_status(client, api_keys["alice"], order_id, "new", timeout=30)


async def test_broker_unreachable_at_publish_is_503_and_no_order_appears(
    client: httpx.AsyncClient,
    system: System,
    api_keys: dict[str, str],
    extra_gateway: list[ServiceProcess],
) -> None:
    amqp = urlsplit(system.infra.amqp_url)
    proxy = await TcpProxy(amqp.hostname or "127.0.0.1", amqp.port or 5672).start()
    netloc = f"{amqp.username}:{amqp.password}@127.0.0.1:{proxy.port}"
    gateway = system.another_gateway(
        "gateway-cut",
        # aio-pika's reconnect_interval (5 s by default): the test waits for the reconnect.
        TRADEWIND_AMQP_URL=urlunsplit(amqp._replace(netloc=netloc, query="reconnect_interval=0.5")),
    )
    extra_gateway.append(gateway)
    try:
        await gateway.wait_ready()
        proxy.cut()
        async with httpx.AsyncClient(base_url=gateway.url, timeout=10) as cut_client:
            coid = f"cut-{uuid.uuid4().hex[:8]}"
            response = await place(cut_client, api_keys["alice"], client_order_id=coid)
        assert response.status_code == 503
        assert response.headers["content-type"] == "application/problem+json"
        assert int(response.headers["retry-after"]) >= 1
        proxy.restore()
        # The sentinel goes through the same gateway once it has reconnected.
        async with httpx.AsyncClient(base_url=gateway.url, timeout=10) as restored:

            async def sentinel() -> str | None:
                r = await place(restored, api_keys["alice"], client_order_id=f"s-{coid}")
                return r.json()["id"] if r.status_code == 202 else None

            sentinel_id = await eventually(sentinel, timeout=30, interval=0.25)
        await wait_status(client, api_keys["alice"], sentinel_id, "new")
        listing = await client.get("/api/v1/orders?limit=500", headers=auth(api_keys["alice"]))
        assert coid not in {o["client_order_id"] for o in listing.json()["data"]}
    finally:
        # In a thread: the gateway's last words to the broker (basic.cancel) pass through the
        # proxy, which runs on this event loop; a blocking stop starved it for the whole
        # shutdown grace (10 s), as in test_status_backlogs.py.
        await asyncio.to_thread(gateway.stop)
        await proxy.stop()


async def test_orders_service_down_is_a_fast_503_not_a_hang(
    system: System, api_keys: dict[str, str], extra_gateway: list[ServiceProcess]
) -> None:
    gateway = system.another_gateway(
        "gateway-no-orders", TRADEWIND_GATEWAY_ORDERS_URL=f"http://127.0.0.1:{free_port()}"
    )
    extra_gateway.append(gateway)
    await gateway.wait_ready()
    async with httpx.AsyncClient(base_url=gateway.url, timeout=10) as http:
        for _ in range(8):  # enough to open the breaker
            started = time.monotonic()
            response = await http.get(
                f"/api/v1/orders/{uuid.uuid4()}", headers=auth(api_keys["alice"])
            )
            assert response.status_code == 503
            assert response.headers["content-type"] == "application/problem+json"
            assert "retry-after" in response.headers
            assert time.monotonic() - started < 5
        metrics = (await http.get("/metrics")).text
    assert 'tradewind_circuit_breaker_state{breaker="orders"} 2.0' in metrics


async def test_request_id_is_echoed_and_health_and_metrics_are_served(
    client: httpx.AsyncClient, system: System
) -> None:
    response = await client.get("/health/ready", headers={"X-Request-ID": "abc-123"})
    assert response.status_code == 200
    assert response.headers["x-request-id"] == "abc-123"
    assert response.json()["checks"] == {
        "broker": {"status": "up"},
        "redis": {"status": "up"},
        "credentials": {"status": "up"},
    }
    generated = await client.get("/health/live")
    assert len(generated.headers["x-request-id"]) == 32
    async with httpx.AsyncClient(base_url=system.orders.url, headers=INTERNAL_HEADERS) as orders:
        ready = (await orders.get("/health/ready")).json()
        assert set(ready["checks"]) == {"postgres", "broker"}
        assert "tradewind_messages_consumed_total" in (await orders.get("/metrics")).text
    json.dumps(ready)
