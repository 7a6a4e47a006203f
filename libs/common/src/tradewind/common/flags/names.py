"""Every flag the code reads, by name: the names in the flagd file, the metrics' label values.

A flag the code does not list here cannot be read (the typed API takes these enums), so a typo
in the code fails type-checking, and a flag in the file that no code reads is logged at load.
Their effects are documented in docs/operations.md ("Flags").
"""

from __future__ import annotations

from enum import StrEnum


class Feature(StrEnum):
    """Product flags: behaviour rolled out per account or to a share of accounts."""

    GATEWAY_ORDER_ENTRY_ENABLED = "gateway.orderEntryEnabled"
    """Off for an account: the gateway refuses its new orders and replaces (403). Default on."""


class Fault(StrEnum):
    """Fault flags, in the spirit of the OpenTelemetry demo's: each injects one failure while on,
    and the code behaves normally again as soon as it is off (or absent)."""

    ORDERS_COMMAND_DELAY_MS = "orders.commandDelayMs"
    """Milliseconds the orders command batch handler waits before a batch (integer)."""
    ORDERS_COMMAND_FAILURE_SHARE = "orders.commandFailureShare"
    """Share (0 to 1) of orders commands failed before they are applied: retried, then parked."""
    WEBHOOKS_DELIVERY_FAILURE_SHARE = "webhooks.deliveryFailureShare"
    """Share (0 to 1) of webhook attempts answered 500 without being sent."""
    MARKET_DATA_FEED_PAUSED = "marketData.feedPaused"
    """The quote simulator skips its ticks: no simulated quote is published."""
    GATEWAY_REDIS_FAILURE = "gateway.redisFailure"
    """Every Redis call of the gateway fails as if Redis were unreachable."""
    BROKER_DROP_PUBLISH_CONFIRMS = "broker.dropPublishConfirms"
    """Publishes go out, but their confirms are dropped: the publisher gets PublishUnconfirmed."""


Flag = Feature | Fault
KNOWN_FLAGS: frozenset[str] = frozenset({*Feature, *Fault})
