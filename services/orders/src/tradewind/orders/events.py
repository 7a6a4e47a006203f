"""Staging the service's events in the outbox, in the caller's transaction."""

from __future__ import annotations

import json
from datetime import datetime
from typing import NamedTuple

from opentelemetry import propagate
from sqlalchemy.ext.asyncio import AsyncSession

from tradewind.common.broker import Topology
from tradewind.common.contracts import Contract
from tradewind.common.envelope import CloudEvent, new_event
from tradewind.common.outbox import Outbox
from tradewind.orders.domain import Order
from tradewind.orders.store import outbox

EVENT_SOURCE = "/tradewind/orders"


class OutboxRow(NamedTuple):
    """An outbox row's values, in the column order the raw command path inserts them."""

    message_id: str
    message_type: str
    exchange: str
    routing_key: str
    body: bytes
    headers: str
    """JSON of the W3C trace context of the transaction that wrote the row."""


class OrderEvents:
    """Puts events about orders in the outbox; the relay publishes them once committed."""

    def __init__(self, topology: Topology) -> None:
        self.topology = topology
        self.outbox = Outbox(outbox)

    async def stage(
        self,
        session: AsyncSession,
        data: Contract,
        order: Order,
        *,
        now: datetime,
        cause: CloudEvent | None = None,
        event_id: str | None = None,
    ) -> None:
        """Stage ``data`` about ``order``; ``cause`` is the message that led to it, if any."""
        event = self._event(data, order, now=now, cause=cause, event_id=event_id)
        await self.outbox.add(session, event, exchange=self.topology.events, routing_key=event.type)

    def outbox_row(
        self, data: Contract, order: Order, *, now: datetime, cause: CloudEvent | None = None
    ) -> OutboxRow:
        """The row ``stage`` would write, for the raw command path (which also must NOTIFY).

        As ``Outbox.add``: the current trace context goes into the headers and, unless the event
        has its own, into the CloudEvent's traceparent extension.
        """
        event = self._event(data, order, now=now, cause=cause, event_id=None)
        headers: dict[str, str] = {}
        propagate.inject(headers)
        if event.traceparent is None and "traceparent" in headers:
            event = event.model_copy(
                update={
                    "traceparent": headers["traceparent"],
                    "tracestate": headers.get("tracestate") or None,
                }
            )
        return OutboxRow(
            message_id=event.id,
            message_type=event.type,
            exchange=self.topology.events,
            routing_key=event.type,
            body=event.to_json(),
            headers=json.dumps(headers),
        )

    def _event(
        self,
        data: Contract,
        order: Order,
        *,
        now: datetime,
        cause: CloudEvent | None,
        event_id: str | None,
    ) -> CloudEvent:
        return new_event(
            source=EVENT_SOURCE,
            data=data,
            event_type=data.TYPE,
            subject=str(order.id),
            account_id=order.account_id,
            correlation_id=None if cause is None else cause.correlationid or cause.id,
            causation_id=None if cause is None else cause.id,
            event_id=event_id,
            time=now,
        )
