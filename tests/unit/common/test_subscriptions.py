"""Declarative subscriptions and the in-memory broker: bindings follow what handlers declare,
payloads arrive decoded, and failures are retried and parked as on RabbitMQ."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import ClassVar

import pytest

from tradewind.common.broker import (
    BatchOutcome,
    Binding,
    Deferred,
    Delivery,
    Incoming,
    MessageHandlers,
    PermanentFailure,
    PublishRejected,
    Subscriptions,
    Topology,
    declared_types,
    handles,
)
from tradewind.common.broker.memory import InMemoryBroker, topic_matches
from tradewind.common.contracts import Contract, Instrument, InstrumentListed, Quote
from tradewind.common.contracts.types import utc_now
from tradewind.common.envelope import CloudEvent, new_event
from tradewind.orders.handlers import command_queue, instrument_queue, jobs_queue, quote_queue

TOPOLOGY = Topology("unit")


def listing(symbol: str) -> CloudEvent:
    instrument = Instrument(
        symbol=symbol, name=symbol, tick_size=Decimal("0.01"), lot_size=Decimal(1)
    )
    return new_event(
        source="/test", data=InstrumentListed(instrument=instrument), event_type="instrument.listed"
    )


def quote(symbol: str, sequence: int = 1) -> CloudEvent:
    data = Quote(
        symbol=symbol,
        bid_price=Decimal("99"),
        bid_size=Decimal(100),
        ask_price=Decimal("100"),
        ask_size=Decimal(100),
        timestamp=utc_now(),
        sequence=sequence,
    )
    return new_event(source="/test", data=data, event_type=Quote.TYPE)


class Recorder:
    """Takes listings and quotes; fails a chosen symbol's messages a number of times."""

    def __init__(
        self, *, failures: dict[str, int] | None = None, outages: dict[str, int] | None = None
    ) -> None:
        self.failures = dict(failures or {})
        self.outages = dict(outages or {})
        self.seen: list[tuple[str, int]] = []
        self.due = False
        self.handle = MessageHandlers.of(self)

    def _maybe_fail(self, symbol: str) -> None:
        if self.failures.get(symbol, 0) > 0:
            self.failures[symbol] -= 1
            raise RuntimeError(f"{symbol}: fails")
        if self.outages.get(symbol, 0) > 0:
            self.outages[symbol] -= 1
            raise ConnectionRefusedError(111, "the handler's database is down")
        if symbol == "POISON":
            raise PermanentFailure("never")
        if symbol == "LATER" and not self.due:
            raise Deferred(1.5)

    @handles(InstrumentListed)
    async def on_listed(self, listed: InstrumentListed, event: CloudEvent, d: Delivery) -> None:
        self._maybe_fail(listed.instrument.symbol)
        self.seen.append((listed.instrument.symbol, d.attempt))

    @handles(Quote)
    async def on_quote(self, data: Quote, event: CloudEvent, d: Delivery) -> None:
        self._maybe_fail(data.symbol)
        self.seen.append((f"quote:{data.symbol}", d.attempt))


async def started(recorder: Recorder, *, max_attempts: int = 3) -> InMemoryBroker:
    broker = InMemoryBroker(TOPOLOGY, max_attempts=max_attempts)
    subscriptions = Subscriptions("svc")
    subscriptions.consume("market", recorder.handle)
    await subscriptions.start(broker)
    return broker


# --- declarations ---


def test_a_queue_is_bound_to_exactly_the_types_its_handler_declares() -> None:
    subscriptions = Subscriptions("svc")
    subscriptions.consume("market", Recorder())
    [queue] = subscriptions.queues(TOPOLOGY)
    assert queue.name == "unit.svc.market"
    assert list(queue.bindings) == [
        Binding("unit.events", "instrument.listed"),
        Binding("unit.events", "market.quote.*"),  # quotes are routed by symbol
    ]
    assert declared_types(Recorder) == (InstrumentListed, Quote)


def test_the_orders_queues_follow_their_handlers_declarations() -> None:
    assert list(command_queue(TOPOLOGY).bindings) == [
        Binding("unit.commands", "orders.place"),
        Binding("unit.commands", "orders.cancel"),
        Binding("unit.commands", "orders.replace"),
        Binding("unit.commands", "orders.block_trading"),
        Binding("unit.commands", "orders.unblock_trading"),
    ]
    assert list(instrument_queue(TOPOLOGY).bindings) == [
        Binding("unit.events", "instrument.listed")
    ]
    assert list(quote_queue(TOPOLOGY).bindings) == [Binding("unit.events", "market.quote.*")]
    jobs = jobs_queue(TOPOLOGY)
    assert list(jobs.bindings) == [Binding("unit.commands", "jobs.statement")]
    # A priority queue, consumed one job at a time so that priorities order what waits.
    assert (jobs.max_priority, jobs.prefetch) == (2, 1)


def test_a_deferred_message_waits_the_longest_tier_that_does_not_pass_its_time() -> None:
    topology = Topology("t", (100, 1_000, 10_000))
    assert [topology.tier_at_most(ms) for ms in (0, 99, 100, 5_000, 10_000, 99_999)] == [
        100,
        100,
        100,
        1_000,
        10_000,
        10_000,
    ]


def test_declaring_a_type_twice_or_a_handler_of_nothing_is_refused() -> None:
    handlers = MessageHandlers()

    @handlers.on(Quote)
    async def first(data: Quote, event: CloudEvent, delivery: Delivery) -> None: ...

    with pytest.raises(ValueError, match="already has a handler"):
        handlers.on(Quote)(first)
    with pytest.raises(ValueError, match="takes no message type"):
        Subscriptions("svc").consume("nothing", MessageHandlers())


@pytest.mark.parametrize(
    ("pattern", "key", "matches"),
    [
        ("market.quote.*", "market.quote.AAPL", True),
        ("market.quote.*", "market.quote", False),
        ("market.quote.*", "market.quote.A.B", False),
        ("order.#", "order", True),
        ("order.#", "order.filled", True),
        ("order.#", "order.partially.filled", True),
        ("#", "anything.at.all", True),
        ("#.filled", "order.filled", True),
        ("#.filled", "order.canceled", False),
        ("orders.place", "orders.placed", False),
    ],
)
def test_topic_patterns_match_as_amqp_defines_them(pattern: str, key: str, matches: bool) -> None:
    assert topic_matches(pattern, key) is matches


# --- delivery on the in-memory broker ---


async def test_each_handler_gets_its_payload_decoded_and_the_message_is_acked() -> None:
    recorder = Recorder()
    broker = await started(recorder)
    await broker.publish_event(listing("AAPL"))
    await broker.publish_event(quote("MSFT"), routing_key="market.quote.MSFT")
    await broker.drain()
    assert recorder.seen == [("AAPL", 1), ("quote:MSFT", 1)]
    assert len(broker.acked["unit.svc.market"]) == 2


async def test_a_failing_handler_is_retried_then_parked_after_the_last_attempt() -> None:
    recorder = Recorder(failures={"FLAKY": 2, "DOWN": 99})
    broker = await started(recorder, max_attempts=3)
    await broker.publish_event(listing("FLAKY"))
    await broker.publish_event(listing("DOWN"))
    await broker.drain()
    assert recorder.seen == [("FLAKY", 3)]
    [parked] = broker.parked_events("unit.svc.market")
    assert parked.data_as(InstrumentListed).instrument.symbol == "DOWN"


async def test_a_store_outage_spends_no_attempt_until_its_own_limit() -> None:
    recorder = Recorder(outages={"BACK": 5, "GONE": 99})
    broker = InMemoryBroker(TOPOLOGY, max_attempts=3, max_unavailable_retries=10)
    subscriptions = Subscriptions("svc")
    subscriptions.consume("market", recorder.handle)
    await subscriptions.start(broker)
    await broker.publish_event(listing("BACK"))
    await broker.publish_event(listing("GONE"))
    await broker.drain()
    assert recorder.seen == [("BACK", 1)]  # six tries, more than its three attempts: not parked
    [parked] = broker.parked_events("unit.svc.market")
    assert parked.data_as(InstrumentListed).instrument.symbol == "GONE"


async def test_a_deferred_message_is_set_aside_without_counting_an_attempt() -> None:
    recorder = Recorder()
    broker = await started(recorder)
    await broker.publish_event(listing("LATER"))
    await broker.drain()
    assert recorder.seen == []
    assert len(broker.deferred["unit.svc.market"]) == 1
    recorder.due = True
    broker.release_deferred()
    await broker.drain()
    assert recorder.seen == [("LATER", 1)]


async def test_a_permanent_failure_or_a_bad_payload_is_parked_at_once() -> None:
    recorder = Recorder()
    broker = await started(recorder)
    await broker.publish_event(listing("POISON"))
    bad = quote("X").model_copy(update={"data": {"symbol": "X"}})  # no prices: not a Quote
    await broker.publish_event(bad, routing_key="market.quote.X")
    await broker.publish_raw("unit.events", "instrument.listed", b"not a cloud event")
    await broker.drain()
    assert recorder.seen == []
    assert len(broker.parked["unit.svc.market"]) == 3
    assert broker.acked["unit.svc.market"] == []


async def test_unroutable_commands_are_refused_and_unroutable_events_set_aside() -> None:
    broker = await started(Recorder())
    unbound = quote("X").model_copy(update={"type": "order.filled"})
    await broker.publish_event(unbound)
    assert broker.unrouted == [unbound]
    with pytest.raises(PublishRejected):
        await broker.publish_command(unbound)


class Batches:
    """A batch handler: one commit for the batch unless a message in it is poison."""

    TAKES: ClassVar[tuple[type[Contract], ...]] = (InstrumentListed,)

    def __init__(self) -> None:
        self.committed: list[list[str]] = []

    async def __call__(self, batch: Sequence[Incoming]) -> BatchOutcome:
        symbols = [item.event.data_as(InstrumentListed).instrument.symbol for item in batch]
        if "POISON" in symbols:
            raise RuntimeError("the transaction failed")
        outcome = BatchOutcome()
        for position, symbol in enumerate(symbols):
            if symbol == "LATER":
                outcome.retry[position] = LookupError("not yet")
        self.committed.append([s for s in symbols if s != "LATER"])
        return outcome


async def test_a_poison_message_in_a_batch_is_parked_alone() -> None:
    handler = Batches()
    broker = InMemoryBroker(TOPOLOGY, max_attempts=2)
    subscriptions = Subscriptions("svc")
    subscriptions.consume_batches("listings", handler, max_batch=10)
    await subscriptions.start(broker)
    for symbol in ("A", "B", "POISON", "C"):
        await broker.publish_event(listing(symbol))
    await broker.drain()
    # The batch failed as a whole, then each message went alone: only the poison is parked.
    assert handler.committed == [["A"], ["B"], ["C"]]
    assert [
        e.data_as(InstrumentListed).instrument.symbol
        for e in broker.parked_events("unit.svc.listings")
    ] == ["POISON"]


async def test_a_message_a_batch_defers_is_delivered_again_with_the_next_attempt() -> None:
    handler = Batches()
    broker = InMemoryBroker(TOPOLOGY, max_attempts=2)
    subscriptions = Subscriptions("svc")
    subscriptions.consume_batches("listings", handler, max_batch=10)
    await subscriptions.start(broker)
    for symbol in ("A", "LATER"):
        await broker.publish_event(listing(symbol))
    await broker.drain()
    assert handler.committed == [["A"], []]
    assert len(broker.parked["unit.svc.listings"]) == 1  # deferred past its last attempt
