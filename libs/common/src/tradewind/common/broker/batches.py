"""Consuming in batches: one handler call (one transaction) for many messages, acked per message.

Group commit: a consumer that commits one transaction per message pays the commit, the round
trips and the per-call overhead for every message. This consumer hands its handler every message
that arrived while the previous batch was being handled (up to ``max_batch``), so under load one
commit serves many messages.

It waits for company (at most ``max_wait_s``) only when there is company to wait for: when the
previous batch held more than one message, or more than one is waiting; and only until the batch
is as large as the previous one. A message that arrives alone, at a rate the consumer keeps up
with message by message, is handled at once; at a moderate steady rate, where batches of one
would each pay a commit, a short wait makes them pairs or more (docs/performance.md).

Per message, nothing is weaker than with one transaction each:

- a message is acked only after the batch that contains it committed;
- an unreadable envelope is parked alone, before the batch is handled;
- the handler may say of single messages that they must be retried later (their effects are not
  part of the commit) or parked, and the others are acked;
- if the handler raises, nothing of the batch was committed, and every message is handled again
  on its own, so one poison message is retried and parked alone while the others go through.

Batches are handled one at a time, in delivery order, so within one process a message never
overtakes an earlier one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aio_pika.abc import AbstractIncomingMessage

from tradewind.common.broker.errors import PermanentFailure
from tradewind.common.broker.spans import consuming
from tradewind.common.broker.topology import QueueSpec
from tradewind.common.envelope import CloudEvent, EnvelopeError
from tradewind.common.metrics import MESSAGE_BATCH_SIZE, MESSAGE_HANDLER_SECONDS, MESSAGES_CONSUMED
from tradewind.common.tasks import TimeSlice

if TYPE_CHECKING:
    from tradewind.common.broker.client import Broker, Delivery

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Incoming:
    """One message of a batch: its envelope, what the broker said about it, its AMQP headers."""

    event: CloudEvent
    delivery: Delivery
    headers: Mapping[str, Any]

    @contextlib.contextmanager
    def processing(self) -> Iterator[None]:
        """Work on this message inside its own consumer span, continuing the producer's trace.

        What the handler stages meanwhile (outbox rows) carries this message's trace context.
        """
        with consuming(self.delivery, self.headers, {"cloudevents.event_type": self.event.type}):
            yield


@dataclass
class BatchOutcome:
    """What the handler did not commit, by position in the batch; everything else it did."""

    retry: dict[int, Exception] = field(default_factory=dict)
    """Not applied now, to be tried again later (e.g. a cancel that overtook its order)."""
    park: dict[int, Exception] = field(default_factory=dict)
    """Can never be applied (e.g. a payload that does not fit its type)."""


BatchHandler = Callable[[Sequence[Incoming]], Awaitable[BatchOutcome]]


def company_to_wait_for(*, waiting: int, last_batch: int, max_batch: int, max_wait_s: float) -> int:
    """How many messages a batch of the ``waiting`` ones should wait for (up to ``max_wait_s``)
    before it is handled; 0: handle it at once.

    A batch waits only when messages come together (the previous batch held more than one, or
    more than one is waiting), and only until it is as large as the previous batch (at least two,
    at most ``max_batch``): at a steady rate it waits for the company it had last time, not for
    the whole ``max_wait_s``, and a batch that already has that company is handled at once.
    """
    if max_wait_s <= 0 or (waiting <= 1 and last_batch <= 1):
        return 0
    wanted = min(max_batch, max(2, last_batch))
    return wanted if waiting < wanted else 0


class BatchConsumer:
    """Buffers a queue's deliveries and hands them to ``handler`` a batch at a time."""

    def __init__(
        self,
        broker: Broker,
        spec: QueueSpec,
        handler: BatchHandler,
        *,
        max_batch: int,
        max_wait_s: float,
    ) -> None:
        self.broker = broker
        self.spec = spec
        self.handler = handler
        self.max_batch = max_batch
        self.max_wait_s = max_wait_s
        self._pending: deque[AbstractIncomingMessage] = deque()
        self._arrived = asyncio.Event()
        self._enough = asyncio.Event()
        self._wanted = max_batch
        """How many waiting messages end a wait for company (set when a wait begins)."""
        self._finishing = False
        self._last_batch_size = 0

    async def on_message(self, message: AbstractIncomingMessage) -> None:
        """aio-pika's callback: only buffers; ``run`` does the work."""
        self._pending.append(message)
        self._arrived.set()
        if len(self._pending) >= self._wanted:
            self._enough.set()

    def finish(self) -> None:
        """Shutting down, the queue's consumer already cancelled: handle what was delivered,
        then let ``run`` return."""
        self._finishing = True
        self._arrived.set()

    async def run(self) -> None:
        """Handle batches until cancelled, or, after ``finish``, until nothing is left."""
        while True:
            if self._finishing and not self._pending:
                return
            await self._arrived.wait()
            wanted = company_to_wait_for(
                waiting=len(self._pending),
                last_batch=self._last_batch_size,
                max_batch=self.max_batch,
                max_wait_s=self.max_wait_s,
            )
            if wanted and not self._finishing:
                self._wanted = wanted
                self._enough.clear()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.max_wait_s):
                        await self._enough.wait()
            size = min(len(self._pending), self.max_batch)
            self._last_batch_size = size
            batch = [self._pending.popleft() for _ in range(size)]
            if not self._pending:
                self._arrived.clear()
            if batch:
                try:
                    await self._handle(batch)
                except Exception:
                    # Settling failed (the channel went away mid-batch): what was not acked is
                    # redelivered by the broker. The consumer itself must keep going.
                    log.exception("batch not settled", extra={"queue": self.spec.name})

    async def _handle(self, batch: list[AbstractIncomingMessage]) -> None:
        readable: list[tuple[Incoming, AbstractIncomingMessage]] = []
        work = TimeSlice()
        for message in batch:
            incoming = await self._read(message)
            if incoming is not None:
                readable.append((incoming, message))
            await work.share()
        if not readable:
            return
        MESSAGE_BATCH_SIZE.labels(queue=self.spec.metrics_queue).observe(len(readable))
        started = time.perf_counter()
        try:
            outcome = await self.handler([incoming for incoming, _ in readable])
        except Exception as exc:
            MESSAGE_HANDLER_SECONDS.labels(queue=self.spec.metrics_queue).observe(
                time.perf_counter() - started
            )
            if len(readable) == 1:
                incoming, message = readable[0]
                await self._fail(incoming, message, exc)
                return
            log.warning(
                "batch failed; handling its messages one at a time",
                extra={"queue": self.spec.name, "size": len(readable), "error": repr(exc)},
            )
            for incoming, message in readable:
                await self._handle_alone(incoming, message)
            return
        MESSAGE_HANDLER_SECONDS.labels(queue=self.spec.metrics_queue).observe(
            time.perf_counter() - started
        )
        await self._settle(readable, outcome)

    async def _handle_alone(self, incoming: Incoming, message: AbstractIncomingMessage) -> None:
        try:
            outcome = await self.handler([incoming])
        except Exception as exc:
            await self._fail(incoming, message, exc)
            return
        await self._settle([(incoming, message)], outcome)

    async def _settle(
        self, handled: list[tuple[Incoming, AbstractIncomingMessage]], outcome: BatchOutcome
    ) -> None:
        committed: list[AbstractIncomingMessage] = []
        for position, (incoming, message) in enumerate(handled):
            if position in outcome.park:
                await self._park(incoming, message, outcome.park[position])
            elif position in outcome.retry:
                await self._fail(incoming, message, outcome.retry[position])
            else:
                committed.append(message)
        await _ack_all(committed)
        MESSAGES_CONSUMED.labels(queue=self.spec.metrics_queue, outcome="acked").inc(len(committed))

    async def _read(self, message: AbstractIncomingMessage) -> Incoming | None:
        headers = dict(message.headers or {})
        try:
            event = CloudEvent.from_json(message.body)
        except EnvelopeError as exc:
            await self._park(None, message, exc)
            return None
        return Incoming(event, self.broker.delivery_of(self.spec, message, headers), headers)

    async def _fail(
        self, incoming: Incoming, message: AbstractIncomingMessage, error: Exception
    ) -> None:
        if isinstance(error, EnvelopeError | PermanentFailure):
            await self._park(incoming, message, error)
            return
        outcome = await self.broker.retry_or_park(
            self.spec, message, dict(incoming.headers), incoming.delivery.attempt, error
        )
        MESSAGES_CONSUMED.labels(queue=self.spec.metrics_queue, outcome=outcome).inc()

    async def _park(
        self, incoming: Incoming | None, message: AbstractIncomingMessage, error: Exception
    ) -> None:
        log.error(
            "message cannot be processed; parking it",
            extra={
                "queue": self.spec.name,
                "message_id": message.message_id,
                "attempt": None if incoming is None else incoming.delivery.attempt,
                "error": str(error),
            },
        )
        await message.reject(requeue=False)
        MESSAGES_CONSUMED.labels(queue=self.spec.metrics_queue, outcome="parked").inc()


async def _ack_all(messages: list[AbstractIncomingMessage]) -> None:
    """Ack every message with one frame per channel: ``multiple`` on the highest delivery tag.

    Safe because batches are handled one at a time in delivery order and everything else this
    consumer received before them is settled already (acked, retried or parked); what it received
    after them has higher tags. A message from a channel that has since been replaced (reconnect)
    is simply acked on its own channel, which fails harmlessly: the broker redelivers it.
    """
    last_per_channel: dict[int, AbstractIncomingMessage] = {}
    for message in messages:
        last = last_per_channel.get(id(message.channel))
        if last is None or (message.delivery_tag or 0) > (last.delivery_tag or 0):
            last_per_channel[id(message.channel)] = message
    for last in last_per_channel.values():
        await last.ack(multiple=True)
