"""Prometheus metrics of webhook delivery (no per-endpoint labels: endpoints are unbounded)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

ATTEMPTS = Counter(
    "tradewind_webhook_attempts_total",
    "Delivery attempts, by outcome (succeeded, failed).",
    ["outcome"],
)
ATTEMPT_SECONDS = Histogram(
    "tradewind_webhook_attempt_seconds",
    "Duration of one delivery attempt (HTTP request to the partner).",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15, 30),
)
DELIVERIES_FINISHED = Counter(
    "tradewind_webhook_deliveries_finished_total",
    "Deliveries that reached a final state, by status (succeeded, failed).",
    ["status"],
)
ENDPOINTS_DISABLED = Counter(
    "tradewind_webhook_endpoints_disabled_total", "Endpoints the service disabled."
)
IN_FLIGHT = Gauge("tradewind_webhook_attempts_in_flight", "Attempts running in this process.")
# Sampled from the database by every process (adapters/backlog.py): the same figures, whichever
# process Prometheus or the health service asks.
DELIVERIES_PENDING = Gauge(
    "tradewind_webhook_deliveries_pending",
    "Deliveries not finished yet (waiting, retrying or in flight), counted up to 100000.",
)
DISABLED_ENDPOINTS = Gauge(
    "tradewind_webhook_disabled_endpoints",
    "Endpoints disabled now, by who disabled them: service (failures, 410) or account.",
    ["disabled_by"],
)
