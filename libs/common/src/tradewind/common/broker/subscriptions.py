"""Declarative subscriptions: handlers say which message types they take; queues follow.

A service's consumers used to be wired twice: a handler dispatched on ``event.type`` with
if/elif, and, elsewhere, the queue was bound to the routing keys someone remembered to list.
Here the declaration is the single source: ``MessageHandlers.on(Contract)`` registers a function
of the decoded payload, and the queue a ``Subscriptions`` declares is bound to exactly the
routing keys of the types its handler takes (a contract routed by something finer than its type,
as quotes are by symbol, names its binding pattern in ``Contract.binding_pattern``).

``Subscriptions.start`` consumes every declared queue on a ``MessageBus``: the RabbitMQ
``Broker`` in a service, the ``InMemoryBroker`` (``broker.memory``) in handler tests.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol, TypeVar

from tradewind.common.broker.batches import BatchHandler
from tradewind.common.broker.client import Delivery, Handler
from tradewind.common.broker.topology import Binding, QueueSpec, Topology
from tradewind.common.contracts import Contract
from tradewind.common.envelope import CloudEvent

log = logging.getLogger(__name__)

C = TypeVar("C", bound=Contract)
PayloadHandler = Callable[[C, CloudEvent, Delivery], Awaitable[None]]
F = TypeVar("F", bound=Callable[..., Awaitable[None]])
Exchange = Literal["commands", "events"]


class MessageBus(Protocol):
    """What consuming needs of a broker: the real one and the in-memory one both provide it."""

    @property
    def topology(self) -> Topology: ...

    async def consume(self, spec: QueueSpec, handler: Handler) -> object: ...

    async def consume_batches(
        self, spec: QueueSpec, handler: BatchHandler, *, max_batch: int, max_wait_s: float
    ) -> object: ...


_HANDLES = "__tradewind_handles__"


def handles(contract: type[Contract]) -> Callable[[F], F]:
    """Mark a handler method as the one for ``contract``: ``MessageHandlers.of(obj)`` finds it.

    The method is called with the payload decoded to ``contract``, the envelope and the
    delivery. Its class's declared types (``declared_types``) are known without an instance.
    """

    def mark(method: F) -> F:
        setattr(method, _HANDLES, contract)
        return method

    return mark


def declared_types(handler_class: type) -> tuple[type[Contract], ...]:
    """The message types a handler class takes: its ``@handles`` methods, else its ``TAKES``."""
    marked = tuple(
        getattr(member, _HANDLES)
        for member in vars(handler_class).values()
        if hasattr(member, _HANDLES)
    )
    return marked or tuple(getattr(handler_class, "TAKES", ()))


def queue_spec(
    topology: Topology,
    service: str,
    purpose: str,
    takes: Sequence[type[Contract]],
    exchange: Exchange = "events",
    *,
    max_priority: int | None = None,
    prefetch: int | None = None,
) -> QueueSpec:
    """The queue of ``service`` for ``purpose``, bound to exactly the types it takes (a
    priority queue if ``max_priority`` is given; see ``QueueSpec``)."""
    source = topology.commands if exchange == "commands" else topology.events
    patterns = dict.fromkeys(contract.binding_pattern() for contract in takes)
    return QueueSpec(
        topology.queue_name(service, purpose),
        bindings=[Binding(source, pattern) for pattern in patterns],
        max_priority=max_priority,
        prefetch=prefetch,
    )


class QueueBinder(Protocol):
    """What changing a queue's bindings at run time needs of a broker (queues bound to data:
    webhooks' events queue, the gateway's stream queue)."""

    async def bind(self, queue: QueueSpec, exchange: str, routing_key: str) -> None: ...

    async def unbind(self, queue: QueueSpec, exchange: str, routing_key: str) -> None: ...


class MessageHandlers:
    """One function per message type, each given its payload decoded to the declared contract.

    A payload that does not fit its contract raises ``EnvelopeError`` (the consumer parks it);
    a message of a type nobody registered (a queue bound by a wider pattern) is ignored.
    """

    def __init__(self) -> None:
        self._by_type: dict[str, tuple[type[Contract], PayloadHandler[Any]]] = {}

    @classmethod
    def of(cls, handler: object) -> MessageHandlers:
        """The ``@handles`` methods of ``handler``, bound to it."""
        handlers = cls()
        for name, member in vars(type(handler)).items():
            contract = getattr(member, _HANDLES, None)
            if contract is not None:
                handlers.on(contract)(getattr(handler, name))
        return handlers

    @property
    def takes(self) -> tuple[type[Contract], ...]:
        return tuple(contract for contract, _ in self._by_type.values())

    def on(self, contract: type[C]) -> Callable[[PayloadHandler[C]], PayloadHandler[C]]:
        def register(handle: PayloadHandler[C]) -> PayloadHandler[C]:
            if contract.TYPE in self._by_type:
                raise ValueError(f"{contract.TYPE} already has a handler")
            self._by_type[contract.TYPE] = (contract, handle)
            return handle

        return register

    async def __call__(self, event: CloudEvent, delivery: Delivery) -> None:
        registered = self._by_type.get(event.type)
        if registered is None:
            log.debug("no handler for this type; ignored", extra={"event_type": event.type})
            return
        contract, handle = registered
        await handle(event.data_as(contract), event, delivery)


@dataclass(frozen=True)
class Subscription:
    """One consuming queue of a service: its name, where it is bound from, how it is consumed."""

    purpose: str
    exchange: Exchange
    takes: tuple[type[Contract], ...]
    start: Callable[[MessageBus, QueueSpec], Awaitable[object]]
    max_priority: int | None = None
    prefetch: int | None = None

    def queue(self, topology: Topology, service: str) -> QueueSpec:
        return queue_spec(
            topology,
            service,
            self.purpose,
            self.takes,
            self.exchange,
            max_priority=self.max_priority,
            prefetch=self.prefetch,
        )


class Subscriptions:
    """A service's queues, declared from its handlers, then consumed together."""

    def __init__(self, service: str) -> None:
        self.service = service
        self._declared: dict[str, Subscription] = {}

    def consume(
        self,
        purpose: str,
        handler: object,
        *,
        exchange: Exchange = "events",
        max_priority: int | None = None,
        prefetch: int | None = None,
    ) -> None:
        """Consume ``purpose``'s queue one message at a time with ``handler``'s ``@handles``
        methods (or a ``MessageHandlers`` built by hand); ``max_priority`` makes it a priority
        queue, ``prefetch`` bounds what its consumer holds (see ``QueueSpec``)."""
        messages = handler if isinstance(handler, MessageHandlers) else MessageHandlers.of(handler)

        async def start(bus: MessageBus, spec: QueueSpec) -> object:
            return await bus.consume(spec, messages)

        self._add(Subscription(purpose, exchange, messages.takes, start, max_priority, prefetch))

    def consume_batches(
        self,
        purpose: str,
        handler: BatchHandler,
        *,
        exchange: Exchange = "events",
        max_batch: int = 128,
        max_wait_s: float = 0.002,
    ) -> None:
        """Consume ``purpose``'s queue in batches (group commit, see ``broker.batches``) with
        ``handler``, whose class declares what it takes in ``TAKES``."""

        async def start(bus: MessageBus, spec: QueueSpec) -> object:
            return await bus.consume_batches(
                spec, handler, max_batch=max_batch, max_wait_s=max_wait_s
            )

        self._add(Subscription(purpose, exchange, declared_types(type(handler)), start))

    def _add(self, subscription: Subscription) -> None:
        if not subscription.takes:
            raise ValueError(f"{subscription.purpose}: its handler takes no message type")
        if subscription.purpose in self._declared:
            raise ValueError(f"{subscription.purpose} is already subscribed")
        self._declared[subscription.purpose] = subscription

    def queue(self, topology: Topology, purpose: str) -> QueueSpec:
        """The queue ``purpose`` is consumed from, as declared (tests and tools use it)."""
        return self._declared[purpose].queue(topology, self.service)

    def queues(self, topology: Topology) -> list[QueueSpec]:
        return [subscription.queue(topology, self.service) for subscription in self]

    def __iter__(self) -> Iterator[Subscription]:
        return iter(self._declared.values())

    async def start(self, bus: MessageBus) -> None:
        """Declare, bind and consume every queue, in declaration order."""
        for subscription in self._declared.values():
            await subscription.start(bus, subscription.queue(bus.topology, self.service))
