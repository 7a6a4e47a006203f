"""Command handlers of ``orders.commands``: load, call the domain, save, emit — in one transaction.

The inbox claim, the order change and the outbox row commit together, so a redelivered command
changes nothing and an event is published if and only if its change was committed. Cancel and
replace lock the order row (FOR UPDATE), as quote processing does before it fills: whichever
commits first wins, and the other sees its outcome.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tradewind.common.broker import Delivery, Topology
from tradewind.common.contracts import CancelOrder, PlaceOrder, ReplaceOrder
from tradewind.common.contracts.types import utc_now
from tradewind.common.envelope import CloudEvent
from tradewind.common.outbox import Inbox
from tradewind.orders import domain
from tradewind.orders.command_store import CommandStore
from tradewind.orders.domain import RiskRules
from tradewind.orders.events import EVENT_SOURCE, OrderEvents
from tradewind.orders.store import MarketStore, OrderStore, inbox

log = logging.getLogger(__name__)

__all__ = ["EVENT_SOURCE", "INBOX_CONSUMER", "OrderCommandHandler", "OrderNotFound"]

INBOX_CONSUMER = "orders.commands"


class OrderNotFound(LookupError):
    """No such order for the account (yet): a cancel may have overtaken its place command."""


class OrderCommandHandler:
    """Handles the commands bound to the ``orders.commands`` queue; pass ``handle`` to consume."""

    def __init__(
        self,
        *,
        sessions: async_sessionmaker[AsyncSession],
        rules: RiskRules,
        topology: Topology,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.sessions = sessions
        self.rules = rules
        self.clock = clock
        self.events = OrderEvents(topology)
        self.inbox = Inbox(inbox, consumer=INBOX_CONSUMER)

    async def handle(self, command: CloudEvent, delivery: Delivery) -> None:
        if command.type == PlaceOrder.TYPE:
            await self.place(command, delivery)
        elif command.type == CancelOrder.TYPE:
            await self.cancel(command, delivery)
        elif command.type == ReplaceOrder.TYPE:
            await self.replace(command, delivery)
        else:
            log.debug(
                "ignoring unknown command type",
                extra={"command_type": command.type, "message_id": delivery.message_id},
            )

    async def place(self, command: CloudEvent, delivery: Delivery) -> None:
        place_order = command.data_as(PlaceOrder)
        message_id = _message_id(command, delivery)
        async with (
            self.sessions() as session,
            CommandStore.transaction(session, INBOX_CONSUMER) as store,
        ):
            # A concurrent place with the same client_order_id makes the insert violate the
            # unique index; the error propagates, the broker retries, and the retry rejects.
            known = await store.place_context(
                message_id,
                place_order.order_id,
                place_order.account_id,
                place_order.client_order_id,
                place_order.symbol,
            )
            if not known.claimed:
                _log_redelivery(command, message_id)
                return
            if known.order_exists:
                log.info(
                    "order already placed; ignoring the repeated command",
                    extra={"order_id": str(place_order.order_id)},
                )
                return
            now = self.clock()
            placement = domain.place(
                place_order,
                self.rules,
                known.market,
                client_order_id_in_use=known.client_order_id_in_use,
                now=now,
            )
            await store.insert_and_stage(
                placement.order,
                self.events.outbox_row(placement.event, placement.order, now=now, cause=command),
            )
        log.info(
            "order placed",
            extra={
                "order_id": str(placement.order.id),
                "account_id": placement.order.account_id,
                "status": placement.order.status.value,
                "reject_reason": placement.order.reject_reason,
            },
        )

    async def cancel(self, command: CloudEvent, delivery: Delivery) -> None:
        cancel_order = command.data_as(CancelOrder)
        message_id = _message_id(command, delivery)
        async with (
            self.sessions() as session,
            CommandStore.transaction(session, INBOX_CONSUMER) as store,
        ):
            if not await store.claim(message_id):
                _log_redelivery(command, message_id)
                return
            order = await store.lock(cancel_order.account_id, cancel_order.order_id)
            if order is None:
                raise OrderNotFound(
                    f"order {cancel_order.order_id} not found for account "
                    f"{cancel_order.account_id!r}; it may not have been placed yet"
                )
            now = self.clock()
            outcome = domain.cancel(order, now)
            event = self.events.outbox_row(outcome.event, outcome.order, now=now, cause=command)
            if outcome.changed:
                await store.update_and_stage(outcome.order, event)
            else:
                await store.stage(event)
        log.info(
            "order canceled" if outcome.changed else "cancel refused",
            extra={
                "order_id": str(outcome.order.id),
                "account_id": outcome.order.account_id,
                "status": outcome.order.status.value,
            },
        )

    async def replace(self, command: CloudEvent, delivery: Delivery) -> None:
        replace_order = command.data_as(ReplaceOrder)
        async with self.sessions() as session, session.begin():
            if not await self._claim(session, command, delivery):
                return
            store = OrderStore(session)
            if await store.exists(replace_order.new_order_id):
                log.info(
                    "replacement already exists; ignoring the repeated command",
                    extra={"new_order_id": str(replace_order.new_order_id)},
                )
                return
            order = await store.get(
                replace_order.account_id, replace_order.order_id, for_update=True
            )
            if order is None:
                raise OrderNotFound(
                    f"order {replace_order.order_id} not found for account "
                    f"{replace_order.account_id!r}; it may not have been placed yet"
                )
            if order.replaced_by == replace_order.new_order_id:
                # The same command, republished, raced the first copy here and lost the lock.
                log.info(
                    "order already replaced by this command; ignoring the repeat",
                    extra={"new_order_id": str(replace_order.new_order_id)},
                )
                return
            coid = replace_order.client_order_id
            coid_in_use = (
                coid is not None
                and coid != order.client_order_id
                and await store.client_order_id_in_use(order.account_id, coid)
            )
            market = await _market_view(session, order.symbol)
            now = self.clock()
            outcome = domain.replace(
                order,
                replace_order,
                self.rules,
                market,
                client_order_id_in_use=coid_in_use,
                now=now,
            )
            if outcome.replacement is not None:
                # The old order gives up its client_order_id before the replacement takes it.
                await store.update(outcome.order)
                await store.insert(outcome.replacement)
            await self.events.stage(session, outcome.event, outcome.order, now=now, cause=command)
        log.info(
            "order replaced" if outcome.changed else "replace refused",
            extra={
                "order_id": str(outcome.order.id),
                "new_order_id": str(replace_order.new_order_id),
                "account_id": outcome.order.account_id,
                "status": outcome.order.status.value,
            },
        )

    async def _claim(self, session: AsyncSession, command: CloudEvent, delivery: Delivery) -> bool:
        message_id = _message_id(command, delivery)
        claimed = await self.inbox.claim(session, message_id)
        if not claimed:
            _log_redelivery(command, message_id)
        return claimed


def _message_id(command: CloudEvent, delivery: Delivery) -> str:
    # Every Tradewind publisher sets message_id to the event id; the fallback keeps a bare
    # message from sharing the empty id with every other one.
    return delivery.message_id or command.id


def _log_redelivery(command: CloudEvent, message_id: str) -> None:
    log.info(
        "command already processed; ignoring the redelivery",
        extra={"message_id": message_id, "command_type": command.type},
    )


async def _market_view(session: AsyncSession, symbol: str) -> domain.MarketView:
    market = MarketStore(session)
    book = await market.book(symbol)
    return book.market_view(listed=await market.is_listed(symbol))
