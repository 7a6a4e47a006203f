"""Names and shapes of every exchange and queue, derived from one namespace.

Retry design: all queues share one set of delay tiers. A failed message is republished to the
``retry`` headers exchange with a tier header and its own queue's name as routing key; the tier's
wait queue holds it for the tier's TTL, then dead-letters it (routing key unchanged) to the
``requeue`` direct exchange, where every consuming queue is bound under its own name. After the
last attempt the consumer rejects the message and the queue's dead-letter exchange routes it to the
queue's parking lot, ``<queue>.parked``, for an operator to inspect and replay.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

RETRY_TIER_HEADER = "tradewind-retry-tier"
ATTEMPT_HEADER = "tradewind-attempt"
# Retries spent waiting for an unreachable store: counted apart, they spend no attempt.
UNAVAILABLE_HEADER = "tradewind-unavailable-retries"


@dataclass(frozen=True)
class Binding:
    exchange: str
    routing_key: str


@dataclass(frozen=True)
class QueueSpec:
    """A consuming queue: quorum, dead-lettered to its parking lot, bound for retries."""

    name: str
    bindings: Sequence[Binding] = ()
    exclusive: bool = False  # per-process fan-out queues: auto-deleted, no parking lot
    # The `queue` label of its metrics, when not its name: a per-process queue's name has a
    # random suffix, and as a label it would add new series at every restart (unbounded).
    metrics_label: str | None = None
    # A priority queue: classic (RabbitMQ 3.10's quorum queues ignore x-max-priority), delivering
    # higher priorities first among the messages waiting. Consume it with a small prefetch, or
    # the broker hands over messages in arrival order before a higher one arrives.
    max_priority: int | None = None
    # Unacked messages per consumer, when not the broker's default (``TRADEWIND_PREFETCH``).
    prefetch: int | None = None

    @property
    def parking_lot(self) -> str:
        return f"{self.name}.parked"

    @property
    def metrics_queue(self) -> str:
        """The value of the `queue` label of this queue's consumer metrics."""
        return self.metrics_label or self.name


@dataclass(frozen=True)
class Topology:
    namespace: str
    retry_delays_ms: Sequence[int] = field(default=(1_000, 5_000, 30_000))

    @property
    def commands(self) -> str:
        return f"{self.namespace}.commands"

    @property
    def events(self) -> str:
        return f"{self.namespace}.events"

    @property
    def dead_letters(self) -> str:
        return f"{self.namespace}.dlx"

    @property
    def unrouted_events(self) -> str:
        return f"{self.namespace}.events.unrouted"

    @property
    def retry(self) -> str:
        return f"{self.namespace}.retry"

    @property
    def requeue(self) -> str:
        return f"{self.namespace}.requeue"

    def queue_name(self, service: str, purpose: str) -> str:
        return f"{self.namespace}.{service}.{purpose}"

    def tier_name(self, delay_ms: int) -> str:
        return f"{delay_ms}ms"

    def wait_queue(self, delay_ms: int) -> str:
        return f"{self.namespace}.retry.{self.tier_name(delay_ms)}"

    def delay_for_attempt(self, failed_attempt: int) -> int:
        """Delay before the attempt after ``failed_attempt`` (1-based): tiers grow, then hold."""
        index = min(max(failed_attempt, 1), len(self.retry_delays_ms)) - 1
        return self.retry_delays_ms[index]

    def tier_at_most(self, delay_ms: int) -> int:
        """The longest delay tier not longer than ``delay_ms`` (the shortest if all are longer):
        waiting that long and checking again never oversleeps by more than the shortest tier."""
        fitting = [tier for tier in self.retry_delays_ms if tier <= delay_ms]
        return max(fitting) if fitting else min(self.retry_delays_ms)

    def exchanges(self) -> list[tuple[str, str]]:
        """(name, type) of every shared exchange."""
        return [
            (self.unrouted_events, "fanout"),
            (self.commands, "topic"),
            (self.events, "topic"),
            (self.dead_letters, "direct"),
            (self.retry, "headers"),
            (self.requeue, "direct"),
        ]
