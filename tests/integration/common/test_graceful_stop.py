"""Stopping a consumer gracefully against a real RabbitMQ: what was taken is finished, what was
not stays in the queue untouched, and a handler that will not finish does not hold the stop."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aio_pika
import pytest

from integration.common.test_batches import Recorder, publish_all
from integration.common.test_broker import commands_queue
from support.infra import Infra
from support.polling import eventually
from tradewind.common.broker import Broker, Delivery, QueueSpec, Topology
from tradewind.common.envelope import CloudEvent


@pytest.fixture
async def stopping_broker(infra: Infra, topology: Topology) -> AsyncIterator[Broker]:
    client = Broker(
        infra.amqp_url, topology, service="test", publish_timeout_s=3, shutdown_grace_s=120
    )
    await client.connect()
    yield client
    await client.close()


async def left_in_queue(broker: Broker, spec: QueueSpec) -> list[tuple[int, bool]]:
    """Take every message left in the queue: (its number, whether it had been delivered before)."""
    connection = await aio_pika.connect(broker.url)
    left: list[tuple[int, bool]] = []
    async with connection:
        channel = await connection.channel()
        queue = await channel.declare_queue(spec.name, passive=True)
        while (message := await queue.get(no_ack=True, fail=False)) is not None:
            number = int(message.body.split(b'"n":')[1].split(b"}")[0])
            left.append((number, bool(message.redelivered)))
    return left


def assert_taken_finished_and_rest_untouched(
    finished: list[int], left: list[tuple[int, bool]], published: int
) -> None:
    assert len(finished) == len(set(finished)), f"a message was handled twice: {finished}"
    left_numbers = [number for number, _ in left]
    assert sorted(finished + left_numbers) == list(range(1, published + 1)), "a message was lost"
    assert not [n for n, redelivered in left if redelivered], (
        "a message this consumer took went back to the queue instead of being finished"
    )


async def test_a_batch_in_hand_and_those_buffered_are_finished_and_the_rest_stay_queued(
    stopping_broker: Broker, topology: Topology
) -> None:
    broker = stopping_broker
    recorder = Recorder()
    recorder.release.clear()  # the first batch waits: it is in hand when the stop begins
    spec = commands_queue(topology, "stopping-batches")
    await broker.consume_batches(spec, recorder, max_batch=10, max_wait_s=0.005)
    await publish_all(broker, range(1, 201))
    await eventually(lambda: asyncio.sleep(0, recorder.batches), message="nothing handled")

    stopping = asyncio.create_task(broker.stop_consuming())
    await eventually(lambda: asyncio.sleep(0, not broker.consuming), message="not cancelled")
    assert not stopping.done(), "the stop did not wait for the batch in hand"
    recorder.release.set()
    # Well before the grace runs out: the stop ends when the work does, not at the grace.
    await eventually(lambda: asyncio.sleep(0, stopping.done()), timeout=30, message="stop hangs")

    assert len(recorder.committed) >= 10, "the batch in hand was not finished"
    left = await left_in_queue(broker, spec)
    assert left, "the consumer took everything: nothing shows that the rest stays queued"
    assert_taken_finished_and_rest_untouched(recorder.committed, left, 200)


async def test_handlers_in_flight_are_finished_and_the_rest_stay_queued(
    stopping_broker: Broker, topology: Topology
) -> None:
    broker = stopping_broker
    started: list[int] = []
    finished: list[int] = []
    release = asyncio.Event()

    async def handler(event: CloudEvent, delivery: Delivery) -> None:
        started.append(event.data["n"])
        await release.wait()
        finished.append(event.data["n"])

    spec = commands_queue(topology, "stopping-handlers")
    await broker.consume(spec, handler)
    await publish_all(broker, range(1, 101))
    await eventually(lambda: asyncio.sleep(0, started), message="nothing handled")

    stopping = asyncio.create_task(broker.stop_consuming())
    await eventually(lambda: asyncio.sleep(0, not broker.consuming), message="not cancelled")
    assert not stopping.done(), "the stop did not wait for the handlers in flight"
    release.set()
    await eventually(lambda: asyncio.sleep(0, stopping.done()), timeout=30, message="stop hangs")

    assert sorted(finished) == sorted(started), "a handler in flight was cut off"
    left = await left_in_queue(broker, spec)
    assert left, "the consumer took everything: nothing shows that the rest stays queued"
    assert_taken_finished_and_rest_untouched(finished, left, 100)


async def test_a_handler_that_never_finishes_is_cut_off_at_the_grace_and_nothing_is_lost(
    infra: Infra, topology: Topology
) -> None:
    broker = Broker(
        infra.amqp_url, topology, service="test", publish_timeout_s=3, shutdown_grace_s=0.2
    )
    await broker.connect()
    started: list[int] = []

    async def handler(event: CloudEvent, delivery: Delivery) -> None:
        started.append(event.data["n"])
        await asyncio.Event().wait()

    spec = commands_queue(topology, "stopping-stuck")
    try:
        await broker.consume(spec, handler)
        await publish_all(broker, range(1, 21))
        await eventually(lambda: asyncio.sleep(0, len(started) == 20), message="not all taken")
    finally:
        # Bounded by the grace, not by the handler: a hang here fails the test by its timeout.
        await broker.close()

    left = await left_in_queue(broker, spec)
    assert sorted(number for number, _ in left) == list(range(1, 21)), "a message was lost"
    assert all(redelivered for _, redelivered in left), "they were taken before the stop"
