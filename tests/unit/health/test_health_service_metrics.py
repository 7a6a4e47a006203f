"""Outbox and webhook figures read from a /metrics page, as prometheus_client writes it."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Gauge, generate_latest

from tradewind.health.domain.readings import OutboxReading, WebhookReading
from tradewind.health.domain.service_metrics import parse_service_metrics


def page(*, relay: bool, webhooks: bool, breaker: float | None = None) -> str:
    """A /metrics page written by prometheus_client itself."""
    registry = CollectorRegistry()
    Gauge("tradewind_outbox_lag_seconds", "lag", registry=registry).set(12.5)
    if relay:
        Gauge("tradewind_outbox_backlog", "backlog", registry=registry).set(42)
    if webhooks:
        Gauge("tradewind_webhook_deliveries_pending", "pending", registry=registry).set(7)
        disabled = Gauge(
            "tradewind_webhook_disabled_endpoints", "disabled", ["disabled_by"], registry=registry
        )
        disabled.labels(disabled_by="service").set(2)
        disabled.labels(disabled_by="account").set(1)
    if breaker is not None:
        state = Gauge("tradewind_circuit_breaker_state", "state", ["breaker"], registry=registry)
        state.labels(breaker="orders").set(breaker)
    Gauge("tradewind_webhook_attempts_in_flight", "unrelated", registry=registry).set(3)
    return generate_latest(registry).decode()


def test_a_service_with_a_relay_shows_its_outbox() -> None:
    read = parse_service_metrics(page(relay=True, webhooks=False, breaker=2))

    assert read.outbox == OutboxReading(lag_s=12.5, backlog=42)
    assert read.webhooks is None
    assert read.breakers == {"orders": "open"}


def test_a_service_without_a_relay_has_no_outbox_although_the_lag_gauge_is_there() -> None:
    # Every process exports the lag gauge (libs/common); only relays export the backlog.
    read = parse_service_metrics(page(relay=False, webhooks=False))

    assert read.outbox is None
    assert read.breakers == {}


def test_the_webhooks_service_shows_its_backlog_and_disabled_endpoints() -> None:
    read = parse_service_metrics(page(relay=True, webhooks=True))

    assert read.webhooks == WebhookReading(
        pending_deliveries=7, disabled_by_service=2, disabled_by_account=1
    )


def test_a_malformed_line_spoils_only_its_own_family() -> None:
    text = page(relay=True, webhooks=False, breaker=0) + "tradewind_outbox_backlog{oops 1\n"
    read = parse_service_metrics(text)

    assert read.outbox is None
    assert read.breakers == {"orders": "closed"}
