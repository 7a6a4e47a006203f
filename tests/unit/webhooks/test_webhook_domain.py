import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest

from tradewind.webhooks.domain.delivery_rules import (
    AttemptResult,
    BreakerPolicy,
    Circuit,
    DeliveryStatus,
    EndpointHealth,
    decide_delivery,
    disable_reason,
    is_deliverable,
    next_health,
    signing_secrets,
    subscribers,
    webhook_body,
)

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
SCHEDULE = (timedelta(seconds=5), timedelta(minutes=5), timedelta(minutes=30))
POLICY = BreakerPolicy(failure_threshold=3, open_for=timedelta(seconds=30))


def no_jitter() -> float:
    return 0.5


@dataclass(frozen=True)
class FakeEndpoint:
    name: str
    event_types: tuple[str, ...] = ()
    enabled: bool = True
    extra: dict[str, str] = field(default_factory=dict)


# --- fan-out ---


def test_subscribers_are_enabled_endpoints_whose_filters_match() -> None:
    endpoints = [
        FakeEndpoint("all"),
        FakeEndpoint("orders", ("order.*",)),
        FakeEndpoint("fills", ("order.filled",)),
        FakeEndpoint("off", enabled=False),
    ]
    names = [e.name for e in subscribers(endpoints, "order.accepted")]
    assert names == ["all", "orders"]


@pytest.mark.parametrize(
    ("event_type", "account_id", "expected"),
    [
        ("order.accepted", "acc-1", True),
        ("order.accepted", None, False),
        ("market.quote.aapl", None, False),
        ("webhook.message.failed", "acc-1", False),
        ("webhook.endpoint.disabled", "acc-1", False),
    ],
)
def test_is_deliverable(event_type: str, account_id: str | None, expected: bool) -> None:
    assert is_deliverable(event_type, account_id) is expected


def test_webhook_body_is_compact_standard_webhooks_shape() -> None:
    body = webhook_body(
        event_type="order.accepted",
        timestamp=NOW,
        data={"order": {"id": "o-1", "qty": "10"}},
        event_id="e-1",
        max_bytes=65536,
    )
    assert body == (
        b'{"type":"order.accepted","timestamp":"2024-05-01T12:00:00Z",'
        b'"data":{"order":{"id":"o-1","qty":"10"}}}'
    )


def test_oversized_body_is_replaced_by_a_reference() -> None:
    body = webhook_body(
        event_type="order.accepted",
        timestamp=NOW,
        data={"blob": "x" * 5000},
        event_id="e-1",
        max_bytes=1024,
    )
    assert json.loads(body) == {
        "type": "order.accepted",
        "timestamp": "2024-05-01T12:00:00Z",
        "data": {"id": "e-1", "truncated": True},
    }


def test_previous_secret_signs_only_during_the_overlap() -> None:
    expires = NOW + timedelta(hours=24)
    assert signing_secrets("new", "old", expires, NOW) == ["new", "old"]
    assert signing_secrets("new", "old", expires, expires) == ["new"]
    assert signing_secrets("new", None, None, NOW) == ["new"]


# --- attempt outcome ---


@pytest.mark.parametrize("status", [200, 201, 204, 299])
def test_2xx_succeeds(status: int) -> None:
    decision = decide_delivery(
        AttemptResult(status), attempt_in_round=1, schedule=SCHEDULE, now=NOW
    )
    assert decision.status is DeliveryStatus.SUCCEEDED


@pytest.mark.parametrize(
    "result",
    [
        AttemptResult(500),
        AttemptResult(404),
        AttemptResult(302, "redirect 302 to '/x' not followed"),
        AttemptResult(None, "timed out after 15s"),
        AttemptResult(None, "destination refused: 10.0.0.5 is private"),
    ],
)
def test_anything_else_is_retried_on_schedule(result: AttemptResult) -> None:
    decision = decide_delivery(
        result, attempt_in_round=2, schedule=SCHEDULE, now=NOW, rand=no_jitter
    )
    assert decision.status is DeliveryStatus.PENDING
    assert decision.next_attempt_at == NOW + timedelta(minutes=5)


def test_last_try_fails_the_delivery() -> None:
    decision = decide_delivery(AttemptResult(500), attempt_in_round=4, schedule=SCHEDULE, now=NOW)
    assert decision.status is DeliveryStatus.FAILED
    assert decision.next_attempt_at is None


def test_gone_fails_at_once() -> None:
    decision = decide_delivery(AttemptResult(410), attempt_in_round=1, schedule=SCHEDULE, now=NOW)
    assert decision.status is DeliveryStatus.FAILED


@pytest.mark.parametrize("status", [429, 502, 503, 504])
def test_retry_after_replaces_the_scheduled_delay(status: int) -> None:
    decision = decide_delivery(
        AttemptResult(status, retry_after="42"),
        attempt_in_round=1,
        schedule=SCHEDULE,
        now=NOW,
        rand=no_jitter,
    )
    assert decision.next_attempt_at == NOW + timedelta(seconds=42)


def test_retry_after_is_ignored_for_other_statuses() -> None:
    decision = decide_delivery(
        AttemptResult(500, retry_after="42"),
        attempt_in_round=1,
        schedule=SCHEDULE,
        now=NOW,
        rand=no_jitter,
    )
    assert decision.next_attempt_at == NOW + timedelta(seconds=5)


# --- circuit breaker ---


def failures(
    count: int, health: EndpointHealth | None = None, now: datetime = NOW
) -> EndpointHealth:
    health = health or EndpointHealth.healthy()
    for _ in range(count):
        health = next_health(health, AttemptResult(503), now, POLICY)
    return health


def test_consecutive_failures_open_the_circuit() -> None:
    assert failures(2).circuit is Circuit.CLOSED
    opened = failures(3)
    assert opened.circuit is Circuit.OPEN
    assert opened.open_until == NOW + timedelta(seconds=30)
    assert opened.failing_since == NOW


def test_open_circuit_becomes_half_open_when_its_time_is_up() -> None:
    opened = failures(3)
    assert opened.effective_circuit(NOW + timedelta(seconds=29)) is Circuit.OPEN
    assert opened.effective_circuit(NOW + timedelta(seconds=30)) is Circuit.HALF_OPEN


def test_failed_probe_reopens_and_successful_probe_closes() -> None:
    later = NOW + timedelta(seconds=31)
    reopened = next_health(failures(3), AttemptResult(None, "timed out"), later, POLICY)
    assert reopened.circuit is Circuit.OPEN
    assert reopened.open_until == later + timedelta(seconds=30)
    assert reopened.failing_since == NOW
    closed = next_health(failures(3), AttemptResult(200), later, POLICY)
    assert closed == EndpointHealth.healthy()


def test_late_failure_does_not_extend_an_open_circuit() -> None:
    opened = failures(3)
    late = next_health(opened, AttemptResult(500), NOW + timedelta(seconds=1), POLICY)
    assert late.open_until == opened.open_until
    assert late.consecutive_failures == 4


@pytest.mark.parametrize("status", [400, 401, 404, 422])
def test_a_refusing_but_live_endpoint_keeps_its_circuit_closed(status: int) -> None:
    health = next_health(failures(2), AttemptResult(status), NOW, POLICY)
    assert health.circuit is Circuit.CLOSED
    assert health.consecutive_failures == 0
    assert health.failing_since == NOW  # still failing, for the disable rule


@pytest.mark.parametrize("status", [408, 429, 500, 503])
def test_overload_statuses_count_against_the_circuit(status: int) -> None:
    assert AttemptResult(status).endpoint_is_unhealthy


# --- disabling ---


def test_gone_disables() -> None:
    assert disable_reason(AttemptResult(410), failures(1), NOW, timedelta(days=5)) == (
        "the endpoint answered 410 Gone"
    )


def test_failing_continuously_for_the_limit_disables() -> None:
    limit = timedelta(days=5)
    health = failures(1)
    assert (
        disable_reason(AttemptResult(500), health, NOW + limit - timedelta(seconds=1), limit)
        is None
    )
    reason = disable_reason(AttemptResult(500), health, NOW + limit, limit)
    assert reason == "every attempt failed since 2024-05-01T12:00:00+00:00 (limit 5d)"


def test_a_success_resets_the_failing_streak() -> None:
    recovered = next_health(failures(2), AttemptResult(204), NOW, POLICY)
    assert recovered.failing_since is None
    assert (
        disable_reason(AttemptResult(204), recovered, NOW + timedelta(days=9), timedelta(days=5))
        is None
    )
