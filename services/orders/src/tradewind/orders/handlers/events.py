"""The service's events as outbox rows: envelope, routing, trace context of the work that caused
them. The unit of work stages them; the relay publishes them once the transaction commits.

Trade updates (events about an account's orders) are staged before they are encoded: their
account sequence is given when the transaction flushes (``adapters.account_sequences``), and
they are encoded then, under the trace context they were staged in."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from uuid import UUID

from opentelemetry import context as otel_context

from tradewind.common.broker import Topology
from tradewind.common.contracts import Contract, OrderFill, TradeUpdate
from tradewind.common.envelope import CloudEvent, event_source
from tradewind.common.outbox import OutboxMessage, event_message
from tradewind.orders import domain
from tradewind.orders.adapters import OrdersUnitOfWork
from tradewind.orders.adapters.account_sequences import StagedEvent
from tradewind.orders.domain import Order, order_classes
from tradewind.orders.handlers.fill_trace import fill_span

EVENT_SOURCE = event_source("orders")


@dataclass(frozen=True)
class _UnnumberedTradeUpdate:
    """A trade update waiting for its account sequence (a ``SequencedEvent``)."""

    account_id: str
    data: TradeUpdate
    encode: Callable[[Contract], OutboxMessage]
    staged_in: otel_context.Context
    """The trace context it was staged in: the outbox row carries it, not the flush's."""

    def numbered(self, sequence: int) -> OutboxMessage:
        token = otel_context.attach(self.staged_in)
        try:
            return self.encode(self.data.model_copy(update={"account_sequence": sequence}))
        finally:
            otel_context.detach(token)


class OrderEvents:
    """Builds the events about orders; ``cause`` is the message that led to one, if any."""

    def __init__(self, topology: Topology) -> None:
        self.topology = topology

    def outbox_row(
        self,
        data: Contract,
        order: Order,
        *,
        now: datetime,
        cause: CloudEvent | None = None,
        event_id: str | None = None,
    ) -> StagedEvent:
        """An event about ``order``; a trade update is numbered when the transaction flushes."""
        encode = partial(
            self._row,
            subject=str(order.id),
            account_id=order.account_id,
            now=now,
            cause=cause,
            event_id=event_id,
        )
        if isinstance(data, TradeUpdate):
            return _UnnumberedTradeUpdate(
                order.account_id, data, encode, otel_context.get_current()
            )
        return encode(data)

    def account_row(
        self, data: Contract, account_id: str, *, now: datetime, cause: CloudEvent | None = None
    ) -> OutboxMessage:
        """An event about the account itself (its subject is the account)."""
        return self._row(data, account_id, account_id, now=now, cause=cause)

    def _row(
        self,
        data: Contract,
        subject: str,
        account_id: str,
        *,
        now: datetime,
        cause: CloudEvent | None,
        event_id: str | None = None,
    ) -> OutboxMessage:
        return event_message(
            data,
            event_type=data.TYPE,
            source=EVENT_SOURCE,
            exchange=self.topology.events,
            time=now,
            subject=subject,
            account_id=account_id,
            correlation_id=None if cause is None else cause.correlationid or cause.id,
            causation_id=None if cause is None else cause.id,
            event_id=event_id,
        )

    def settle(
        self, unit: OrdersUnitOfWork, match: domain.Match, *, now: datetime, cause: CloudEvent
    ) -> None:
        """Stage what a quote (or an arrival) did: orders, executions, positions, book, events.

        The accounts' positions in the symbol must be locked in ``unit`` already. Each fill
        event is staged inside its fill span, linked to the trace its order was placed in.
        """
        for change in match.changes:
            unit.update(change.order)
        unit.add_executions(match.executions)
        accounts = {execution.account_id for execution in match.executions}
        symbol = match.book.symbol
        settlement = domain.settle(match, unit.positions_of(symbol, accounts), now)
        unit.save_positions(settlement.positions)
        if match.book != unit.book(symbol):
            unit.save_book(match.book)
        for staged in settlement.events:
            tracing = (
                fill_span(
                    staged.data,
                    quote_sequence=match.quote_sequence,
                    placed_in=unit.placed_in(staged.order.id),
                )
                if isinstance(staged.data, OrderFill)
                else contextlib.nullcontext()
            )
            with tracing:
                unit.stage(
                    self.outbox_row(
                        staged.data, staged.order, now=now, cause=cause, event_id=staged.id
                    )
                )

    def follow_groups(
        self,
        unit: OrdersUnitOfWork,
        groups: Iterable[order_classes.OrderGroup],
        *,
        now: datetime,
        cause: CloudEvent | None,
    ) -> None:
        """Stage what the groups' other orders do after changes staged in ``unit`` (fills,
        cancels, expiries of their orders): ``groups`` are the groups as loaded, before them."""
        for before in groups:
            after = unit.group(before.parent)
            if after is None or after == before:
                continue
            for change in order_classes.follow(before, after, now):
                self.stage_group_change(unit, change, now=now, cause=cause)

    def stage_group_change(
        self,
        unit: OrdersUnitOfWork,
        change: order_classes.GroupChange,
        *,
        now: datetime,
        cause: CloudEvent | None,
    ) -> None:
        unit.update(change.order)
        if change.event is not None:
            unit.stage(
                self.outbox_row(
                    change.event, change.order, now=now, cause=cause, event_id=change.event_id
                )
            )


def order_groups(
    unit: OrdersUnitOfWork, orders: Iterable[Order]
) -> dict[UUID, order_classes.OrderGroup]:
    """The locked groups of ``orders`` as ``unit`` sees them now, by parent id."""
    groups: dict[UUID, order_classes.OrderGroup] = {}
    for order in orders:
        group = unit.group(order)
        if group is not None:
            groups[group.id] = group
    return groups
