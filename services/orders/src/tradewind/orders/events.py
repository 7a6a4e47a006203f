"""Staging the service's events in the outbox, in the caller's transaction."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from tradewind.common.broker import Topology
from tradewind.common.contracts import Contract
from tradewind.common.envelope import CloudEvent, new_event
from tradewind.common.outbox import Outbox, OutboxMessage, outbox_message
from tradewind.orders.domain import Order
from tradewind.orders.store import outbox

EVENT_SOURCE = "/tradewind/orders"


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
    ) -> OutboxMessage:
        """The row ``stage`` would write, for the raw command path (which also must NOTIFY)."""
        event = self._event(data, order, now=now, cause=cause, event_id=None)
        return outbox_message(event, exchange=self.topology.events, routing_key=event.type)

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
