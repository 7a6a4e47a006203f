"""When a service's work piles up: the rules that turn its queues and outbox into a status.

- A queue with no consumer degrades its service: its messages wait and nothing takes them (the
  service is stopped, or running but no longer consuming). A queue the broker does not know
  degrades it too: the service never declared it, so nothing can arrive there either.
- An outbox degrades its service when its lag (the age of the oldest unpublished row) is over the
  limit, or keeps growing: at least ``outbox_growing_from_s`` and higher than ``growth_rounds``
  rounds ago without falling in between (a stuck relay, or a broker refusing its rows).
- Parked messages are shown, and do not degrade: each one is a message that failed for good and
  waits for an operator, while the queue's other messages flow. A service kept ``degraded`` until
  someone drains its parking lot would hide the next, real degradation (no transition to see);
  the ParkedMessages alert is what calls for the operator.
- Endpoints the webhooks service disabled are shown, and do not degrade: they are a partner's
  receiver failing, not our service.
- Only a service that reports itself ``up`` is lowered to ``degraded``; a down or unreachable
  one stays as it is, with the reasons listed beside.

Pure: no I/O and no clock; the poller keeps the lag history through ``LagHistory``.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import pairwise

from tradewind.health.domain.readings import (
    OutboxReading,
    QueueObservation,
    QueueStatus,
    WebhookReading,
)
from tradewind.health.domain.status import Status


@dataclass(frozen=True, slots=True)
class BacklogPolicy:
    outbox_lag_limit_s: float = 60.0
    outbox_growing_from_s: float = 10.0
    growth_rounds: int = 3


@dataclass(frozen=True, slots=True)
class Assessment:
    status: Status
    reasons: tuple[str, ...]  # why it is degraded
    notes: tuple[str, ...]  # worth a look, not degraded
    outbox_behind: bool = False  # the outbox is one of the reasons


def _seconds(value: float) -> str:
    return f"{value:.0f} s" if value >= 10 else f"{value:.1f} s"


def queue_reasons(queues: Iterable[QueueObservation]) -> list[str]:
    reasons: list[str] = []
    for observed in queues:
        if observed.status is QueueStatus.MISSING:
            reasons.append(f"queue {observed.queue.name} does not exist")
        elif observed.status is QueueStatus.NO_CONSUMER:
            ready = observed.reading.ready
            waiting = f", {ready} waiting" if ready else ""
            reasons.append(f"no consumer on {observed.queue.name}{waiting}")
    return reasons


def queue_notes(queues: Iterable[QueueObservation]) -> list[str]:
    return [
        f"{observed.parked} parked in {observed.queue.parking_lot}"
        for observed in queues
        if observed.parked
    ]


def outbox_growing(lags: Sequence[float], policy: BacklogPolicy) -> bool:
    """Whether the last ``growth_rounds`` + 1 lags rose, never fell, and reached the floor."""
    window = list(lags[-(policy.growth_rounds + 1) :])
    if len(window) < policy.growth_rounds + 1:
        return False
    return (
        window[-1] >= policy.outbox_growing_from_s
        and window[-1] > window[0]
        and all(later >= earlier for earlier, later in pairwise(window))
    )


def outbox_reasons(
    outbox: OutboxReading | None, lags: Sequence[float], policy: BacklogPolicy
) -> list[str]:
    if outbox is None:
        return []
    waiting = f" ({outbox.backlog} rows waiting)" if outbox.backlog else ""
    if outbox.lag_s > policy.outbox_lag_limit_s:
        return [
            f"outbox lag {_seconds(outbox.lag_s)} is over the "
            f"{_seconds(policy.outbox_lag_limit_s)} limit{waiting}"
        ]
    if outbox_growing(lags, policy):
        earlier = lags[-(policy.growth_rounds + 1)]
        return [
            f"outbox lag growing: {_seconds(outbox.lag_s)}, up from {_seconds(earlier)} "
            f"{policy.growth_rounds} rounds ago{waiting}"
        ]
    return []


def webhook_notes(webhooks: WebhookReading | None) -> list[str]:
    if webhooks is None or not webhooks.disabled_by_service:
        return []
    count = webhooks.disabled_by_service
    return [f"{count} webhook endpoint{'s' if count != 1 else ''} disabled after failures"]


def assess(
    reported: Status,
    *,
    queues: Sequence[QueueObservation],
    outbox: OutboxReading | None,
    lags: Sequence[float],
    webhooks: WebhookReading | None,
    policy: BacklogPolicy,
) -> Assessment:
    """The service's status once its work is taken into account, with the reasons."""
    behind = outbox_reasons(outbox, lags, policy)
    reasons = (*queue_reasons(queues), *behind)
    notes = (*queue_notes(queues), *webhook_notes(webhooks))
    status = Status.DEGRADED if reported is Status.UP and reasons else reported
    return Assessment(status=status, reasons=reasons, notes=notes, outbox_behind=bool(behind))


class LagHistory:
    """The last few outbox lags of each service, to tell a growing lag from a high one."""

    def __init__(self, policy: BacklogPolicy) -> None:
        self._kept = policy.growth_rounds + 1
        self._lags: dict[str, deque[float]] = {}

    def add(self, service: str, outbox: OutboxReading | None) -> tuple[float, ...]:
        """Record this round's lag (an unreadable or absent outbox breaks the series)."""
        if outbox is None:
            self._lags.pop(service, None)
            return ()
        lags = self._lags.setdefault(service, deque(maxlen=self._kept))
        lags.append(outbox.lag_s)
        return tuple(lags)
