"""Events the webhooks service publishes (exchange ``<ns>.events``, routing key = TYPE)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from tradewind.common.contracts import Contract
from tradewind.common.contracts.types import UtcDateTime


class WebhookTest(Contract):
    """The body of a test delivery; it goes only to the endpoint that asked for it."""

    TYPE: ClassVar[str] = "webhook.test"
    endpoint_id: str
    message: str = "This is a test delivery from Tradewind."


class WebhookMessageFailed(Contract):
    """Every try of one message to one endpoint failed; nothing more will be attempted."""

    TYPE: ClassVar[str] = "webhook.message.failed"
    account_id: str
    endpoint_id: str
    message_id: str = Field(description="The webhook-id the receiver would have seen.")
    event_id: str
    event_type: str
    attempts: int
    last_status_code: int | None
    last_error: str | None
    failed_at: UtcDateTime


class WebhookEndpointDisabled(Contract):
    """An endpoint was disabled by the service (410 Gone, or failing for too long)."""

    TYPE: ClassVar[str] = "webhook.endpoint.disabled"
    account_id: str
    endpoint_id: str
    reason: str
    failing_since: UtcDateTime | None
    disabled_at: UtcDateTime
