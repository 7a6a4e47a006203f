"""The broker client's two retry budgets without RabbitMQ: failed attempts, and retries spent
waiting for an unreachable store (which spend no attempt). Each counts in its own header, waits
through the delay tiers, and parks the message when it runs out."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, cast

import pytest
from aio_pika.abc import AbstractIncomingMessage

from tradewind.common.broker import QueueSpec, Topology
from tradewind.common.broker.client import Broker
from tradewind.common.broker.errors import BrokerUnavailable
from tradewind.common.broker.topology import ATTEMPT_HEADER, RETRY_TIER_HEADER, UNAVAILABLE_HEADER

SPEC = QueueSpec("unit.retries")
STORE_DOWN = ConnectionRefusedError(111, "Connection refused")
BUG = ValueError("invalid input")


@dataclass
class FakeMessage:
    """What the client reads of an incoming message, and how it was settled."""

    body: bytes = b"{}"
    message_id: str = "m-1"
    type: str = "orders.place"
    content_type: str | None = None
    timestamp: None = None
    correlation_id: None = None
    priority: None = None
    settled: list[str] = field(default_factory=list)

    async def ack(self) -> None:
        self.settled.append("ack")

    async def nack(self, requeue: bool = True) -> None:
        self.settled.append(f"nack(requeue={requeue})")

    async def reject(self, requeue: bool = False) -> None:
        self.settled.append(f"reject(requeue={requeue})")


@dataclass
class Published:
    headers: list[dict[str, Any]] = field(default_factory=list)
    refuse: bool = False

    async def __call__(self, exchange: str, routing_key: str, body: bytes, **kw: Any) -> None:
        if self.refuse:
            raise BrokerUnavailable("down")
        self.headers.append(dict(kw["headers"]))


@pytest.fixture
def published() -> Published:
    return Published()


@pytest.fixture
def broker(published: Published, monkeypatch: pytest.MonkeyPatch) -> Broker:
    broker = Broker(
        "amqp://unused",
        Topology("unit", (100, 1_000, 10_000)),
        service="test",
        max_attempts=3,
        max_unavailable_retries=2,
    )
    monkeypatch.setattr(broker, "publish", published)
    return broker


async def settle(
    broker: Broker, error: Exception, *, attempt: int, headers: dict[str, Any] | None = None
) -> tuple[str, FakeMessage]:
    message = FakeMessage()
    incoming = cast(AbstractIncomingMessage, message)
    outcome = await broker.retry_or_park(SPEC, incoming, dict(headers or {}), attempt, error)
    return outcome, message


@pytest.mark.parametrize(("attempt", "tier"), [(1, "100ms"), (2, "1000ms")])
async def test_a_failed_attempt_waits_its_tier_and_comes_back_as_the_next_attempt(
    broker: Broker, published: Published, attempt: int, tier: str
) -> None:
    outcome, message = await settle(broker, BUG, attempt=attempt)

    assert (outcome, message.settled) == ("retried", ["ack"])
    (headers,) = published.headers
    assert headers[ATTEMPT_HEADER] == attempt + 1
    assert headers[RETRY_TIER_HEADER] == tier
    assert UNAVAILABLE_HEADER not in headers


async def test_the_last_attempt_parks_the_message(broker: Broker, published: Published) -> None:
    outcome, message = await settle(broker, BUG, attempt=3)

    assert (outcome, message.settled) == ("parked", ["reject(requeue=False)"])
    assert published.headers == []


@pytest.mark.parametrize(("spent", "tier"), [(0, "100ms"), (1, "1000ms")])
async def test_a_store_outage_spends_no_attempt_and_waits_through_the_tiers(
    broker: Broker, published: Published, spent: int, tier: str
) -> None:
    # A message on its last attempt: waiting for a store spends none of it.
    before = {ATTEMPT_HEADER: 3, UNAVAILABLE_HEADER: spent} if spent else {ATTEMPT_HEADER: 3}

    outcome, message = await settle(broker, STORE_DOWN, attempt=3, headers=before)

    assert (outcome, message.settled) == ("retried", ["ack"])
    (headers,) = published.headers
    assert headers[ATTEMPT_HEADER] == 3
    assert headers[UNAVAILABLE_HEADER] == spent + 1
    assert headers[RETRY_TIER_HEADER] == tier


async def test_an_outage_that_outlasts_every_retry_parks_the_message(
    broker: Broker, published: Published
) -> None:
    outcome, message = await settle(broker, STORE_DOWN, attempt=1, headers={UNAVAILABLE_HEADER: 2})

    assert (outcome, message.settled) == ("parked", ["reject(requeue=False)"])
    assert published.headers == []


@pytest.mark.parametrize("error", [BUG, STORE_DOWN], ids=["failed attempt", "store outage"])
async def test_a_retry_the_broker_will_not_take_is_requeued_not_lost(
    broker: Broker, published: Published, error: Exception
) -> None:
    published.refuse = True

    outcome, message = await settle(broker, error, attempt=1)

    assert (outcome, message.settled) == ("requeued", ["nack(requeue=True)"])
