"""A broker in memory, for handler tests that need no RabbitMQ.

It keeps the contract handlers rely on from the real ``Broker``, nothing more:

- topic routing from the bindings a queue was declared with or given later (``bind``, ``unbind``;
  ``*`` one word, ``#`` any number);
  a command nobody is bound for is refused (``PublishRejected``, as a mandatory publish is); an
  event nobody is bound for is kept in ``unrouted`` (the events exchange's alternate);
- a message is acked only once its handler returned; a handler that raises gets the message
  again with the next attempt number (the delay tiers are skipped: time is the test's business),
  and after ``max_attempts`` it is parked (a failure because a store is unreachable spends no
  attempt, up to ``max_unavailable_retries`` of them); an unreadable envelope or a
  ``PermanentFailure`` is
  parked at once; a message its handler ``Deferred`` is set aside in ``deferred`` (no delay
  tiers: ``release_deferred`` puts those messages back when the test decides they are due);
  priorities are not modelled (publication order);
- batches as ``broker.batches`` hands them out: up to ``max_batch`` of what is waiting, the
  handler's ``BatchOutcome`` settles each message, and a batch whose handler raises is handled
  again one message at a time, so a poison message is parked alone.

Nothing runs until the test calls ``drain``, which delivers until every queue is empty, in
publication order per queue: a test decides when handlers run and reads the outcome after.
"""

from __future__ import annotations

import uuid
from collections import defaultdict, deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tradewind.common.broker.batches import BatchHandler, BatchOutcome, Incoming
from tradewind.common.broker.client import Delivery, Handler
from tradewind.common.broker.errors import Deferred, PermanentFailure, PublishRejected
from tradewind.common.broker.topology import Binding, QueueSpec, Topology
from tradewind.common.envelope import CloudEvent, EncodedEvent, EnvelopeError
from tradewind.common.resilience.unavailable import is_dependency_unavailable


@dataclass
class _Message:
    exchange: str
    routing_key: str
    body: bytes
    message_id: str
    attempt: int = 1
    unavailable_retries: int = 0


@dataclass
class _Consumer:
    spec: QueueSpec
    handler: Handler | None = None
    batch_handler: BatchHandler | None = None
    max_batch: int = 1


class InMemoryBroker:
    def __init__(
        self,
        topology: Topology | None = None,
        *,
        max_attempts: int = 5,
        max_unavailable_retries: int = 120,
    ) -> None:
        self._topology = topology or Topology("memory")
        self.max_attempts = max_attempts
        self.max_unavailable_retries = max_unavailable_retries
        self.published: list[tuple[str, str, CloudEvent]] = []
        self.unrouted: list[CloudEvent] = []
        self.acked: defaultdict[str, list[str]] = defaultdict(list)
        self.parked: defaultdict[str, list[bytes]] = defaultdict(list)
        self.deferred: defaultdict[str, list[_Message]] = defaultdict(list)
        self._consumers: dict[str, _Consumer] = {}
        self._waiting: dict[str, deque[_Message]] = {}
        self._bindings: dict[str, set[Binding]] = {}

    @property
    def topology(self) -> Topology:
        return self._topology

    # --- consuming (the MessageBus protocol) ---

    async def consume(self, spec: QueueSpec, handler: Handler) -> QueueSpec:
        self._declare(_Consumer(spec, handler=handler))
        return spec

    async def consume_batches(
        self, spec: QueueSpec, handler: BatchHandler, *, max_batch: int, max_wait_s: float
    ) -> QueueSpec:
        self._declare(_Consumer(spec, batch_handler=handler, max_batch=max_batch))
        return spec

    def _declare(self, consumer: _Consumer) -> None:
        if consumer.spec.name in self._consumers:
            raise ValueError(f"{consumer.spec.name} already has a consumer")
        self._consumers[consumer.spec.name] = consumer
        self._waiting[consumer.spec.name] = deque()
        self._bindings[consumer.spec.name] = set(consumer.spec.bindings)

    async def bind(self, queue: QueueSpec, exchange: str, routing_key: str) -> None:
        """Bind a consumed queue at run time, as ``Broker.bind`` does."""
        self._bindings[queue.name].add(Binding(exchange, routing_key))

    async def unbind(self, queue: QueueSpec, exchange: str, routing_key: str) -> None:
        self._bindings[queue.name].discard(Binding(exchange, routing_key))

    # --- publishing ---

    async def publish_event(
        self,
        event: CloudEvent | EncodedEvent,
        *,
        exchange: str | None = None,
        routing_key: str | None = None,
        headers: Mapping[str, Any] | None = None,
        persistent: bool = True,
        priority: int | None = None,
    ) -> None:
        target = exchange or self._topology.events
        key = routing_key or event.type
        body = event.to_json()
        self._route(target, key, body, event.id)
        # What consumers would read: an encoded event as the CloudEvent its JSON holds.
        published = event if isinstance(event, CloudEvent) else CloudEvent.from_json(body)
        self.published.append((target, key, published))

    async def publish_command(
        self, command: CloudEvent | EncodedEvent, *, priority: int | None = None
    ) -> None:
        await self.publish_event(command, exchange=self._topology.commands, priority=priority)

    async def publish_raw(
        self, exchange: str, routing_key: str, body: bytes, *, message_id: str | None = None
    ) -> None:
        """A message as bytes, e.g. one that is not a CloudEvent at all."""
        self._route(exchange, routing_key, body, message_id or str(uuid.uuid4()))

    def _route(self, exchange: str, routing_key: str, body: bytes, message_id: str) -> None:
        bound = [
            name
            for name, bindings in self._bindings.items()
            if any(
                binding.exchange == exchange and topic_matches(binding.routing_key, routing_key)
                for binding in bindings
            )
        ]
        if not bound:
            if exchange == self._topology.events:
                self.unrouted.append(CloudEvent.from_json(body))
                return
            raise PublishRejected(f"no queue bound for {exchange}/{routing_key}")
        for name in bound:
            self._waiting[name].append(_Message(exchange, routing_key, body, message_id))

    # --- delivering ---

    async def drain(self, *, max_deliveries: int = 10_000) -> None:
        """Deliver until no queue holds a message (retries included)."""
        deliveries = 0
        while any(self._waiting.values()):
            for name, consumer in self._consumers.items():
                if not self._waiting[name]:
                    continue
                deliveries += 1
                if deliveries > max_deliveries:
                    raise RuntimeError(f"still delivering after {max_deliveries} deliveries")
                if consumer.batch_handler is not None:
                    await self._deliver_batch(consumer, consumer.batch_handler)
                elif consumer.handler is not None:
                    await self._deliver_one(consumer, consumer.handler)

    def release_deferred(self) -> None:
        """Put every deferred message back in its queue (its attempt unchanged)."""
        for name, messages in self.deferred.items():
            self._waiting[name].extend(messages)
            messages.clear()

    def parked_events(self, queue: str) -> list[CloudEvent]:
        return [CloudEvent.from_json(body) for body in self.parked[queue]]

    async def _deliver_one(self, consumer: _Consumer, handler: Handler) -> None:
        message = self._waiting[consumer.spec.name].popleft()
        try:
            event = CloudEvent.from_json(message.body)
            await handler(event, self._delivery(consumer, message))
        except Deferred:
            self.deferred[consumer.spec.name].append(message)
            return
        except Exception as exc:
            self._fail(consumer, message, exc)
            return
        self.acked[consumer.spec.name].append(message.message_id)

    async def _deliver_batch(self, consumer: _Consumer, handler: BatchHandler) -> None:
        waiting = self._waiting[consumer.spec.name]
        taken = [waiting.popleft() for _ in range(min(len(waiting), consumer.max_batch))]
        readable: list[tuple[Incoming, _Message]] = []
        for message in taken:
            try:
                event = CloudEvent.from_json(message.body)
            except EnvelopeError as exc:
                self._fail(consumer, message, exc)
                continue
            readable.append((Incoming(event, self._delivery(consumer, message), {}), message))
        if not readable:
            return
        try:
            outcome = await handler([incoming for incoming, _ in readable])
        except Exception as exc:
            if len(readable) == 1:
                self._fail(consumer, readable[0][1], exc)
                return
            for incoming, message in readable:
                try:
                    alone = await handler([incoming])
                except Exception as alone_exc:
                    self._fail(consumer, message, alone_exc)
                    continue
                self._settle(consumer, [message], alone)
            return
        self._settle(consumer, [message for _, message in readable], outcome)

    def _settle(self, consumer: _Consumer, messages: list[_Message], outcome: BatchOutcome) -> None:
        for position, message in enumerate(messages):
            if position in outcome.park:
                self.parked[consumer.spec.name].append(message.body)
            elif position in outcome.retry:
                self._fail(consumer, message, outcome.retry[position])
            else:
                self.acked[consumer.spec.name].append(message.message_id)

    def _fail(self, consumer: _Consumer, message: _Message, error: Exception) -> None:
        if is_dependency_unavailable(error):
            if message.unavailable_retries >= self.max_unavailable_retries:
                self.parked[consumer.spec.name].append(message.body)
            else:
                message.unavailable_retries += 1
                self._waiting[consumer.spec.name].append(message)
            return
        permanent = isinstance(error, EnvelopeError | PermanentFailure)
        if permanent or message.attempt >= self.max_attempts:
            self.parked[consumer.spec.name].append(message.body)
            return
        message.attempt += 1
        self._waiting[consumer.spec.name].append(message)

    @staticmethod
    def _delivery(consumer: _Consumer, message: _Message) -> Delivery:
        return Delivery(
            queue=consumer.spec.name,
            message_id=message.message_id,
            attempt=message.attempt,
            redelivered=False,
            routing_key=message.routing_key,
            exchange=message.exchange,
        )


def topic_matches(pattern: str, routing_key: str) -> bool:
    """AMQP topic matching: words split on dots, ``*`` is one word, ``#`` zero or more."""
    return _words_match(pattern.split("."), routing_key.split("."))


def _words_match(pattern: list[str], words: list[str]) -> bool:
    if not pattern:
        return not words
    head, rest = pattern[0], pattern[1:]
    if head == "#":
        return any(_words_match(rest, words[skip:]) for skip in range(len(words) + 1))
    return bool(words) and head in ("*", words[0]) and _words_match(rest, words[1:])
