"""Commands as a publisher outside the services sends them: to the commands exchange, routed by
type, persistent (tests, drills and benchmarks publish straight to the orders service)."""

from __future__ import annotations

import aio_pika

from tradewind.common.envelope import CloudEvent


def command_message(command: CloudEvent) -> aio_pika.Message:
    """``command`` as the gateway publishes it; route it with ``routing_key=command.type``."""
    return aio_pika.Message(
        command.to_json(),
        message_id=command.id,
        type=command.type,
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
    )
