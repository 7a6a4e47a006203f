"""Idempotency-Key on the gateway's writes (draft-ietf-httpapi-idempotency-key-header-07)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest
from aiohttp import web

from integration.gateway.conftest import LIMIT_ORDER, PlacedCommands, StartGateway
from support.infra import Infra
from support.polling import eventually
from support.services import free_port
from support.tcp_proxy import TcpProxy

ORDERS = "/api/v1/orders"
Issue = Callable[..., Awaitable[dict[str, str]]]


def with_key(headers: dict[str, str], key: str) -> dict[str, str]:
    return {**headers, "Idempotency-Key": f'"{key}"'}


def answer_of(response: httpx.Response) -> tuple[int, bytes, str | None, str | None]:
    return (
        response.status_code,
        response.content,
        response.headers.get("content-type"),
        response.headers.get("location"),
    )


async def test_a_retry_gets_the_first_answer_again_and_places_nothing(
    gateways: tuple[StartGateway, PlacedCommands], issue_key: Issue
) -> None:
    start, placed = gateways
    client = await start()
    headers = with_key(await issue_key(), str(uuid.uuid4()))
    first = await client.post(ORDERS, json=LIMIT_ORDER, headers=headers)
    assert first.status_code == 202
    assert "idempotent-replayed" not in first.headers

    again = await client.post(ORDERS, json=LIMIT_ORDER, headers=headers)
    assert answer_of(again) == answer_of(first)
    assert again.headers["idempotent-replayed"] == "true"
    assert again.headers["ratelimit"].startswith('"orders";r=198;')  # a retry is a request too
    assert await placed.count() == 1


async def test_the_same_key_for_another_request_is_a_422_and_accounts_never_share_keys(
    gateways: tuple[StartGateway, PlacedCommands], issue_key: Issue
) -> None:
    start, placed = gateways
    client = await start()
    key = str(uuid.uuid4())
    alice = await issue_key(account="alice-idem")
    assert (await client.post(ORDERS, json=LIMIT_ORDER, headers=with_key(alice, key))).is_success

    other_body = await client.post(
        ORDERS, json={**LIMIT_ORDER, "qty": "2"}, headers=with_key(alice, key)
    )
    assert other_body.status_code == 422
    assert other_body.json()["type"] == "urn:tradewind:problem:idempotency-key-reused"
    alices_other_key = await issue_key(account="alice-idem")
    other_api_key = await client.post(
        ORDERS, json=LIMIT_ORDER, headers=with_key(alices_other_key, key)
    )
    assert other_api_key.status_code == 422
    # Another account's requests with the same key are its own.
    bob = await client.post(ORDERS, json=LIMIT_ORDER, headers=with_key(await issue_key(), key))
    assert bob.status_code == 202
    assert "idempotent-replayed" not in bob.headers
    assert await placed.count() == 2

    malformed = await client.post(
        ORDERS, json=LIMIT_ORDER, headers={**alice, "Idempotency-Key": '"a'}
    )
    assert malformed.status_code == 400
    assert malformed.json()["type"] == "urn:tradewind:problem:invalid-idempotency-key"


async def test_the_first_answer_is_kept_for_the_configured_time_only(
    gateways: tuple[StartGateway, PlacedCommands], issue_key: Issue
) -> None:
    start, placed = gateways
    client = await start(idempotency_ttl_s=1)
    headers = with_key(await issue_key(), str(uuid.uuid4()))
    first = await client.post(ORDERS, json=LIMIT_ORDER, headers=headers)
    assert (await client.post(ORDERS, json=LIMIT_ORDER, headers=headers)).content == first.content

    async def placed_anew() -> httpx.Response | None:
        response = await client.post(ORDERS, json=LIMIT_ORDER, headers=headers)
        assert response.status_code == 202
        return None if "idempotent-replayed" in response.headers else response

    anew = await eventually(placed_anew, timeout=10, message="the stored answer never expired")
    # Answered anew, but the same request under the same key names the same order, which the
    # orders service places once: a key never places an order twice, however late the retry.
    assert anew.json()["id"] == first.json()["id"]
    another_key = with_key(headers, str(uuid.uuid4()))
    other = await client.post(ORDERS, json=LIMIT_ORDER, headers=another_key)
    assert other.json()["id"] != first.json()["id"]
    assert await placed.take_order_ids() == [first.json()["id"]] * 2 + [other.json()["id"]]


async def test_a_retry_after_a_lost_confirm_names_the_same_order(
    gateways: tuple[StartGateway, PlacedCommands], issue_key: Issue, infra: Infra
) -> None:
    start, placed = gateways
    amqp = urlsplit(infra.amqp_url)
    proxy = await TcpProxy(amqp.hostname or "127.0.0.1", amqp.port or 5672).start()
    try:
        credentials = f"{amqp.username}:{amqp.password}"
        through_proxy = urlunsplit(amqp._replace(netloc=f"{credentials}@127.0.0.1:{proxy.port}"))
        client = await start(
            shared={"amqp_url": through_proxy, "publish_timeout_s": 0.5, "shutdown_grace_s": 0.5}
        )
        headers = with_key(await issue_key(), str(uuid.uuid4()))

        # The command reaches the broker; its confirm never reaches the gateway.
        proxy.lose_replies()
        unknown = await client.post(ORDERS, json=LIMIT_ORDER, headers=headers)
        assert unknown.status_code == 503
        assert "may or may not" in unknown.json()["detail"]
        assert "retry-after" in unknown.headers

        proxy.cut()  # the gateway notices the dead connection and reconnects
        proxy.restore()

        async def accepted() -> httpx.Response | None:
            retry = await client.post(ORDERS, json=LIMIT_ORDER, headers=headers)
            assert retry.status_code in (202, 503), retry.text
            return retry if retry.status_code == 202 else None

        # Every retry spends a unit of the key's `orders` budget (200 a minute) while the gateway
        # reconnects (about 4 s): polled every 20 ms, a fast gateway spent it all and got 429.
        retried = await eventually(
            accepted, timeout=30, interval=0.1, message="the retry was never accepted"
        )
        order_id = retried.json()["id"]
        # Two commands arrived, both for one order: the orders service places an order id once
        # (tests/integration/orders/test_handlers.py), so the client's retry placed nothing twice.
        assert await placed.take_order_ids() == [order_id, order_id]
    finally:
        await proxy.stop()


async def test_fifty_concurrent_retries_place_one_order(
    gateways: tuple[StartGateway, PlacedCommands], issue_key: Issue
) -> None:
    start, placed = gateways
    clients = [await start() for _ in range(2)]
    headers = with_key(await issue_key(), str(uuid.uuid4()))

    responses = await asyncio.gather(
        *(clients[n % 2].post(ORDERS, json=LIMIT_ORDER, headers=headers) for n in range(50))
    )

    assert {r.status_code for r in responses} <= {202, 409}
    accepted = [r for r in responses if r.status_code == 202]
    order_ids = {r.json()["id"] for r in accepted}
    assert len(order_ids) == 1  # the first answer, and replays of it
    for response in responses:
        if response.status_code == 409:
            assert response.json()["type"] == "urn:tradewind:problem:idempotency-key-in-use"
    after = await clients[0].post(ORDERS, json=LIMIT_ORDER, headers=headers)
    assert after.status_code == 202
    assert {after.json()["id"]} == order_ids
    assert await placed.count() == 1


class HeldOrders:
    """A stand-in orders service whose order lookups wait for the test and answer as told."""

    def __init__(self) -> None:
        self.port = free_port()
        self.calls = 0
        self.status = 404
        self.gate = asyncio.Event()
        self.gate.set()

    async def _lookup(self, request: web.Request) -> web.Response:
        self.calls += 1
        await self.gate.wait()
        if self.status == 404:
            return web.json_response(
                {"type": "urn:tradewind:problem:not-found", "title": "Order not found"},
                status=404,
                content_type="application/problem+json",
            )
        return web.json_response({"title": "boom"}, status=self.status)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/internal/v1/accounts/{account}/orders/{order}", self._lookup)
        return app


@pytest.fixture
async def held_orders() -> AsyncIterator[HeldOrders]:
    held = HeldOrders()
    runner = web.AppRunner(held.app())
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", held.port).start()
    try:
        yield held
    finally:
        held.gate.set()
        await runner.cleanup()


async def test_a_retry_while_the_first_is_in_flight_is_a_409_then_gets_its_answer(
    gateways: tuple[StartGateway, PlacedCommands], issue_key: Issue, held_orders: HeldOrders
) -> None:
    start, _ = gateways
    client = await start(orders_url=f"http://127.0.0.1:{held_orders.port}")
    headers = with_key(await issue_key(), str(uuid.uuid4()))
    cancel = f"{ORDERS}/{uuid.uuid4()}"
    held_orders.gate.clear()
    first = asyncio.create_task(client.delete(cancel, headers=headers))
    await eventually(lambda: _at_least(held_orders.calls, 1), message="the cancel never ran")

    retry = await client.delete(cancel, headers=headers)
    assert retry.status_code == 409
    assert retry.headers["retry-after"] == "1"
    held_orders.gate.set()
    answered = await first
    assert answered.status_code == 404

    replayed = await client.delete(cancel, headers=headers)
    assert answer_of(replayed) == answer_of(answered)
    assert replayed.headers["idempotent-replayed"] == "true"
    assert held_orders.calls == 1


async def test_a_5xx_is_not_kept_so_a_retry_runs_again(
    gateways: tuple[StartGateway, PlacedCommands], issue_key: Issue, held_orders: HeldOrders
) -> None:
    start, _ = gateways
    client = await start(orders_url=f"http://127.0.0.1:{held_orders.port}")
    headers = with_key(await issue_key(), str(uuid.uuid4()))
    cancel = f"{ORDERS}/{uuid.uuid4()}"
    held_orders.status = 500  # the gateway answers a service's failure on one request with 502
    assert (await client.delete(cancel, headers=headers)).status_code == 502
    calls = held_orders.calls

    held_orders.status = 404
    retried = await client.delete(cancel, headers=headers)
    assert retried.status_code == 404
    assert "idempotent-replayed" not in retried.headers
    assert held_orders.calls == calls + 1


async def _at_least(value: int, minimum: int) -> bool:
    return value >= minimum
