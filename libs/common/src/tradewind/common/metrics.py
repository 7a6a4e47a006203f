"""Prometheus metrics shared by every service (default registry, served at /metrics)."""

from __future__ import annotations

from prometheus_client import REGISTRY, Counter, Gauge, Histogram

HTTP_REQUESTS = Counter(
    "tradewind_http_requests_total", "HTTP requests served.", ["method", "route", "status"]
)
HTTP_REQUEST_SECONDS = Histogram(
    "tradewind_http_request_seconds", "HTTP request latency.", ["method", "route"]
)
MESSAGES_PUBLISHED = Counter(
    "tradewind_messages_published_total",
    "Messages published, by outcome (confirmed, rejected, unavailable, unconfirmed).",
    ["exchange", "outcome"],
)
MESSAGES_CONSUMED = Counter(
    "tradewind_messages_consumed_total",
    "Messages consumed, by outcome (acked, retried, requeued, parked).",
    ["queue", "outcome"],
)
MESSAGE_HANDLER_SECONDS = Histogram(
    "tradewind_message_handler_seconds",
    "Time spent in one handler call: one message, or one batch on a batch consumer.",
    ["queue"],
)
MESSAGE_BATCH_SIZE = Histogram(
    "tradewind_message_batch_size",
    "Messages handled together in one batch (one transaction) by a batch consumer.",
    ["queue"],
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256),
)
OUTBOX_PUBLISHED = Counter("tradewind_outbox_published_total", "Outbox rows published.")
OUTBOX_PUBLISH_FAILURES = Counter(
    "tradewind_outbox_publish_failures_total", "Outbox publish attempts that failed."
)
OUTBOX_LAG = Gauge(
    "tradewind_outbox_lag_seconds",
    "Age of the oldest outbox row the relay's last pass claimed (0 when it found none).",
)
# Not registered at import: only a process that runs an outbox relay exports it
# (``export_outbox_backlog``), so its presence on /metrics tells the health service that the
# service has an outbox at all (every process exports the lag gauge above).
OUTBOX_BACKLOG = Gauge(
    "tradewind_outbox_backlog",
    "Outbox rows not yet published, as the relay last saw them (counted up to 100000).",
    registry=None,
)
_outbox_backlog_exported = False


def export_outbox_backlog() -> None:
    """Serve tradewind_outbox_backlog on /metrics from now on (idempotent)."""
    global _outbox_backlog_exported
    if not _outbox_backlog_exported:
        REGISTRY.register(OUTBOX_BACKLOG)
        _outbox_backlog_exported = True
