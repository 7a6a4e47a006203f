"""Consuming in batches against a real RabbitMQ: group commit with per-message guarantees."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import aio_pika

from integration.common.test_broker import commands_queue, count_messages, ping
from support.polling import eventually
from tradewind.common.broker import BatchOutcome, Broker, Incoming, QueueSpec, Topology


class Recorder:
    """A batch handler that commits what it is given, unless told to fail."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.committed: list[int] = []
        self.poison: set[int] = set()
        self.retry_once: set[int] = set()
        self.park: set[int] = set()
        self.release = asyncio.Event()
        self.release.set()

    async def __call__(self, batch: Sequence[Incoming]) -> BatchOutcome:
        numbers = [incoming.event.data["n"] for incoming in batch]
        self.batches.append(numbers)
        await self.release.wait()
        if self.poison & set(numbers):
            raise RuntimeError("a poison message fails its whole transaction")
        outcome = BatchOutcome()
        for position, n in enumerate(numbers):
            if n in self.retry_once:
                self.retry_once.discard(n)
                outcome.retry[position] = LookupError("not yet")
            elif n in self.park:
                outcome.park[position] = ValueError("never")
            else:
                self.committed.append(n)
        return outcome


async def publish_all(broker: Broker, numbers: range) -> None:
    await asyncio.gather(*(broker.publish_command(ping(n)) for n in numbers))


async def parked_numbers(broker: Broker, spec: QueueSpec) -> list[int]:
    connection = await aio_pika.connect(broker.url)
    numbers: list[int] = []
    async with connection:
        channel = await connection.channel()
        queue = await channel.declare_queue(spec.parking_lot, passive=True)
        while (message := await queue.get(no_ack=True, fail=False)) is not None:
            numbers.append(int(message.body.split(b'"n":')[1].split(b"}")[0]))
    return sorted(numbers)


async def test_messages_that_arrive_together_are_handled_together_in_delivery_order(
    broker: Broker, topology: Topology
) -> None:
    recorder = Recorder()
    recorder.release.clear()  # the first batch waits, so the rest pile up behind it
    spec = commands_queue(topology, "batched")
    await broker.consume_batches(spec, recorder, max_batch=50, max_wait_s=0.005)

    await publish_all(broker, range(1, 41))
    await eventually(lambda: asyncio.sleep(0, recorder.batches), message="nothing handled")
    recorder.release.set()

    await eventually(lambda: asyncio.sleep(0, len(recorder.committed) == 40))
    assert sorted(recorder.committed) == list(range(1, 41)), "each message committed once"
    assert any(len(batch) > 1 for batch in recorder.batches), recorder.batches
    assert all(batch == sorted(batch) for batch in recorder.batches), "in delivery order"
    await eventually(lambda: _empty(broker, spec), message="messages not acked")


async def _empty(broker: Broker, spec: QueueSpec) -> bool:
    return await count_messages(broker, spec.name) == 0


async def test_a_message_that_comes_alone_does_not_wait_for_company(
    broker: Broker, topology: Topology
) -> None:
    # A wait of a minute: were a lone message held for company, it would miss the deadline.
    recorder = Recorder()
    spec = commands_queue(topology, "alone")
    await broker.consume_batches(spec, recorder, max_batch=50, max_wait_s=60)

    await publish_all(broker, range(1, 2))
    await eventually(lambda: asyncio.sleep(0, recorder.committed == [1]), timeout=10)
    await publish_all(broker, range(2, 3))
    await eventually(lambda: asyncio.sleep(0, recorder.committed == [1, 2]), timeout=10)
    assert recorder.batches == [[1], [2]]


async def test_a_message_is_acked_only_after_its_batch_is_handled(
    broker: Broker, topology: Topology
) -> None:
    recorder = Recorder()
    recorder.release.clear()
    spec = commands_queue(topology, "held")
    await broker.consume_batches(spec, recorder, max_batch=10, max_wait_s=0)
    await publish_all(broker, range(1, 4))
    await eventually(lambda: asyncio.sleep(0, recorder.batches), message="nothing handled")

    # The handler has the messages but has not returned: the consumer's channel goes away. It
    # never returns, so waiting the default shutdown grace for it (10 s) would only cost time.
    broker.shutdown_grace_s = 0.2
    await broker.close()
    second = Broker(broker.url, topology, service="test-2", max_attempts=3)
    await second.connect()
    try:
        again = Recorder()
        await second.consume_batches(spec, again, max_batch=10, max_wait_s=0)
        await eventually(lambda: asyncio.sleep(0, sorted(again.committed) == [1, 2, 3]))
    finally:
        await second.close()
    assert recorder.committed == [], "the first consumer never finished"


async def test_a_poison_message_fails_its_batch_then_only_it_is_retried_and_parked(
    broker: Broker, topology: Topology
) -> None:
    recorder = Recorder()
    recorder.poison = {7}
    recorder.release.clear()
    spec = commands_queue(topology, "poisoned")
    await broker.consume_batches(spec, recorder, max_batch=50, max_wait_s=0.005)

    await publish_all(broker, range(1, 21))
    await eventually(lambda: asyncio.sleep(0, recorder.batches), message="nothing handled")
    recorder.release.set()

    await eventually(
        lambda: parked(broker, spec, count=1), timeout=15, message="the poison was not parked"
    )
    assert sorted(recorder.committed) == [n for n in range(1, 21) if n != 7]
    assert [7] in recorder.batches, "the poison was tried on its own"
    assert await parked_numbers(broker, spec) == [7]
    await eventually(lambda: _empty(broker, spec), message="messages not acked")


async def parked(broker: Broker, spec: QueueSpec, *, count: int) -> bool:
    return await count_messages(broker, spec.parking_lot) == count


async def test_the_handler_decides_per_message_what_is_retried_and_what_is_parked(
    broker: Broker, topology: Topology
) -> None:
    recorder = Recorder()
    recorder.retry_once = {2}
    recorder.park = {3}
    spec = commands_queue(topology, "per-message")
    await broker.consume_batches(spec, recorder, max_batch=10, max_wait_s=0.05)

    await publish_all(broker, range(1, 5))

    await eventually(lambda: asyncio.sleep(0, sorted(recorder.committed) == [1, 2, 4]))
    assert await parked_numbers(broker, spec) == [3]
    assert recorder.committed.count(2) == 1, "the retried message was committed on its retry"


async def test_an_unreadable_envelope_is_parked_and_the_rest_of_its_batch_handled(
    broker: Broker, topology: Topology
) -> None:
    recorder = Recorder()
    spec = commands_queue(topology, "unreadable")
    await broker.consume_batches(spec, recorder, max_batch=10, max_wait_s=0.05)
    connection = await aio_pika.connect(broker.url)
    async with connection:
        channel = await connection.channel()
        exchange = await channel.get_exchange(topology.commands)
        await exchange.publish(aio_pika.Message(b"not json", message_id="bad"), "test.ping")
    await broker.publish_command(ping(1))

    await eventually(lambda: asyncio.sleep(0, recorder.committed == [1]))
    await eventually(lambda: parked(broker, spec, count=1), message="not parked")
