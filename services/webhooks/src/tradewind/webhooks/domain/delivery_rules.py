"""Delivery rules: who receives an event, which events the queue needs, what an attempt's outcome
means, circuit and disabling.

Pure: no I/O and no clock (``now`` is always passed in), so every rule is unit-testable.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol, TypeVar

from tradewind.common.contracts.event_filters import WILDCARD, matches
from tradewind.webhooks.domain.schedule import delay_for_response

GONE = 410
# Our own operational events are for operators and other services. Delivering them as webhooks
# would loop: a failed delivery of "webhook.message.failed" would produce another one.
OWN_EVENT_PREFIX = "webhook."


# --- fan-out ---


class Subscriber(Protocol):
    @property
    def enabled(self) -> bool: ...
    @property
    def event_types(self) -> Sequence[str]: ...


S = TypeVar("S", bound=Subscriber)


def is_deliverable(event_type: str, account_id: str | None) -> bool:
    """Whether an event from the bus can become a webhook at all."""
    return account_id is not None and not event_type.startswith(OWN_EVENT_PREFIX)


def subscribers(endpoints: Iterable[S], event_type: str) -> list[S]:
    """The enabled endpoints whose filters match ``event_type`` (no filters: every type)."""
    return [e for e in endpoints if e.enabled and matches(e.event_types, event_type)]


def webhook_body(
    *,
    event_type: str,
    timestamp: datetime,
    data: Mapping[str, Any],
    event_id: str,
    max_bytes: int,
) -> bytes:
    """The Standard Webhooks body ``{"type", "timestamp", "data"}``, compact and bounded."""
    stamp = timestamp.isoformat().replace("+00:00", "Z")
    body = _compact({"type": event_type, "timestamp": stamp, "data": data})
    if len(body) <= max_bytes:
        return body
    # Too large to push: the receiver learns the event exists and can fetch it through the API.
    return _compact(
        {"type": event_type, "timestamp": stamp, "data": {"id": event_id, "truncated": True}}
    )


def _compact(value: Mapping[str, Any]) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def signing_secrets(
    secret: str,
    previous_secret: str | None,
    previous_expires_at: datetime | None,
    now: datetime,
) -> list[str]:
    """The secrets an attempt is signed with: the previous one too while the overlap lasts."""
    if (
        previous_secret is not None
        and previous_expires_at is not None
        and now < previous_expires_at
    ):
        return [secret, previous_secret]
    return [secret]


# --- bindings: which events the queue must receive ---

# AMQP topic wildcards: "*" is exactly one word, "#" zero or more.
EVERY_ROUTING_KEY = "#"


def topic_pattern(event_filter: str) -> str:
    """The AMQP topic pattern that routes at least every type ``event_filter`` matches.

    A superset rather than the same set (``order.#`` also routes ``order``, which ``order.*``
    does not match): the broker only has to bring every wanted event, ``subscribers`` decides
    exactly. A middle ``*`` is one word in both languages; only a trailing ``*`` changes.
    """
    segments = event_filter.split(".")
    if segments[-1] == WILDCARD:
        segments[-1] = EVERY_ROUTING_KEY
    return ".".join(segments)


def binding_patterns(filter_lists: Iterable[Sequence[str]]) -> frozenset[str]:
    """The events queue's bindings: the union of the patterns of every enabled endpoint's filters
    (an endpoint without filters wants every type)."""
    patterns: set[str] = set()
    for filters in filter_lists:
        patterns.update(topic_pattern(f) for f in filters or [WILDCARD])
    # Beside "#" any other binding only costs the broker a lookup: a queue gets a message once.
    if EVERY_ROUTING_KEY in patterns:
        return frozenset({EVERY_ROUTING_KEY})
    return frozenset(patterns)


@dataclass(frozen=True)
class BindingChanges:
    bind: frozenset[str]
    unbind: frozenset[str]


def binding_changes(
    *,
    required: frozenset[str],
    recorded: frozenset[str],
    bound_here: frozenset[str],
    rebind_all: bool,
) -> BindingChanges:
    """What to bind and unbind so the queue has exactly the ``required`` bindings.

    ``recorded`` is what the shared record says is bound; ``bound_here`` what this process bound
    itself, which its broker client re-applies after a reconnect even if another process has
    unbound it since. ``rebind_all`` binds every required pattern again (binding is idempotent),
    for a queue that may have been recreated without its bindings.
    """
    return BindingChanges(
        bind=required if rebind_all else required - recorded,
        unbind=(recorded | bound_here) - required,
    )


# --- one attempt's outcome ---


@dataclass(frozen=True)
class AttemptResult:
    """What one HTTP attempt produced. ``status_code`` is None when no response arrived."""

    status_code: int | None
    error: str | None = None
    retry_after: str | None = None

    @property
    def succeeded(self) -> bool:
        return self.error is None and self.status_code is not None and 200 <= self.status_code < 300

    @property
    def endpoint_is_unhealthy(self) -> bool:
        """Whether this failure says the endpoint is down or overloaded, not just "no".

        A 4xx other than 408/429 comes from a live endpoint refusing this one message; it must
        not open the circuit and hold back every other message.
        """
        if self.succeeded:
            return False
        code = self.status_code
        return code is None or code >= 500 or code in (408, 429)


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


@dataclass(frozen=True)
class DeliveryDecision:
    status: DeliveryStatus
    next_attempt_at: datetime | None = None


def decide_delivery(
    result: AttemptResult,
    *,
    attempt_in_round: int,
    schedule: Sequence[timedelta],
    now: datetime,
    rand: Callable[[], float] = random.random,
) -> DeliveryDecision:
    """Next state of a delivery after its ``attempt_in_round``-th try (1-based) of this round.

    A round is the schedule from its start: the first send, or a resend/recover.
    """
    if result.succeeded:
        return DeliveryDecision(DeliveryStatus.SUCCEEDED)
    if result.status_code == GONE:
        return DeliveryDecision(DeliveryStatus.FAILED)
    delay = delay_for_response(
        schedule, attempt_in_round, result.status_code, result.retry_after, now, rand=rand
    )
    if delay is None:
        return DeliveryDecision(DeliveryStatus.FAILED)
    return DeliveryDecision(DeliveryStatus.PENDING, now + delay)


# --- endpoint health: circuit breaker and the disable rule ---


class Circuit(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    # Never stored: an open circuit whose open_until has passed admits one probe.
    HALF_OPEN = "half_open"


@dataclass(frozen=True)
class BreakerPolicy:
    failure_threshold: int
    open_for: timedelta


@dataclass(frozen=True)
class EndpointHealth:
    circuit: Circuit
    consecutive_failures: int
    open_until: datetime | None
    failing_since: datetime | None

    @classmethod
    def healthy(cls) -> EndpointHealth:
        return cls(Circuit.CLOSED, 0, None, None)

    def effective_circuit(self, now: datetime) -> Circuit:
        if self.circuit is Circuit.OPEN and self.open_until is not None and self.open_until <= now:
            return Circuit.HALF_OPEN
        return self.circuit


def next_health(
    health: EndpointHealth, result: AttemptResult, now: datetime, policy: BreakerPolicy
) -> EndpointHealth:
    """The endpoint's health after one attempt finished."""
    if result.succeeded:
        return EndpointHealth.healthy()
    failing_since = health.failing_since or now
    if not result.endpoint_is_unhealthy:
        # Alive but refusing: the circuit closes, the failing streak (for disabling) goes on.
        return EndpointHealth(Circuit.CLOSED, 0, None, failing_since)
    failures = health.consecutive_failures + 1
    circuit = health.effective_circuit(now)
    if circuit is Circuit.OPEN:
        # An attempt admitted before the circuit opened; it does not extend the open period.
        return replace(health, consecutive_failures=failures, failing_since=failing_since)
    if circuit is Circuit.HALF_OPEN or failures >= policy.failure_threshold:
        return EndpointHealth(Circuit.OPEN, failures, now + policy.open_for, failing_since)
    return EndpointHealth(Circuit.CLOSED, failures, None, failing_since)


def disable_reason(
    result: AttemptResult, health: EndpointHealth, now: datetime, disable_after: timedelta
) -> str | None:
    """Why the endpoint must be disabled after this attempt (``health`` is after it), if so."""
    if result.status_code == GONE:
        return "the endpoint answered 410 Gone"
    if result.succeeded or health.failing_since is None:
        return None
    if now - health.failing_since >= disable_after:
        return (
            f"every attempt failed since {health.failing_since.isoformat()} "
            f"(limit {_describe(disable_after)})"
        )
    return None


def _describe(duration: timedelta) -> str:
    seconds = duration.total_seconds()
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"
