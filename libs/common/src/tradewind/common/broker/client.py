"""The broker client every service uses: declare, publish with confirms, consume with retry/park."""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

import aio_pika
import aiormq
from aio_pika.abc import (
    AbstractChannel,
    AbstractExchange,
    AbstractIncomingMessage,
    AbstractQueue,
    AbstractRobustConnection,
)
from opentelemetry import context as otel_context
from opentelemetry import propagate
from prometheus_client import Counter

from tradewind.common import flags
from tradewind.common.broker.batches import BatchConsumer, BatchHandler
from tradewind.common.broker.errors import (
    BrokerUnavailable,
    Deferred,
    PermanentFailure,
    PublishRejected,
    PublishUnconfirmed,
)
from tradewind.common.broker.properties import MessageProperties
from tradewind.common.broker.spans import consuming, producing
from tradewind.common.broker.topology import (
    ATTEMPT_HEADER,
    RETRY_TIER_HEADER,
    UNAVAILABLE_HEADER,
    QueueSpec,
    Topology,
)
from tradewind.common.envelope import CONTENT_TYPE, CloudEvent, EncodedEvent, EnvelopeError
from tradewind.common.flags import Fault
from tradewind.common.metrics import (
    MESSAGE_HANDLER_SECONDS,
    MESSAGES_CONSUMED,
    MESSAGES_PUBLISHED,
)
from tradewind.common.resilience.retry import CONNECT, retry_async
from tradewind.common.resilience.unavailable import is_dependency_unavailable
from tradewind.common.settings import SharedSettings
from tradewind.common.tasks import start_background

log = logging.getLogger(__name__)

# aiormq queues at most FRAME_BUFFER_SIZE messages (10 by default) per connection for its writer
# task; a publish that finds the queue full waits, holding its channel's lock, and the publishes
# behind it then take that lock one event-loop turn apart. A batch of events (an outbox pass, a
# hand-off) or many requests publishing at once went out a turn each: on the orders service at
# full load about a thousand publishes stood in line (objects that made every young garbage
# collection tens of milliseconds), and it took 20% of its CPU per order. 1,024 is amqplib's
# order of magnitude; it still bounds what waits in memory to about a megabyte of frames. Set
# on the class because aio-pika builds aiormq's connections itself; every connection of a
# Tradewind process is one of ours.
aiormq.Connection.FRAME_BUFFER_SIZE = 1024

# How many publishes of one ``publish_many`` start in one event-loop turn; the next ones start a
# turn later, so that what else the process serves (a probe, a read) waits for 16 at most.
PUBLISHES_PER_LOOP_TURN = 16


@dataclass(frozen=True)
class Outgoing:
    """A message to publish as it is stored (the outbox): body and headers ready, trace context
    of the work that produced it in the headers."""

    exchange: str
    routing_key: str
    body: bytes
    message_id: str
    message_type: str
    headers: Mapping[str, Any]
    content_type: str = CONTENT_TYPE


@dataclass(frozen=True)
class Delivery:
    """What a handler may want to know about the message besides its envelope."""

    queue: str
    message_id: str
    attempt: int
    redelivered: bool
    routing_key: str
    exchange: str = ""
    """The exchange the message came through (the retry exchange, for a retried message)."""
    delivery_tag: int | None = None


Handler = Callable[[CloudEvent, Delivery], Awaitable[None]]

# Errors that mean "the broker is not there right now" rather than "the broker said no".
_UNAVAILABLE = (
    aiormq.exceptions.AMQPConnectionError,
    aiormq.exceptions.ChannelInvalidStateError,
    aiormq.exceptions.ChannelClosed,
    ConnectionError,
    TimeoutError,
    RuntimeError,  # aiormq raises a bare RuntimeError on a closed writer
)


@dataclass(frozen=True)
class _RetryBudget:
    """One count of failures a message may spend before it is parked: the header it travels
    in, its name in the log, and what the log says when it runs out or buys a retry."""

    header: str
    log_key: str
    parking: str
    scheduled: str


# Failed attempts of the handler: the header holds the attempt that is being delivered (1-based).
_ATTEMPTS = _RetryBudget(
    header=ATTEMPT_HEADER,
    log_key="attempt",
    parking="handler failed on the last attempt; parking",
    scheduled="handler failed; retry scheduled",
)
# Failures because a store was unreachable, counted apart: the header holds the retries spent.
_UNAVAILABLE_RETRIES = _RetryBudget(
    header=UNAVAILABLE_HEADER,
    log_key="retries",
    parking="a dependency stayed unavailable through every retry; parking",
    scheduled="a dependency is unavailable; retry scheduled, no attempt spent",
)


class Broker:
    def __init__(
        self,
        url: str,
        topology: Topology,
        *,
        service: str,
        prefetch: int = 32,
        max_attempts: int = 5,
        max_unavailable_retries: int = 120,
        publish_timeout_s: float = 5.0,
        shutdown_grace_s: float = 10.0,
    ) -> None:
        self.url = url
        self.topology = topology
        self.service = service
        self.prefetch = prefetch
        self.max_attempts = max_attempts
        self.max_unavailable_retries = max_unavailable_retries
        self.publish_timeout_s = publish_timeout_s
        self.shutdown_grace_s = shutdown_grace_s
        self._connection: AbstractRobustConnection | None = None
        self._publish_channel: AbstractChannel | None = None
        self._exchanges: dict[str, AbstractExchange] = {}
        self._workers = AsyncExitStack()
        self._bindable: dict[str, AbstractQueue] = {}
        self._consumers: list[tuple[AbstractQueue, str]] = []
        self._batch_consumers: list[tuple[BatchConsumer, asyncio.Task[None]]] = []
        self._handling = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._consuming_stopped = False
        self._cancelled = False

    @classmethod
    def from_settings(cls, shared: SharedSettings, *, service: str) -> Broker:
        """The broker client as every service configures it (TRADEWIND_* settings)."""
        return cls(
            shared.amqp_url,
            Topology(shared.namespace, tuple(shared.retry_delays_ms)),
            service=service,
            prefetch=shared.prefetch,
            max_attempts=shared.max_delivery_attempts,
            max_unavailable_retries=shared.max_unavailable_retries,
            publish_timeout_s=shared.publish_timeout_s,
            shutdown_grace_s=shared.shutdown_grace_s,
        )

    # --- lifecycle ---

    async def connect(self) -> None:
        """Connect (retrying with backoff) and declare the shared topology.

        After this the connection is robust: aio-pika reconnects by itself and restores channels,
        declarations and consumers.
        """
        connection = await retry_async(
            CONNECT,
            lambda: aio_pika.connect_robust(
                self.url, client_properties={"connection_name": self.service}
            ),
            retry_on=(ConnectionError, OSError, aiormq.exceptions.AMQPError),
            name="broker connect",
        )
        self._connection = connection
        self._publish_channel = await connection.channel(
            publisher_confirms=True, on_return_raises=True
        )
        await self._declare_shared(self._publish_channel)
        log.info("broker connected", extra={"namespace": self.topology.namespace})

    async def stop_consuming(self) -> None:
        """Stop taking messages and finish the ones taken, within ``shutdown_grace_s``.

        Every consumer is cancelled first (basic.cancel): the broker sends nothing more, and
        what it sent before the cancel-ok is still handled. Handlers in flight then run to their
        end and batch consumers handle what they hold, so each message this process took is
        settled (acked, retried or parked) and is not redelivered for another process to do
        again. What is still unsettled when the grace is over is cut off; the broker redelivers
        it once the channel closes, and the inbox keeps that harmless. Idempotent.
        """
        if self._consuming_stopped:
            return
        self._consuming_stopped = True
        try:
            async with asyncio.timeout(self.shutdown_grace_s):
                for queue, tag in self._consumers:
                    try:
                        await queue.cancel(tag)
                    except (*_UNAVAILABLE, aiormq.exceptions.AMQPError) as exc:
                        # No channel, so no deliveries either: what it held is redelivered.
                        log.warning(
                            "consumer not cancelled",
                            extra={"queue": queue.name, "error": repr(exc)},
                        )
                self._cancelled = True
                log.info("consumers cancelled; finishing the messages taken")
                # Deliveries that arrived before the cancel-ok were handed to new tasks (aiormq
                # starts one, aio-pika's callback wrapper another): let them start, so that
                # they count as in flight below.
                for _ in range(3):
                    await asyncio.sleep(0)
                for consumer, _ in self._batch_consumers:
                    consumer.finish()
                await self._idle.wait()
                batches = [task for _, task in self._batch_consumers]
                if batches:
                    await asyncio.wait(batches)
        except TimeoutError:
            log.warning(
                "messages in flight not finished within the shutdown grace; the broker "
                "redelivers them",
                extra={"grace_s": self.shutdown_grace_s, "in_flight": self._handling},
            )
        log.info("stopped consuming", extra={"consumers": len(self._consumers)})

    @property
    def consuming(self) -> bool:
        """False once ``stop_consuming`` has cancelled every consumer."""
        return not self._cancelled

    async def close(self) -> None:
        await self.stop_consuming()
        await self._workers.aclose()
        if self._connection is not None:
            await self._connection.close()
            self._connection = None

    @property
    def is_connected(self) -> bool:
        return (
            self._connection is not None
            and not self._connection.is_closed
            and self._publish_channel is not None
            and not self._publish_channel.is_closed
        )

    async def check(self) -> None:
        """Readiness probe: raises unless connected."""
        if not self.is_connected:
            raise BrokerUnavailable("not connected to the broker")

    # --- topology ---

    async def _declare_shared(self, channel: AbstractChannel) -> None:
        topo = self.topology
        for name, kind in topo.exchanges():
            arguments: dict[str, Any] = {}
            if name == topo.events:
                # An event nobody subscribes to yet is normal; it is kept (bounded) for inspection
                # instead of returned. Commands have no such fallback: unroutable is an error.
                arguments = {"alternate-exchange": topo.unrouted_events}
            self._exchanges[name] = await channel.declare_exchange(
                name, aio_pika.ExchangeType(kind), durable=True, arguments=arguments
            )
        unrouted = await channel.declare_queue(
            topo.unrouted_events,
            durable=True,
            arguments={
                "x-max-length": 10_000,
                "x-overflow": "drop-head",
                "x-message-ttl": 86_400_000,
            },
        )
        await unrouted.bind(self._exchanges[topo.unrouted_events])
        retry_exchange = self._exchanges[topo.retry]
        for delay_ms in topo.retry_delays_ms:
            # Classic queues: per-queue TTL expires strictly from the head, which is what a
            # single-delay wait queue needs; they hold nothing for longer than one tier.
            wait = await channel.declare_queue(
                topo.wait_queue(delay_ms),
                durable=True,
                arguments={
                    "x-message-ttl": delay_ms,
                    "x-dead-letter-exchange": topo.requeue,
                },
            )
            await wait.bind(
                retry_exchange,
                arguments={"x-match": "all", RETRY_TIER_HEADER: topo.tier_name(delay_ms)},
            )

    async def declare_queue(
        self, spec: QueueSpec, channel: AbstractChannel | None = None
    ) -> AbstractQueue:
        channel = channel or self._require_channel()
        topo = self.topology
        if not spec.exclusive:
            parking = await channel.declare_queue(
                spec.parking_lot, durable=True, arguments={"x-queue-type": "quorum"}
            )
            await parking.bind(self._exchanges[topo.dead_letters], routing_key=spec.name)
        if spec.exclusive:
            queue = await channel.declare_queue(spec.name, exclusive=True, auto_delete=True)
        else:
            queue = await channel.declare_queue(
                spec.name, durable=True, arguments=_durable_queue_arguments(spec, topo)
            )
        await queue.bind(self._exchanges[topo.requeue], routing_key=spec.name)
        for binding in spec.bindings:
            await queue.bind(binding.exchange, routing_key=binding.routing_key)
        return queue

    # --- bindings that change at run time ---

    async def bind(self, queue: QueueSpec, exchange: str, routing_key: str) -> None:
        """Bind ``queue`` to ``exchange`` under ``routing_key`` (idempotent) on the publish channel.

        What aio-pika 9.x does with it (``robust_queue.py``, ``robust_channel.py``): a RobustQueue
        records each ``bind`` made through it, ``unbind`` drops the record, and when its robust
        channel reopens after a reconnect the queue is declared again with its own arguments and
        every recorded binding is re-applied. So a binding made here survives a reconnect, even
        one to a broker that lost the queue. Two consequences: every call must go through the
        same queue object (kept in ``_bindable``), declared in full rather than passively (a
        passive re-declare of a missing queue fails the channel's restore, and aio-pika then
        tears the whole connection down and starts over); and a reconnect re-applies what this
        process bound even if another process has unbound it since, so a caller sharing
        bindings between processes must unbind what it no longer wants again (unbinding a
        missing binding is not an error in RabbitMQ).
        """
        target = await self._bindable_queue(queue)
        try:
            await target.bind(exchange, routing_key=routing_key)
        except _UNAVAILABLE as exc:
            raise BrokerUnavailable(f"binding {queue.name} to {exchange} failed: {exc!r}") from exc

    async def unbind(self, queue: QueueSpec, exchange: str, routing_key: str) -> None:
        """Remove a binding made with ``bind`` (idempotent); it is no longer restored either."""
        target = await self._bindable_queue(queue)
        try:
            await target.unbind(exchange, routing_key=routing_key)
        except _UNAVAILABLE as exc:
            raise BrokerUnavailable(
                f"unbinding {queue.name} from {exchange} failed: {exc!r}"
            ) from exc

    async def _bindable_queue(self, spec: QueueSpec) -> AbstractQueue:
        # No timeout around these RPCs: aiormq closes the channel when one is cancelled, and
        # this is the channel every publish uses. A client known to be disconnected fails at
        # once rather than waiting for the reconnect. Callers do not overlap the first call for
        # a queue (two declarations would make two records).
        if not self.is_connected:
            raise BrokerUnavailable("not connected to the broker")
        queue = self._bindable.get(spec.name)
        if queue is None:
            queue = await self.declare_queue(spec)
            self._bindable[spec.name] = queue
        return queue

    # --- publishing ---

    async def publish(
        self,
        exchange: str,
        routing_key: str,
        body: bytes,
        *,
        message_id: str,
        message_type: str,
        headers: Mapping[str, Any] | None = None,
        content_type: str = CONTENT_TYPE,
        timestamp: datetime | None = None,
        correlation_id: str | None = None,
        persistent: bool = True,
        priority: int | None = None,
    ) -> None:
        """Publish and wait for the broker's confirm. Unroutable messages raise PublishRejected.

        ``persistent=False`` suits data worthless after a broker restart (quotes): classic queues
        then keep it in memory only. Quorum queues persist every message regardless.
        """
        all_headers: dict[str, Any] = dict(headers or {})
        with producing(exchange, routing_key, message_id, all_headers):
            if (
                exchange not in self._exchanges
                or self._publish_channel is None
                or not self.is_connected
            ):
                raise BrokerUnavailable("not connected to the broker")
            channel = await self._publish_channel.get_underlay_channel()
            properties = self._properties(
                message_id,
                message_type,
                all_headers,
                content_type=content_type,
                timestamp=timestamp or datetime.now(UTC),
                persistent=persistent,
                correlation_id=correlation_id,
                priority=priority,
            )
            # Never cancel a publish inside aiormq: it counts the delivery tag before the frame
            # is queued, so a cancellation there leaves the channel's tags out of step with the
            # broker's and no later confirm matches. The publish runs as a task of its own that
            # neither the caller's cancellation nor the bounded wait reaches.
            publishing = asyncio.ensure_future(
                _send(channel, exchange, routing_key, body, properties)
            )
            try:
                await _outcome_within(publishing, self.publish_timeout_s)
            except TimeoutError as exc:
                publishing.add_done_callback(_late_publish_outcome)
                _published(exchange, "unconfirmed").inc()
                raise PublishUnconfirmed(
                    f"no confirm for {message_type} within {self.publish_timeout_s}s; the broker "
                    "may still route it"
                ) from exc
            except aiormq.exceptions.DeliveryError as exc:
                _published(exchange, "rejected").inc()
                raise PublishRejected(
                    f"broker refused {message_type} to {exchange}/{routing_key}: {exc}"
                ) from exc
            except _UNAVAILABLE as exc:
                _published(exchange, "unavailable").inc()
                # The frame may have left before the connection failed.
                raise PublishUnconfirmed(f"publish to {exchange} failed: {exc!r}") from exc
            _published(exchange, "confirmed").inc()

    async def publish_many(self, messages: Sequence[Outgoing]) -> list[Exception | None]:
        """Publish every message with its confirms pipelined; the outcome of each, in order:
        None once confirmed, else BrokerUnavailable or PublishRejected.

        One wait, bounded by the publish timeout, covers them all. This is the outbox relay's
        path: per message it skips the aio-pika Message object and its instrumentation (a third
        of the relay's CPU, measured) and opens its own producer span instead. As in ``publish``,
        nothing is cancelled inside aiormq: a confirm that comes late still completes.
        """
        if not messages:
            return []
        if self._publish_channel is None or not self.is_connected:
            unavailable = BrokerUnavailable("not connected to the broker")
            return [unavailable for _ in messages]
        channel = await self._publish_channel.get_underlay_channel()
        now = datetime.now(UTC)
        publishing: list[asyncio.Future[None]] = []
        for start in range(0, len(messages), PUBLISHES_PER_LOOP_TURN):
            if start:
                # Publishes started together all run in the event loop's next turn: a batch's
                # hundred would hold the loop that long before a probe or a read is served.
                await asyncio.sleep(0)
            publishing.extend(
                asyncio.ensure_future(self._publish_one(channel, message, now))
                for message in messages[start : start + PUBLISHES_PER_LOOP_TURN]
            )
        await asyncio.wait(publishing, timeout=self.publish_timeout_s)
        outcomes: list[Exception | None] = []
        for message, future in zip(messages, publishing, strict=True):
            outcome = _outcome_of(future, message, self.publish_timeout_s)
            outcomes.append(outcome)
            _published(message.exchange, _metric(outcome)).inc()
        if flags.fault_on(Fault.BROKER_DROP_PUBLISH_CONFIRMS):
            outcomes = [_dropped_confirm() if outcome is None else outcome for outcome in outcomes]
        return outcomes

    def _properties(
        self,
        message_id: str,
        message_type: str,
        headers: dict[str, Any],
        *,
        content_type: str,
        timestamp: datetime,
        persistent: bool = True,
        correlation_id: str | None = None,
        priority: int | None = None,
    ) -> aiormq.spec.Basic.Properties:
        """The AMQP properties of a message this service publishes (both publish paths),
        encoded by ``MessageProperties`` (pamqp's encoder for anything it does not write)."""
        return MessageProperties(
            content_type=content_type,
            headers=headers,
            delivery_mode=2 if persistent else 1,
            message_id=message_id,
            timestamp=timestamp,
            message_type=message_type,
            app_id=self.service,
            correlation_id=correlation_id,
            priority=priority,
        )

    async def _publish_one(
        self, channel: aiormq.abc.AbstractChannel, message: Outgoing, now: datetime
    ) -> None:
        # The stored headers hold the trace context of the work that staged the message.
        token = otel_context.attach(propagate.extract(message.headers))
        try:
            headers: dict[str, Any] = dict(message.headers)
            with producing(message.exchange, message.routing_key, message.message_id, headers):
                await _send(
                    channel,
                    message.exchange,
                    message.routing_key,
                    message.body,
                    self._properties(
                        message.message_id,
                        message.message_type,
                        headers,
                        content_type=message.content_type,
                        timestamp=now,
                    ),
                )
        finally:
            otel_context.detach(token)

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
        await self.publish(
            exchange or self.topology.events,
            routing_key or event.type,
            event.to_json(),
            message_id=event.id,
            message_type=event.type,
            headers=headers,
            timestamp=event.time,
            correlation_id=event.correlationid,
            persistent=persistent,
            priority=priority,
        )
        if flags.fault_on(Fault.BROKER_DROP_PUBLISH_CONFIRMS):
            raise _dropped_confirm()

    async def publish_command(
        self, command: CloudEvent | EncodedEvent, *, priority: int | None = None
    ) -> None:
        """``priority`` matters only to a priority queue (``QueueSpec.max_priority``)."""
        await self.publish_event(command, exchange=self.topology.commands, priority=priority)

    # --- consuming ---

    async def consume(self, spec: QueueSpec, handler: Handler) -> AbstractQueue:
        """Consume ``spec`` with bounded prefetch; ack only after ``handler`` returned.

        A handler that raises is retried through the delay tiers; after ``max_attempts`` (or at
        once for a PermanentFailure or an unreadable envelope) the message is parked.
        """
        connection = self._require_connection()
        channel = await connection.channel(publisher_confirms=False)
        await channel.set_qos(prefetch_count=spec.prefetch or self.prefetch)
        queue = await self.declare_queue(spec, channel)
        tag = await queue.consume(functools.partial(self._deliver, spec, handler))
        self._consumers.append((queue, tag))
        log.info("consuming", extra={"queue": spec.name})
        return queue

    async def consume_batches(
        self,
        spec: QueueSpec,
        handler: BatchHandler,
        *,
        max_batch: int = 128,
        max_wait_s: float = 0.002,
    ) -> AbstractQueue:
        """Consume ``spec`` a batch at a time (group commit); see ``broker.batches``.

        The prefetch covers two batches, so the next one fills while this one is handled.
        """
        connection = self._require_connection()
        channel = await connection.channel(publisher_confirms=False)
        await channel.set_qos(prefetch_count=max(self.prefetch, 2 * max_batch))
        queue = await self.declare_queue(spec, channel)
        consumer = BatchConsumer(self, spec, handler, max_batch=max_batch, max_wait_s=max_wait_s)
        task = start_background(self._workers, consumer.run(), f"batches-{spec.name}")
        self._batch_consumers.append((consumer, task))
        tag = await queue.consume(consumer.on_message)
        self._consumers.append((queue, tag))
        log.info("consuming in batches", extra={"queue": spec.name, "max_batch": max_batch})
        return queue

    def delivery_of(
        self, spec: QueueSpec, message: AbstractIncomingMessage, headers: Mapping[str, Any]
    ) -> Delivery:
        return Delivery(
            queue=spec.name,
            message_id=message.message_id or "",
            attempt=_int_header(headers.get(ATTEMPT_HEADER), default=1),
            redelivered=bool(message.redelivered),
            routing_key=message.routing_key or "",
            exchange=message.exchange or "",
            delivery_tag=message.delivery_tag,
        )

    async def _deliver(
        self, spec: QueueSpec, handler: Handler, message: AbstractIncomingMessage
    ) -> None:
        self._handling += 1
        self._idle.clear()
        headers = dict(message.headers or {})
        delivery = self.delivery_of(spec, message, headers)
        attempt = delivery.attempt
        started = time.perf_counter()
        outcome = "acked"
        try:
            with consuming(delivery, headers) as span:
                try:
                    event = CloudEvent.from_json(message.body)
                    span.set_attribute("cloudevents.event_type", event.type)
                    await handler(event, delivery)
                except (EnvelopeError, PermanentFailure) as exc:
                    outcome = "parked"
                    log.error(
                        "message cannot be processed; parking it",
                        extra={
                            "queue": spec.name,
                            "message_id": delivery.message_id,
                            "error": str(exc),
                        },
                    )
                    await message.reject(requeue=False)
                    return
                except Deferred as exc:
                    outcome = await self.defer(spec, message, headers, exc)
                    return
                except Exception as exc:
                    span.record_exception(exc)
                    outcome = await self.retry_or_park(spec, message, headers, attempt, exc)
                    return
            await message.ack()
        finally:
            MESSAGES_CONSUMED.labels(queue=spec.metrics_queue, outcome=outcome).inc()
            MESSAGE_HANDLER_SECONDS.labels(queue=spec.metrics_queue).observe(
                time.perf_counter() - started
            )
            self._handling -= 1
            if self._handling == 0:
                self._idle.set()

    async def retry_or_park(
        self,
        spec: QueueSpec,
        message: AbstractIncomingMessage,
        headers: dict[str, Any],
        attempt: int,
        error: Exception,
    ) -> str:
        """Schedule a failed message's next attempt through the delay tiers, or park it after
        the last one; returns the outcome (retried, requeued, parked) for the metrics.

        A failure because a store the handler needs is unreachable is no fault of the message:
        it spends no attempt (see ``_wait_for_dependency``)."""
        if is_dependency_unavailable(error):
            return await self._wait_for_dependency(spec, message, headers, error)
        return await self._retry_or_park(
            spec,
            message,
            headers,
            error,
            _ATTEMPTS,
            spent=attempt,
            limit=self.max_attempts,
            delay_ms=self.topology.delay_for_attempt(attempt),
        )

    async def _wait_for_dependency(
        self,
        spec: QueueSpec,
        message: AbstractIncomingMessage,
        headers: dict[str, Any],
        error: Exception,
    ) -> str:
        """Retry a message whose handler could not reach its database (or Redis) without
        spending one of its attempts: during an outage every message fails, and counting those
        failures parked every command that arrived in the first seconds of a PostgreSQL restart
        (the chaos drill "restart postgresql", docs/architecture.md#chaos-drills). Its waits
        grow through the delay tiers as attempts do; after ``max_unavailable_retries`` of them
        it is parked, so a handler that fails so for one message alone does not loop forever."""
        retries = _int_header(headers.get(UNAVAILABLE_HEADER), default=0)
        return await self._retry_or_park(
            spec,
            message,
            headers,
            error,
            _UNAVAILABLE_RETRIES,
            spent=retries,
            limit=self.max_unavailable_retries,
            # Its header counts the retries spent, the attempt header the attempt that failed:
            # so the first retry here waits the first tier, as after the first attempt.
            delay_ms=self.topology.delay_for_attempt(retries + 1),
        )

    async def _retry_or_park(
        self,
        spec: QueueSpec,
        message: AbstractIncomingMessage,
        headers: dict[str, Any],
        error: Exception,
        budget: _RetryBudget,
        *,
        spent: int,
        limit: int,
        delay_ms: int,
    ) -> str:
        """Park the message once ``spent`` reached ``limit``; else count one more in the
        budget's header and send it through the delay tier of ``delay_ms``."""
        context = {"queue": spec.name, "message_id": message.message_id, budget.log_key: spent}
        if spent >= limit:
            log.error(budget.parking, extra=context, exc_info=error)
            await message.reject(requeue=False)
            return "parked"
        headers[budget.header] = spent + 1
        if not await self._through_delay_tier(
            spec,
            message,
            headers,
            delay_ms,
            requeueing="could not schedule retry; requeueing",
            context=context,
        ):
            return "requeued"
        log.warning(
            budget.scheduled,
            extra={**context, "delay_ms": delay_ms, "error": repr(error)},
        )
        await message.ack()
        return "retried"

    async def defer(
        self,
        spec: QueueSpec,
        message: AbstractIncomingMessage,
        headers: dict[str, Any],
        deferred: Deferred,
    ) -> str:
        """Send a message that is not due yet through the delay tiers again, its attempt count
        unchanged: it comes back after the longest tier that does not pass its due time (the
        shortest if it is due sooner), and its handler looks again. Returns the outcome."""
        delay_ms = self.topology.tier_at_most(max(0, int(deferred.delay_s * 1000)))
        context = {"queue": spec.name, "message_id": message.message_id, "delay_ms": delay_ms}
        if not await self._through_delay_tier(
            spec,
            message,
            headers,
            delay_ms,
            requeueing="could not defer; requeueing",
            context=context,
        ):
            return "requeued"
        log.info("message not due yet; deferred", extra=context)
        await message.ack()
        return "deferred"

    async def _through_delay_tier(
        self,
        spec: QueueSpec,
        message: AbstractIncomingMessage,
        headers: dict[str, Any],
        delay_ms: int,
        *,
        requeueing: str,
        context: Mapping[str, Any],
    ) -> bool:
        """Send the message to wait ``delay_ms`` in its tier, then back to ``spec``'s queue, as
        it came (body, id, type, priority). False if the broker did not take it: the message is
        then logged (``requeueing``) and nacked for the broker to redeliver, not lost."""
        headers[RETRY_TIER_HEADER] = self.topology.tier_name(delay_ms)
        try:
            await self.publish(
                self.topology.retry,
                spec.name,
                message.body,
                message_id=message.message_id or "",
                message_type=message.type or "",
                headers=headers,
                content_type=message.content_type or CONTENT_TYPE,
                timestamp=message.timestamp,
                correlation_id=message.correlation_id,
                priority=message.priority,
            )
        except (BrokerUnavailable, PublishRejected):
            log.warning(requeueing, extra=context)
            await message.nack(requeue=True)
            return False
        return True

    # --- helpers ---

    def _require_connection(self) -> AbstractRobustConnection:
        if self._connection is None:
            raise BrokerUnavailable("connect() has not been called")
        return self._connection

    def _require_channel(self) -> AbstractChannel:
        if self._publish_channel is None:
            raise BrokerUnavailable("connect() has not been called")
        return self._publish_channel


def _durable_queue_arguments(spec: QueueSpec, topo: Topology) -> dict[str, Any]:
    """A consuming queue's arguments: dead-lettered to its parking lot, refusing publishes when
    full; quorum, or classic when it has priorities."""
    arguments: dict[str, Any] = {
        "x-dead-letter-exchange": topo.dead_letters,
        "x-dead-letter-routing-key": spec.name,
        "x-overflow": "reject-publish",
    }
    if spec.max_priority is None:
        return {**arguments, "x-queue-type": "quorum", "x-dead-letter-strategy": "at-least-once"}
    # Classic: quorum queues of RabbitMQ 3.10 do not support priorities. Dead-lettering is
    # at-most-once here (the at-least-once strategy is quorum-only), which the parking lot of a
    # priority queue accepts: its consumer records a failure in its own store before the last
    # attempt is rejected.
    return {**arguments, "x-queue-type": "classic", "x-max-priority": spec.max_priority}


# The fault flag broker.dropPublishConfirms: the message went out and the broker confirmed it,
# but the publisher is told it did not, as when a confirm is lost with the connection. Applied
# to services' own publishes (``publish_event``, the outbox's ``publish_many``), not to the
# scheduling of a delayed retry, which would requeue and republish a message at every attempt.
def _dropped_confirm() -> PublishUnconfirmed:
    return PublishUnconfirmed(
        "publish confirm dropped by the fault flag broker.dropPublishConfirms; the broker may "
        "still route the message"
    )


async def _send(
    channel: aiormq.abc.AbstractChannel,
    exchange: str,
    routing_key: str,
    body: bytes,
    properties: aiormq.spec.Basic.Properties,
) -> None:
    """One message on the channel, mandatory, until the broker confirms it (or refuses it:
    DeliveryError).

    The frames are queued without waiting for the socket to take them (``wait=False``): aiormq
    holds the channel's lock across that wait, so concurrent publishes on one channel went out
    one event-loop turn apart and waited in line for the lock. The confirm still says the
    broker has the message; a connection lost first fails it."""
    # ``wait`` is aiormq's Channel's, not on its abstract type.
    await cast(aiormq.Channel, channel).basic_publish(
        body,
        exchange=exchange,
        routing_key=routing_key,
        properties=properties,
        mandatory=True,
        wait=False,
    )


def _outcome_of(
    future: asyncio.Future[None], message: Outgoing, timeout_s: float
) -> Exception | None:
    if not future.done():
        future.add_done_callback(_late_publish_outcome)
        return PublishUnconfirmed(
            f"no confirm for {message.message_type} within {timeout_s}s; the broker may still "
            "route it"
        )
    error = future.exception()
    if error is None:
        return None
    if isinstance(error, aiormq.exceptions.DeliveryError):
        return PublishRejected(
            f"broker refused {message.message_type} to {message.exchange}/"
            f"{message.routing_key}: {error}"
        )
    return PublishUnconfirmed(f"publish to {message.exchange} failed: {error!r}")


@functools.cache
def _published(exchange: str, outcome: str) -> Counter:
    """The publish counter of one exchange and outcome. Cached: prometheus_client's ``labels``
    takes a lock and checks its arguments on every call, and this is once per message."""
    return MESSAGES_PUBLISHED.labels(exchange=exchange, outcome=outcome)


def _metric(outcome: Exception | None) -> str:
    if outcome is None:
        return "confirmed"
    if isinstance(outcome, PublishRejected):
        return "rejected"
    return "unavailable"


async def _outcome_within(publishing: asyncio.Future[None], timeout_s: float) -> None:
    """Wait at most ``timeout_s`` for ``publishing`` (then TimeoutError) and raise what it
    raised, without ever cancelling it: neither the timeout nor the caller's own cancellation
    reaches it. What ``asyncio.shield`` under ``asyncio.timeout`` does, with one future and one
    timer instead of their two futures, timeout object and callbacks: the order route publishes
    once per request (docs/performance.md, "One JSON form for the command, its envelope and its
    view": its table of the steps after it)."""
    loop = publishing.get_loop()
    waiter: asyncio.Future[None] = loop.create_future()

    def wake(_: object = None) -> None:
        if not waiter.done():
            waiter.set_result(None)

    timer = loop.call_later(timeout_s, wake)
    publishing.add_done_callback(wake)
    try:
        await waiter
    finally:
        timer.cancel()
        publishing.remove_done_callback(wake)
    if not publishing.done():
        raise TimeoutError
    publishing.result()


def _late_publish_outcome(publishing: asyncio.Future[Any]) -> None:
    """Retrieve the result of a publish whose caller stopped waiting, and say what became of it."""
    if publishing.cancelled():
        return
    error = publishing.exception()
    log.warning(
        "publish confirmed after its caller gave up" if error is None else "late publish failed",
        extra={"error": repr(error)} if error else {},
    )


def _int_header(value: Any, *, default: int) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default
