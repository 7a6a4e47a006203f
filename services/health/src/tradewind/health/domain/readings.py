"""What the health service reads about a service's work: its queues, its outbox, its webhooks.

Plain values, filled in by the adapters (RabbitMQ, the service's /metrics) and judged by
``backlogs``; nothing here does I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class QueuePresence(StrEnum):
    FOUND = "found"
    # The broker answered that no such queue exists: its service never declared it (not started
    # yet in this namespace) or someone deleted it.
    MISSING = "missing"
    # The broker could not be asked (down, timed out): the rabbitmq dependency says why.
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class QueueReading:
    """One queue as the broker described it. ``unacked`` is known only through the management
    API (a passive declare does not tell it)."""

    presence: QueuePresence
    ready: int | None = None
    consumers: int | None = None
    unacked: int | None = None
    detail: str | None = None

    @classmethod
    def found(cls, ready: int | None, consumers: int, unacked: int | None = None) -> QueueReading:
        return cls(QueuePresence.FOUND, ready=ready, consumers=consumers, unacked=unacked)

    @classmethod
    def missing(cls) -> QueueReading:
        return cls(QueuePresence.MISSING)

    @classmethod
    def unknown(cls, detail: str) -> QueueReading:
        return cls(QueuePresence.UNKNOWN, detail=detail)


@dataclass(frozen=True, slots=True)
class WatchedQueue:
    """A queue a service consumes, and the parking lot its failed messages go to."""

    name: str
    parking_lot: str


class QueueStatus(StrEnum):
    OK = "ok"  # consumed
    NO_CONSUMER = "no_consumer"
    MISSING = "missing"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class QueueObservation:
    queue: WatchedQueue
    reading: QueueReading
    parking_lot: QueueReading

    @property
    def status(self) -> QueueStatus:
        if self.reading.presence is QueuePresence.MISSING:
            return QueueStatus.MISSING
        if self.reading.presence is QueuePresence.UNKNOWN:
            return QueueStatus.UNKNOWN
        return QueueStatus.NO_CONSUMER if self.reading.consumers == 0 else QueueStatus.OK

    @property
    def parked(self) -> int | None:
        """Messages waiting in the parking lot (its ready count); None when unknown."""
        if self.parking_lot.presence is QueuePresence.FOUND:
            return self.parking_lot.ready
        return None


@dataclass(frozen=True, slots=True)
class OutboxReading:
    """A service's outbox relay, from tradewind_outbox_lag_seconds and tradewind_outbox_backlog."""

    lag_s: float
    backlog: int


@dataclass(frozen=True, slots=True)
class WebhookReading:
    """The webhooks service's delivery backlog and disabled endpoints, from its gauges."""

    pending_deliveries: int
    disabled_by_service: int
    disabled_by_account: int
