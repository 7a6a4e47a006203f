"""Run-time flags against the running system: each fault flag on gives its documented effect
(docs/operations.md, Flags), off gives normal behaviour back, and a flag aimed at one account
leaves the others alone. Flags are switched by rewriting the system's watched flags file; each
test waits until the services have loaded the version it wrote, and leaves every flag off."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Mapping
from typing import Any

import aio_pika
import httpx
import pytest

from e2e.harness import MAX_ATTEMPTS, Spy, System, auth
from e2e.trading import order_in
from support.flags_file import (
    Definition,
    FlagsFile,
    for_accounts,
    for_services,
    injections,
    switch,
    wait_loaded,
)
from support.polling import eventually
from support.webhook_receiver import WebhookReceiver, serving_webhook_receiver
from tradewind.common.broker import QueueSpec, Topology
from tradewind.common.flags import Fault, Feature

pytestmark = pytest.mark.e2e

ORDERS = "/api/v1/orders"
RESTING_BUY = {"symbol": "SPY", "side": "buy", "type": "limit", "qty": "1", "limit_price": "1.00"}


class SystemFlags:
    def __init__(self, system: System, file: FlagsFile) -> None:
        self.system = system
        self.file = file

    async def set(self, flags: Mapping[str, Definition]) -> None:
        """Write ``flags`` (all others off) and wait until every service has loaded them."""
        mtime = self.file.write(flags)
        system = self.system
        services = [system.gateway, system.orders, system.market_data, system.webhooks]
        await wait_loaded(mtime, *(service.url for service in services))


@pytest.fixture
async def flags(system: System, system_flags: FlagsFile) -> AsyncIterator[SystemFlags]:
    switched = SystemFlags(system, system_flags)
    try:
        yield switched
    finally:
        await switched.set({})


async def new_account(system: System, prefix: str) -> tuple[str, str]:
    account = f"{prefix}-{uuid.uuid4().hex[:8]}"
    return account, (await system.create_key(account)).secret


async def place(client: httpx.AsyncClient, key: str, **headers: str) -> httpx.Response:
    return await client.post(ORDERS, json=RESTING_BUY, headers={**auth(key), **headers})


async def accepted(client: httpx.AsyncClient, key: str) -> dict[str, Any]:
    """Place a resting order and wait until orders has accepted it."""
    response = await place(client, key)
    assert response.status_code == 202, response.text
    return await order_in(client, key, response.json()["id"], "new", timeout=20)


async def test_command_delay_holds_the_flagged_accounts_commands_only(
    system: System, client: httpx.AsyncClient, flags: SystemFlags
) -> None:
    delayed, delayed_key = await new_account(system, "delayed")
    _, other_key = await new_account(system, "prompt")
    fault = Fault.ORDERS_COMMAND_DELAY_MS
    await flags.set({fault: for_accounts([delayed], 1_500, 0)})
    before = await injections(system.orders.url, fault)

    started = time.monotonic()
    await accepted(client, delayed_key)

    assert time.monotonic() - started >= 1.5  # the batch waited out the delay first
    assert await injections(system.orders.url, fault) == before + 1
    await accepted(client, other_key)
    assert await injections(system.orders.url, fault) == before + 1  # not delayed

    await flags.set({})
    await accepted(client, delayed_key)
    assert await injections(system.orders.url, fault) == before + 1


async def test_failed_commands_are_retried_then_parked_and_go_through_once_replayed(
    system: System, client: httpx.AsyncClient, flags: SystemFlags
) -> None:
    failing, key = await new_account(system, "failing")
    fault = Fault.ORDERS_COMMAND_FAILURE_SHARE
    await flags.set({fault: for_accounts([failing], 1, 0)})
    before = await injections(system.orders.url, fault)

    placed = await place(client, key)
    assert placed.status_code == 202, placed.text
    order_id = placed.json()["id"]

    async def every_attempt_failed() -> bool:
        return await injections(system.orders.url, fault) >= before + MAX_ATTEMPTS

    await eventually(every_attempt_failed, timeout=20, message="the attempts did not all fail")
    topology = Topology(system.namespace, ())
    lot = QueueSpec(topology.queue_name("orders", "commands")).parking_lot
    connection = await aio_pika.connect(system.infra.amqp_url)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        parked = await eventually(
            lambda: _parked_command_of(channel, lot, failing), message="the command not parked"
        )
        assert parked.headers["tradewind-attempt"] == MAX_ATTEMPTS
        assert (await client.get(f"{ORDERS}/{order_id}", headers=auth(key))).json()[
            "status"
        ] == "pending_new"

        await flags.set({})
        await accepted(client, key)  # new commands of the account go through at once
        # The runbook's replay: back to the queue through the requeue exchange, under its name.
        requeue = await channel.get_exchange(topology.requeue)
        await requeue.publish(
            aio_pika.Message(
                parked.body,
                headers=dict(parked.headers),
                message_id=parked.message_id,
                type=parked.type,
                content_type=parked.content_type,
            ),
            routing_key=topology.queue_name("orders", "commands"),
        )
        await parked.ack()

    await order_in(client, key, order_id, "new", timeout=20)
    assert await injections(system.orders.url, fault) == before + MAX_ATTEMPTS


async def _parked_command_of(
    channel: aio_pika.abc.AbstractChannel, lot: str, account: str
) -> aio_pika.abc.AbstractIncomingMessage | None:
    """The account's message in the parking lot, taken (unacked); the lot is shared with other
    tests, whose messages go back when the channel closes."""
    queue = await channel.declare_queue(lot, passive=True)
    while (message := await queue.get(no_ack=False, fail=False)) is not None:
        if account.encode() in message.body:
            return message
    return None


@pytest.fixture
async def receiver() -> AsyncIterator[WebhookReceiver]:
    async with serving_webhook_receiver() as receiver:
        yield receiver


async def test_webhook_attempts_fail_with_500_while_the_fault_is_on(
    system: System, client: httpx.AsyncClient, flags: SystemFlags, receiver: WebhookReceiver
) -> None:
    partner, key = await new_account(system, "partner")
    endpoint = await client.post(
        "/api/v1/webhooks/endpoints",
        json={"url": receiver.url, "event_types": ["order.accepted"]},
        headers=auth(key),
    )
    assert endpoint.status_code == 201, endpoint.text
    attempts_url = f"/api/v1/webhooks/endpoints/{endpoint.json()['id']}/attempts"
    fault = Fault.WEBHOOKS_DELIVERY_FAILURE_SHARE
    await flags.set({fault: for_accounts([partner], 1, 0)})
    before = await injections(system.webhooks.url, fault)

    await accepted(client, key)

    async def failed_attempts() -> list[dict[str, Any]] | None:
        items: list[dict[str, Any]] = (await client.get(attempts_url, headers=auth(key))).json()[
            "items"
        ]
        return items if len(items) >= 2 else None

    attempts = await eventually(failed_attempts, timeout=20, message="no retried attempt")
    assert {(a["status_code"], a["succeeded"]) for a in attempts} == {(500, False)}
    assert receiver.bodies() == []  # nothing was sent
    assert await injections(system.webhooks.url, fault) >= before + 2

    await flags.set({})
    order = await accepted(client, key)

    async def delivered() -> bool:
        return order["id"] in receiver.order_ids()

    await eventually(delivered, timeout=20, message="the partner never got the event")


async def test_gateway_writes_fail_closed_and_reads_open_while_redis_fails(
    system: System, client: httpx.AsyncClient, flags: SystemFlags
) -> None:
    _, key = await new_account(system, "redis")
    await flags.set({Fault.GATEWAY_REDIS_FAILURE: switch(True)})

    refused = await place(client, key)
    read = await client.get(ORDERS, headers=auth(key))
    ready = await client.get("/health/ready")

    assert refused.status_code == 503, refused.text
    assert refused.json()["type"] == "urn:tradewind:problem:dependency-unavailable"
    assert "retry-after" in refused.headers
    assert read.status_code == 200, read.text
    assert "ratelimit" not in read.headers  # served without counting
    assert ready.status_code == 503
    assert ready.json()["checks"]["redis"]["status"] == "down"

    await flags.set({})
    await accepted(client, key)
    assert (await client.get(ORDERS, headers=auth(key))).headers["ratelimit"]
    assert (await client.get("/health/ready")).status_code == 200


async def test_a_dropped_confirm_is_a_503_for_a_command_that_went_out_and_a_retry_places_once(
    system: System,
    client: httpx.AsyncClient,
    flags: SystemFlags,
    commands_spy: Spy,
) -> None:
    account, key = await new_account(system, "confirms")
    idempotency = {"Idempotency-Key": f'"{uuid.uuid4()}"'}
    await flags.set({Fault.BROKER_DROP_PUBLISH_CONFIRMS: for_services(["gateway"], True, False)})

    unconfirmed = await place(client, key, **idempotency)

    assert unconfirmed.status_code == 503, unconfirmed.text
    assert unconfirmed.json()["type"] == "urn:tradewind:problem:broker-unavailable"
    assert "did not confirm" in unconfirmed.json()["detail"]

    async def sent() -> list[Any]:
        return [e for e in commands_spy.events("orders.place") if e.accountid == account]

    sent_commands = await eventually(sent, message="the command never reached the broker")
    await flags.set({})
    retried = await place(client, key, **idempotency)
    assert retried.status_code == 202, retried.text
    order_id = retried.json()["id"]
    assert order_id == sent_commands[0].data["order_id"]
    await order_in(client, key, order_id, "new", timeout=20)
    listed = (await client.get(ORDERS, headers=auth(key))).json()["data"]
    assert [o["id"] for o in listed] == [order_id]


async def test_order_entry_can_be_switched_off_for_one_account(
    system: System, client: httpx.AsyncClient, flags: SystemFlags
) -> None:
    barred, barred_key = await new_account(system, "barred")
    _, other_key = await new_account(system, "allowed")
    entry = Feature.GATEWAY_ORDER_ENTRY_ENABLED
    await flags.set({entry: for_accounts([barred], False, True)})

    refused = await place(client, barred_key)

    assert refused.status_code == 403, refused.text
    assert refused.json()["type"] == "urn:tradewind:problem:order-entry-disabled"
    await accepted(client, other_key)

    await flags.set({})
    await accepted(client, barred_key)
