"""The events queue is bound only to what enabled endpoints subscribe to, across processes."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg

from integration.webhooks.conftest import ServiceFactory
from integration.webhooks.harness import (
    Receiver,
    Service,
    always,
    delete_endpoint,
    market_quote,
    new_endpoint,
    order_accepted,
)
from support.broker_view import UnroutedEvents, delete_queue, queue_bindings
from support.infra import Infra
from support.polling import eventually
from tradewind.common.broker import Broker, QueueSpec, Topology
from tradewind.common.db import create_pool
from tradewind.webhooks.adapters.bindings import EventBindings
from tradewind.webhooks.bootstrap import events_queue
from tradewind.webhooks.domain.events import WebhookEndpointDisabled
from unit.webhooks.spec_verifier import verify


async def broker_bindings(infra: Infra, service: Service) -> set[str]:
    topology = Topology(service.settings.shared.namespace)
    return await queue_bindings(infra, topology.events, events_queue(topology).name)


async def received(receiver: Receiver, hook: str, count: int) -> None:
    async def enough() -> bool:
        return len(receiver.at(hook)) >= count

    await eventually(enough, message=f"{count} requests at /{hook}")


async def test_with_no_endpoint_no_event_reaches_the_events_queue(
    infra: Infra, service: Service, unrouted: UnroutedEvents
) -> None:
    order, quote = order_accepted("acc-1"), market_quote("X")
    await service.publish(order)
    await service.publish_quote(quote)

    await unrouted.wait_for(order.id)
    await unrouted.wait_for(quote.id)
    assert await broker_bindings(infra, service) == set()
    assert await service.recorded_bindings() == set()


async def test_an_order_endpoint_gets_the_next_order_event_while_quotes_pass_by(
    infra: Infra, service: Service, receiver: Receiver, unrouted: UnroutedEvents
) -> None:
    endpoint = await service.create_endpoint("acc-1", receiver.url("hook"), event_types=["order.*"])
    order = order_accepted("acc-1")
    await service.publish(order)  # right after the 201: the binding is already in place
    await received(receiver, "hook", 1)

    delivery = receiver.at("hook")[0]
    verify(endpoint["secret"], delivery.headers, delivery.body)
    assert json.loads(delivery.body)["data"] == order.data
    quote = market_quote("X")
    await service.publish_quote(quote)
    await unrouted.wait_for(quote.id)
    assert await broker_bindings(infra, service) == {"order.#"}
    assert await service.recorded_bindings() == {"order.#"}


async def test_deleting_the_last_endpoint_of_a_filter_removes_its_binding(
    infra: Infra, service: Service, receiver: Receiver, unrouted: UnroutedEvents
) -> None:
    first = await service.create_endpoint("acc-1", receiver.url("one"), event_types=["order.*"])
    second = await service.create_endpoint("acc-2", receiver.url("two"), event_types=["order.*"])

    await service.delete_endpoint("acc-1", first["id"])
    assert await service.recorded_bindings() == {"order.#"}
    await service.publish(order_accepted("acc-2"))
    await received(receiver, "two", 1)

    await service.delete_endpoint("acc-2", second["id"])
    assert await service.recorded_bindings() == set()
    assert await broker_bindings(infra, service) == set()
    order = order_accepted("acc-2")
    await service.publish(order)
    await unrouted.wait_for(order.id)


async def test_disabling_unbinds_enabling_binds_again_and_new_filters_move_the_binding(
    infra: Infra, service: Service, receiver: Receiver, unrouted: UnroutedEvents
) -> None:
    endpoint = await service.create_endpoint("acc-1", receiver.url("hook"), event_types=["order.*"])

    await service.update_endpoint("acc-1", endpoint["id"], enabled=False)
    assert await service.recorded_bindings() == set()
    while_disabled = order_accepted("acc-1")
    await service.publish(while_disabled)
    await unrouted.wait_for(while_disabled.id)

    await service.update_endpoint("acc-1", endpoint["id"], enabled=True)
    assert await service.recorded_bindings() == {"order.#"}
    await service.publish(order_accepted("acc-1"))
    await received(receiver, "hook", 1)

    await service.update_endpoint("acc-1", endpoint["id"], event_types=["order.filled"])
    assert await service.recorded_bindings() == {"order.filled"}
    assert await broker_bindings(infra, service) == {"order.filled"}
    no_longer_wanted = order_accepted("acc-1")
    await service.publish(no_longer_wanted)
    await unrouted.wait_for(no_longer_wanted.id)


async def test_an_endpoint_disabled_by_its_answers_stops_costing_a_binding(
    service_factory: ServiceFactory, infra: Infra, receiver: Receiver, unrouted: UnroutedEvents
) -> None:
    receiver.on("gone", always(410))
    async with service_factory(bindings_reconcile_interval_s=0.2) as service:
        await service.create_endpoint("acc-1", receiver.url("gone"), event_types=["order.*"])
        await service.publish(order_accepted("acc-1"))
        await service.wait_for_event(WebhookEndpointDisabled.TYPE)

        async def unbound() -> bool:
            return await service.recorded_bindings() == set()

        await eventually(unbound, message="the disabled endpoint's binding is still recorded")
        assert await broker_bindings(infra, service) == set()
        order = order_accepted("acc-1")
        await service.publish(order)
        await unrouted.wait_for(order.id)


async def test_two_instances_changing_endpoints_at_once_end_with_exactly_the_bindings_needed(
    service_factory: ServiceFactory, infra: Infra, receiver: Receiver
) -> None:
    async with service_factory() as first, service_factory() as second:

        async def churn(service: Service, account: str, filters: list[str]) -> None:
            # Each deletion unbinds the filter's pattern unless someone else still needs it.
            for _ in range(4):
                created = await service.create_endpoint(
                    account, receiver.url("churn"), event_types=filters
                )
                await service.delete_endpoint(account, created["id"])

        async def keep(service: Service, account: str, filters: list[str]) -> dict[str, Any]:
            return await service.create_endpoint(account, receiver.url("kept"), event_types=filters)

        work = [
            churn(first, "churn-1", ["order.*"]),
            churn(second, "churn-2", ["order.*"]),
            churn(first, "churn-3", ["market.quote.*"]),
            churn(second, "churn-4", ["instrument.listed"]),
            keep(second, "keep-1", ["order.*"]),
            keep(first, "keep-2", ["market.quote.*"]),
            keep(first, "keep-3", ["instrument.listed"]),
        ]
        outcomes = await asyncio.gather(*work)
        disabled = outcomes[-1]
        assert disabled is not None
        await second.update_endpoint("keep-3", disabled["id"], enabled=False)

        needed = {"order.#", "market.quote.#"}
        assert await first.recorded_bindings() == needed
        assert await broker_bindings(infra, first) == needed
        await first.publish(order_accepted("keep-1"))
        await received(receiver, "kept", 1)


async def test_a_restart_binds_the_recorded_patterns_again_on_a_recreated_queue(
    service_factory: ServiceFactory, infra: Infra, namespace: str, receiver: Receiver
) -> None:
    async with service_factory() as service:
        await service.create_endpoint("acc-1", receiver.url("hook"), event_types=["order.*"])
    # Deleted while the service is down (an operator, a lost broker): the record still says
    # "order.#", and the restarted consumer declares the queue without it.
    await delete_queue(infra.amqp_url, events_queue(Topology(namespace)).name)

    async with service_factory() as restarted:
        assert await broker_bindings(infra, restarted) == {"order.#"}
        await restarted.publish(order_accepted("acc-1"))
        await received(receiver, "hook", 1)


# --- the lock, step by step: two processes' reconciles without the service around them ---


class PausingBroker(Broker):
    """The real broker client, whose unbinds wait, once paused, until the test lets them go on."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.paused = False
        self.unbinding = asyncio.Event()
        self.go_on = asyncio.Event()

    async def unbind(self, queue: QueueSpec, exchange: str, routing_key: str) -> None:
        if self.paused:
            self.unbinding.set()
            await self.go_on.wait()
        await super().unbind(queue, exchange, routing_key)


@asynccontextmanager
async def process(database_url: str, broker: Broker) -> AsyncIterator[EventBindings]:
    """What one webhooks process reconciles with: its own database pool and broker connection."""
    pool = await create_pool(database_url, max_size=4)
    await broker.connect()
    try:
        yield EventBindings(
            pool,
            broker,
            queue=events_queue(broker.topology),
            exchange=broker.topology.events,
        )
    finally:
        await broker.close()
        await pool.close()


_WAITING_FOR_AN_ADVISORY_LOCK = (
    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
    " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
)


async def test_an_unbind_racing_with_a_creation_does_not_lose_the_creators_binding(
    database_url: str, infra: Infra, namespace: str
) -> None:
    topology = Topology(namespace)
    pausing = PausingBroker(infra.amqp_url, topology, service="test-deleter")
    async with (
        process(database_url, pausing) as deleter,
        process(database_url, Broker(infra.amqp_url, topology, service="test-creator")) as creator,
    ):
        pool: asyncpg.Pool = deleter.pool
        last = await new_endpoint(pool, "acc-1", ["order.*"])
        await deleter.reconcile()
        await delete_endpoint(pool, last.id, "acc-1")

        # The deleter has read the endpoints (none needs "order.#") and is about to unbind it...
        pausing.paused = True
        deleting = asyncio.create_task(deleter.reconcile())

        async def about_to_unbind() -> bool:
            return pausing.unbinding.is_set()

        await eventually(about_to_unbind)
        # ...when another process commits an endpoint that needs it, and reconciles.
        await new_endpoint(pool, "acc-2", ["order.*"])
        creating = asyncio.create_task(creator.reconcile())

        async def creator_finished_or_waits_for_the_lock() -> bool:
            if creating.done():
                return True
            return bool(await pool.fetchval(_WAITING_FOR_AN_ADVISORY_LOCK))

        await eventually(creator_finished_or_waits_for_the_lock)
        pausing.go_on.set()
        await asyncio.gather(deleting, creating)

        recorded = {
            row["pattern"] for row in await pool.fetch("SELECT pattern FROM event_bindings")
        }
        assert recorded == {"order.#"}
        assert await queue_bindings(infra, topology.events, events_queue(topology).name) == {
            "order.#"
        }


async def test_a_binding_restored_by_a_reconnect_after_another_process_removed_it_goes_again(
    database_url: str, infra: Infra, namespace: str
) -> None:
    topology = Topology(namespace)
    queue = events_queue(topology).name
    binder_broker = Broker(infra.amqp_url, topology, service="test-a")
    async with (
        process(database_url, binder_broker) as binder,
        process(database_url, Broker(infra.amqp_url, topology, service="test-b")) as remover,
    ):
        endpoint = await new_endpoint(binder.pool, "acc-1", ["order.*"])
        await binder.reconcile()
        await delete_endpoint(binder.pool, endpoint.id, "acc-1")
        await remover.reconcile()
        assert await queue_bindings(infra, topology.events, queue) == set()

        # aio-pika's robust queue re-applies what the binder bound, unaware of the removal.
        await asyncio.to_thread(infra.close_broker_connections)

        async def restored() -> bool:
            return await queue_bindings(infra, topology.events, queue) == {"order.#"}

        await eventually(restored, timeout=30, interval=0.5, message="binding not restored")
        await eventually(lambda: asyncio.sleep(0, binder_broker.is_connected), timeout=30)
        await binder.reconcile()
        assert await queue_bindings(infra, topology.events, queue) == set()
