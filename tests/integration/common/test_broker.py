"""The broker client against a real RabbitMQ: confirms, routing, retry and park, reconnect."""

from __future__ import annotations

import asyncio
import itertools
import uuid

import aio_pika
import asyncpg
import pytest
from opentelemetry import trace
from pydantic import BaseModel

from support.infra import Infra
from support.polling import eventually
from tradewind.common.broker import (
    Binding,
    Broker,
    BrokerUnavailable,
    Delivery,
    Outgoing,
    PermanentFailure,
    PublishRejected,
    QueueSpec,
    Topology,
)
from tradewind.common.broker.client import PUBLISHES_PER_LOOP_TURN
from tradewind.common.envelope import CloudEvent, new_event
from tradewind.common.tracing import configure_tracing


class Ping(BaseModel):
    n: int


def ping(n: int, event_type: str = "test.ping") -> CloudEvent:
    return new_event(source="/tests", data=Ping(n=n), event_type=event_type)


def commands_queue(topology: Topology, name: str = "worker") -> QueueSpec:
    return QueueSpec(
        topology.queue_name("test", name), bindings=[Binding(topology.commands, "test.*")]
    )


async def count_messages(broker: Broker, queue: str) -> int:
    connection = await aio_pika.connect(broker.url)
    async with connection:
        channel = await connection.channel()
        declared = await channel.declare_queue(queue, passive=True)
        return declared.declaration_result.message_count or 0


async def test_published_command_is_consumed_and_acked(broker: Broker, topology: Topology) -> None:
    received: list[tuple[CloudEvent, Delivery]] = []

    async def handler(event: CloudEvent, delivery: Delivery) -> None:
        received.append((event, delivery))

    spec = commands_queue(topology)
    await broker.consume(spec, handler)
    sent = ping(1)
    await broker.publish_command(sent)

    await eventually(lambda: asyncio.sleep(0, received), message="command not consumed")
    event, delivery = received[0]
    assert event == sent
    assert delivery.message_id == sent.id
    assert delivery.attempt == 1
    await eventually(lambda: _is(count_messages(broker, spec.name), 0), message="message not acked")


async def _is(awaitable: object, expected: int) -> bool:
    assert asyncio.iscoroutine(awaitable)
    return bool(await awaitable == expected)


async def test_unroutable_command_is_an_error(broker: Broker) -> None:
    with pytest.raises(PublishRejected):
        await broker.publish_command(ping(1, event_type="nobody.listens"))


async def test_event_without_subscribers_is_kept_not_returned(
    broker: Broker, topology: Topology
) -> None:
    await broker.publish_event(ping(1, event_type="nobody.subscribes"))
    assert await count_messages(broker, topology.unrouted_events) == 1


async def test_poison_message_is_retried_with_backoff_then_parked_and_others_flow(
    broker: Broker, topology: Topology
) -> None:
    attempts: list[int] = []
    handled: list[int] = []

    async def handler(event: CloudEvent, delivery: Delivery) -> None:
        n = event.data_as(Ping).n
        if n == 0:
            attempts.append(delivery.attempt)
            raise RuntimeError("poison")
        handled.append(n)

    spec = commands_queue(topology)
    await broker.consume(spec, handler)
    await broker.publish_command(ping(0))
    for n in range(1, 6):
        await broker.publish_command(ping(n))

    await eventually(lambda: asyncio.sleep(0, sorted(handled) == [1, 2, 3, 4, 5]))
    await eventually(
        lambda: _is(count_messages(broker, spec.parking_lot), 1),
        message="poison message not parked",
    )
    assert attempts == [1, 2, 3]


async def test_a_store_outage_longer_than_every_attempt_parks_nothing(
    broker: Broker, topology: Topology
) -> None:
    """The handler's database is down for more failures than the message has attempts (3 here):
    none of them is the message's fault, so it is handled once the store is back, not parked."""
    failures_left = 6
    attempts: list[int] = []

    async def handler(event: CloudEvent, delivery: Delivery) -> None:
        nonlocal failures_left
        attempts.append(delivery.attempt)
        if failures_left:
            failures_left -= 1
            raise asyncpg.CannotConnectNowError("the database system is shutting down")

    spec = commands_queue(topology)
    await broker.consume(spec, handler)
    await broker.publish_command(ping(1))

    await eventually(lambda: asyncio.sleep(0, len(attempts) == 7), timeout=20)
    assert attempts == [1] * 7  # no attempt spent on the outage
    await eventually(lambda: _is(count_messages(broker, spec.name), 0), message="not acked")
    assert await count_messages(broker, spec.parking_lot) == 0


async def test_a_message_that_only_ever_meets_an_outage_is_parked_in_the_end(
    infra: Infra, topology: Topology
) -> None:
    client = Broker(
        infra.amqp_url, topology, service="test", max_attempts=3, max_unavailable_retries=2
    )
    await client.connect()
    try:
        calls = 0

        async def handler(event: CloudEvent, delivery: Delivery) -> None:
            nonlocal calls
            calls += 1
            raise ConnectionRefusedError(111, "Connection refused")

        spec = commands_queue(topology)
        await client.consume(spec, handler)
        await client.publish_command(ping(1))
        await eventually(lambda: _is(count_messages(client, spec.parking_lot), 1), timeout=20)
        assert calls == 3  # the first try and two retries
    finally:
        await client.close()


async def test_permanent_failure_is_parked_without_retry(
    broker: Broker, topology: Topology
) -> None:
    attempts: list[int] = []

    async def handler(event: CloudEvent, delivery: Delivery) -> None:
        attempts.append(delivery.attempt)
        raise PermanentFailure("cannot ever work")

    spec = commands_queue(topology)
    await broker.consume(spec, handler)
    await broker.publish_command(ping(1))
    await eventually(lambda: _is(count_messages(broker, spec.parking_lot), 1))
    assert attempts == [1]


async def test_unreadable_envelope_is_parked(broker: Broker, topology: Topology) -> None:
    async def handler(event: CloudEvent, delivery: Delivery) -> None:
        raise AssertionError("must not be called")

    spec = commands_queue(topology)
    await broker.consume(spec, handler)
    await broker.publish(
        topology.commands, "test.garbage", b"{not json", message_id="x1", message_type="test.x"
    )
    await eventually(lambda: _is(count_messages(broker, spec.parking_lot), 1))


async def test_consumers_resume_after_broker_closes_connections(
    broker: Broker, topology: Topology, infra: Infra
) -> None:
    received: list[int] = []

    async def handler(event: CloudEvent, delivery: Delivery) -> None:
        received.append(event.data_as(Ping).n)

    await broker.consume(commands_queue(topology), handler)
    await broker.publish_command(ping(1))
    await eventually(lambda: asyncio.sleep(0, received == [1]))

    await asyncio.to_thread(infra.close_broker_connections)

    await eventually(lambda: published(broker, ping(2)), timeout=30, interval=0.2)
    await eventually(lambda: asyncio.sleep(0, 2 in received), timeout=30)


async def published(broker: Broker, command: CloudEvent) -> bool:
    """Whether ``command`` was published: False while the broker is not back."""
    try:
        await broker.publish_command(command)
    except (BrokerUnavailable, PublishRejected):
        return False
    return True


async def test_trace_context_travels_in_amqp_headers(broker: Broker, topology: Topology) -> None:
    configure_tracing("test")
    seen: list[str] = []

    async def handler(event: CloudEvent, delivery: Delivery) -> None:
        context = trace.get_current_span().get_span_context()
        seen.append(format(context.trace_id, "032x"))

    await broker.consume(commands_queue(topology), handler)
    with trace.get_tracer("test").start_as_current_span("producer") as span:
        expected = format(span.get_span_context().trace_id, "032x")
        await broker.publish_command(ping(1))
    await eventually(lambda: asyncio.sleep(0, seen))
    assert seen == [expected]


async def test_publish_while_broker_unreachable_raises_unavailable(
    amqp_proxy: tuple[object, str], topology: Topology
) -> None:
    proxy, url = amqp_proxy
    client = Broker(url, topology, service="test", publish_timeout_s=2)
    await client.connect()
    try:
        proxy.cut()  # type: ignore[attr-defined]
        with pytest.raises(BrokerUnavailable):
            await client.publish_event(ping(uuid.uuid4().int % 1000))
    finally:
        await client.close()


async def test_publishes_that_time_out_leave_the_channel_able_to_confirm(
    infra: Infra, topology: Topology
) -> None:
    # A timeout that cancelled aiormq mid-publish used to desynchronise the channel's delivery
    # tags: every later publish then waited for a confirm that never matched.
    client = Broker(infra.amqp_url, topology, service="test", publish_timeout_s=0.0005)
    await client.connect()
    try:
        outcomes = await asyncio.gather(
            *(client.publish_event(ping(n)) for n in range(300)), return_exceptions=True
        )
        assert any(isinstance(outcome, BrokerUnavailable) for outcome in outcomes)
        client.publish_timeout_s = 5
        for n in range(20):
            await client.publish_event(ping(n))  # raises unless confirmed
    finally:
        await client.close()


async def test_a_publish_carries_the_properties_it_was_given(
    broker: Broker, topology: Topology
) -> None:
    # The publish path builds the AMQP properties itself (no aio-pika Message): what a consumer
    # reads must be exactly what the publisher said.
    spec = commands_queue(topology, "properties")
    await broker.declare_queue(spec)
    sent = ping(7)
    await broker.publish(
        topology.commands,
        "test.ping",
        sent.to_json(),
        message_id=sent.id,
        message_type=sent.type,
        headers={"x-note": "kept"},
        correlation_id="corr-1",
        persistent=False,
        priority=3,
    )
    connection = await aio_pika.connect(broker.url)
    async with connection:
        channel = await connection.channel()
        queue = await channel.declare_queue(spec.name, passive=True)
        message = await queue.get(timeout=5)
        assert message is not None
        await message.ack()
    assert CloudEvent.from_json(message.body) == sent
    assert message.message_id == sent.id
    assert message.type == sent.type
    assert message.correlation_id == "corr-1"
    assert message.priority == 3
    assert message.delivery_mode == aio_pika.DeliveryMode.NOT_PERSISTENT
    assert message.app_id == broker.service
    assert message.content_type == "application/cloudevents+json"
    assert message.timestamp is not None
    assert message.headers is not None
    assert message.headers["x-note"] == "kept"


async def test_concurrent_publishes_on_one_channel_are_each_confirmed_once(
    broker: Broker, topology: Topology
) -> None:
    # Publishes do not wait for the socket under the channel's lock: hundreds at once must all
    # be confirmed, each message in the queue once.
    spec = commands_queue(topology, "concurrent")
    await broker.declare_queue(spec)
    await asyncio.gather(*(broker.publish_command(ping(n)) for n in range(500)))
    await eventually(
        lambda: _is(count_messages(broker, spec.name), 500), message="not 500 messages queued"
    )


async def test_a_large_publish_many_is_confirmed_in_order_and_leaves_the_loop_turns(
    broker: Broker, topology: Topology
) -> None:
    # An outbox pass or a hand-off publishes a batch's events at once. They must all be
    # confirmed and queued in order, and start a few per event-loop turn, so that a probe or a
    # read of the same process is not kept waiting behind a hundred publishes.
    spec = commands_queue(topology, "many")
    await broker.declare_queue(spec)
    sent = [ping(n) for n in range(100)]
    messages = [
        Outgoing(
            exchange=topology.commands,
            routing_key="test.ping",
            body=event.to_json(),
            message_id=event.id,
            message_type=event.type,
            headers={},
        )
        for event in sent
    ]
    tasks_per_turn: list[int] = []
    publishing = asyncio.ensure_future(broker.publish_many(messages))
    while not publishing.done():
        tasks_per_turn.append(len(asyncio.all_tasks()))
        await asyncio.sleep(0)
    assert await publishing == [None] * len(messages)
    started_per_turn = [later - earlier for earlier, later in itertools.pairwise(tasks_per_turn)]
    assert max(started_per_turn) <= PUBLISHES_PER_LOOP_TURN
    assert max(tasks_per_turn) - tasks_per_turn[0] > PUBLISHES_PER_LOOP_TURN, (
        "the publishes did not overlap: each waited for the one before"
    )

    connection = await aio_pika.connect(broker.url)
    async with connection:
        channel = await connection.channel()
        queue = await channel.declare_queue(spec.name, passive=True)
        received: list[str | None] = []
        for _ in sent:
            message = await queue.get(timeout=5)
            assert message is not None
            await message.ack()
            received.append(message.message_id)
    assert received == [event.id for event in sent]
