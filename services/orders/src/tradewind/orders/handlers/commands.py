"""Commands of ``orders.commands`` — place, cancel, replace, block and unblock trading — handled
a batch at a time.

A batch is one transaction (group commit): the inbox claims, every order change, the executions
of orders that trade on arrival, and the outbox rows commit together, and each message is acked
once that commit is done. Within a batch, commands are applied in delivery order and each sees
what the earlier ones did, so a cancel right behind its place cancels the order it placed.

The loads come first, in the order every write path takes its locks (book, then orders, then
positions); then the domain decides each command in memory; the unit of work writes it all in
one statement. A command that cannot be applied yet (a cancel that overtook its place) is left
out of the commit and retried; if the transaction itself fails, the consumer retries every
message of the batch on its own (libs/common ``broker.batches``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import ClassVar
from uuid import UUID

import asyncpg

from tradewind.common.broker import BatchOutcome, Incoming, Topology
from tradewind.common.contracts import (
    BlockTrading,
    CancelOrder,
    PlaceOrder,
    ReplaceOrder,
    ReplaceRejected,
    UnblockTrading,
)
from tradewind.common.contracts.types import utc_now
from tradewind.common.envelope import CloudEvent, EnvelopeError
from tradewind.common.outbox_handoff import OutboxHandoff
from tradewind.common.tasks import TimeSlice
from tradewind.orders import domain
from tradewind.orders.adapters import OrdersUnitOfWork
from tradewind.orders.domain import Order, RiskRules, order_classes
from tradewind.orders.domain.ledger import DEFAULT_INITIAL_CASH
from tradewind.orders.handlers.command_faults import command_faults
from tradewind.orders.handlers.events import OrderEvents
from tradewind.orders.handlers.fill_trace import mark_order

log = logging.getLogger(__name__)

INBOX_CONSUMER = "orders.commands"

Command = PlaceOrder | CancelOrder | ReplaceOrder | BlockTrading | UnblockTrading
_COMMAND_TYPES: dict[str, type[Command]] = {
    PlaceOrder.TYPE: PlaceOrder,
    CancelOrder.TYPE: CancelOrder,
    ReplaceOrder.TYPE: ReplaceOrder,
    BlockTrading.TYPE: BlockTrading,
    UnblockTrading.TYPE: UnblockTrading,
}


class OrderNotFound(LookupError):
    """No such order for the account (yet): a cancel may have overtaken its place command."""


@dataclass(frozen=True)
class _Received:
    position: int
    """Where the message is in its batch."""
    incoming: Incoming
    command: Command

    @property
    def message_id(self) -> str:
        # Every Tradewind publisher sets message_id to the event id; the fallback keeps a bare
        # message from sharing the empty id with every other one.
        return self.incoming.delivery.message_id or self.incoming.event.id

    @property
    def event(self) -> CloudEvent:
        return self.incoming.event


class OrderCommandHandler:
    """The batch handler of ``orders.commands``; consumed with ``Subscriptions.consume_batches``,
    which binds its queue to the command types in ``TAKES``."""

    TAKES: ClassVar[tuple[type[Command], ...]] = tuple(_COMMAND_TYPES.values())

    def __init__(
        self,
        *,
        pool: asyncpg.Pool,
        rules: RiskRules,
        topology: Topology,
        max_quote_age: timedelta,
        initial_cash: Decimal = DEFAULT_INITIAL_CASH,
        clock: Callable[[], datetime] = utc_now,
        handoff: OutboxHandoff | None = None,
    ) -> None:
        self.handoff = handoff
        self.pool = pool
        self.rules = rules
        self.initial_cash = initial_cash
        self.max_quote_age = max_quote_age
        self.clock = clock
        self.events = OrderEvents(topology)

    async def __call__(self, batch: Sequence[Incoming]) -> BatchOutcome:
        outcome = BatchOutcome()
        received = await _decode(batch, outcome)
        # Fault flags (off in normal running): delay the batch, or fail some of its commands.
        failed = await command_faults([(i.position, i.command.account_id) for i in received])
        if failed:
            outcome.retry.update(failed)
            received = [item for item in received if item.position not in failed]
        if not received:
            return outcome
        async with OrdersUnitOfWork.begin(
            self.pool, initial_cash=self.initial_cash, handoff=self.handoff
        ) as unit:
            claimed = await unit.claim(INBOX_CONSUMER, [item.message_id for item in received])
            first_time = _first_deliveries(received, claimed)
            await self._load(unit, first_time, self.clock())
            now = _Ticks(self.clock)
            work = TimeSlice()
            for item in first_time:
                with item.incoming.processing():
                    try:
                        self._apply(unit, item, now.next())
                    except OrderNotFound as exc:
                        unit.release(INBOX_CONSUMER, item.message_id)
                        outcome.retry[item.position] = exc
                await work.share()
        return outcome

    async def _load(
        self, unit: OrdersUnitOfWork, received: Sequence[_Received], now: datetime
    ) -> None:
        """Everything the batch's decisions read, locked where it will change."""
        commands = [item.command for item in received]
        places = [c for c in commands if isinstance(c, PlaceOrder)]
        replaces = [c for c in commands if isinstance(c, ReplaceOrder)]
        blocking = {c.account_id for c in commands if isinstance(c, BlockTrading | UnblockTrading)}
        placing = {c.account_id for c in places} | {c.account_id for c in replaces}
        await unit.lock_accounts(placing=placing, blocking=blocking)
        # A block cancels the account's open orders: after the lock, none can be placed unseen.
        canceled_by_blocks = await unit.open_orders_of_accounts(
            {c.account_id for c in commands if isinstance(c, BlockTrading)}
        )
        commanded = {c.order_id for c in commands if isinstance(c, CancelOrder | ReplaceOrder)}
        targets = commanded | canceled_by_blocks
        new_ids = {c.order_id for c in places} | {c.new_order_id for c in replaces}
        naming_client_order_ids: list[PlaceOrder | ReplaceOrder] = [*places, *replaces]
        place_symbols = {c.symbol for c in places}
        await unit.read_committed(
            trading_blocks_of=placing | blocking,
            orders=targets | new_ids,
            client_order_ids={
                (c.account_id, c.client_order_id)
                for c in naming_client_order_ids
                if c.client_order_id is not None
            },
            markets=place_symbols,
            markets_of_orders=targets,
        )
        # Only the targets this first read found are locked and changed in this batch: one that
        # another process commits meanwhile would be changed without its book locked and its
        # market loaded. Its command finds no order here and is retried, and finds it then.
        found = {order.id: order.symbol for order in map(unit.order, targets) if order is not None}
        target_symbols = set(found.values())
        # The books of orders that change, and of symbols an arriving order may trade on now.
        trading = {s for s in place_symbols if unit.book(s).is_fresh(now, self.max_quote_age)}
        await unit.lock_books(target_symbols | trading)
        await unit.load_orders(found.keys(), lock=True)
        # A cancel of a bracket, oco or oto order settles its group: the other orders of the
        # group are locked too (same symbol, so under the book lock taken above).
        await unit.lock_groups([o for o in map(unit.changeable, found.keys()) if o is not None])
        await unit.lock_positions(
            {(c.account_id, c.symbol) for c in places if unit.holds_book(c.symbol)}
            | {
                (order.account_id, order.symbol)
                for order in map(unit.order, commanded & found.keys())
                if order is not None and unit.holds_book(order.symbol)
            }
        )
        # Last: every command may move its account's cash or held value (a place holds, a
        # cancel releases, an arrival fills), and a place or replace reads the buying power.
        await unit.lock_ledgers({c.account_id for c in commands})

    def _apply(self, unit: OrdersUnitOfWork, item: _Received, now: datetime) -> None:
        command = item.command
        if isinstance(command, PlaceOrder):
            self._place(unit, command, item.event, now)
        elif isinstance(command, CancelOrder):
            self._cancel(unit, command, item.event, now)
        elif isinstance(command, ReplaceOrder):
            self._replace(unit, command, item.event, now)
        elif isinstance(command, BlockTrading):
            self._block(unit, command, item.event, now)
        else:
            self._unblock(unit, command, item.event, now)

    def _place(
        self, unit: OrdersUnitOfWork, command: PlaceOrder, event: CloudEvent, now: datetime
    ) -> None:
        if unit.order_exists(command.order_id):
            log.info(
                "order already placed; ignoring the repeated command",
                extra={"order_id": str(command.order_id)},
            )
            return
        coid = command.client_order_id
        placement = order_classes.place_group(
            command,
            self.rules,
            unit.market_view(command.symbol),
            client_order_id_in_use=coid is not None
            and unit.client_order_id_in_use(command.account_id, coid),
            now=now,
            trading_blocked=unit.trading_block(command.account_id) is not None,
            buying_power=unit.ledger(command.account_id).buying_power,
        )
        for order, accepted_or_rejected in zip(placement.orders, placement.events, strict=True):
            mark_order(order.id)
            unit.add(order)
            unit.stage(self.events.outbox_row(accepted_or_rejected, order, now=now, cause=event))
        order = placement.orders[0]
        if order.reject_reason is not None:
            log.info(
                "order rejected",
                extra={
                    "order_id": str(order.id),
                    "account_id": order.account_id,
                    "reject_reason": order.reject_reason,
                },
            )
        group = unit.group(order)
        if group is None:
            self._execute_on_arrival(unit, order, event, now)
            return
        # An entry meets the quote alone (its legs are held); of an oco's two exits, the second
        # meets it only if the first did not trade: at most one exit of a group per quote.
        for arriving in (order,) if group.entry is not None else group.exits:
            if self._execute_on_arrival(unit, arriving, event, now):
                break
        self.events.follow_groups(unit, [group], now=now, cause=event)

    def _cancel(
        self, unit: OrdersUnitOfWork, command: CancelOrder, event: CloudEvent, now: datetime
    ) -> None:
        order = _owned_order(unit, command.order_id, command.account_id)
        group = unit.group(order)
        followers: list[order_classes.GroupChange] = []
        if group is None:
            outcome = domain.cancel(order, now)
        else:
            outcome, followers = order_classes.cancel_in_group(group, order.id, now)
        if outcome.changed:
            unit.update(outcome.order)
        unit.stage(self.events.outbox_row(outcome.event, outcome.order, now=now, cause=event))
        for change in followers:
            self.events.stage_group_change(unit, change, now=now, cause=event)
        log.log(
            logging.DEBUG if outcome.changed else logging.INFO,
            "order canceled" if outcome.changed else "cancel refused",
            extra={"order_id": str(order.id), "status": outcome.order.status.value},
        )

    def _replace(
        self, unit: OrdersUnitOfWork, command: ReplaceOrder, event: CloudEvent, now: datetime
    ) -> None:
        if unit.order_exists(command.new_order_id):
            log.info(
                "replacement already exists; ignoring the repeated command",
                extra={"new_order_id": str(command.new_order_id)},
            )
            return
        order = _owned_order(unit, command.order_id, command.account_id)
        if order.replaced_by == command.new_order_id:
            # The same command, republished, raced the first copy and lost the book lock.
            log.info(
                "order already replaced by this command; ignoring the repeat",
                extra={"new_order_id": str(command.new_order_id)},
            )
            return
        coid = command.client_order_id
        outcome = domain.replace(
            order,
            command,
            self.rules,
            unit.market_view(order.symbol),
            client_order_id_in_use=coid is not None
            and coid != order.client_order_id
            and unit.client_order_id_in_use(order.account_id, coid),
            now=now,
            trading_blocked=unit.trading_block(order.account_id) is not None,
            buying_power=unit.ledger(order.account_id).buying_power,
        )
        if outcome.replacement is not None:
            mark_order(outcome.replacement.id)
            unit.update(outcome.order)
            unit.add(outcome.replacement)
        if outcome.refused_replacement is not None:
            unit.add(outcome.refused_replacement)
        unit.stage(self.events.outbox_row(outcome.event, outcome.order, now=now, cause=event))
        if outcome.replacement is not None:
            self._execute_on_arrival(unit, outcome.replacement, event, now)
        else:
            log.info(
                "replace refused",
                extra={
                    "order_id": str(order.id),
                    "new_order_id": str(command.new_order_id),
                    "reason": outcome.event.reason
                    if isinstance(outcome.event, ReplaceRejected)
                    else None,
                },
            )

    def _block(
        self, unit: OrdersUnitOfWork, command: BlockTrading, event: CloudEvent, now: datetime
    ) -> None:
        account_id = command.account_id
        blocking = domain.block_trading(
            unit.trading_block(account_id), command, unit.open_orders_of(account_id), now
        )
        for order, canceled in blocking.canceled:
            unit.update(order)
            unit.stage(self.events.outbox_row(canceled, order, now=now, cause=event))
        unit.save_trading_block(account_id, blocking.block)
        unit.stage(self.events.account_row(blocking.event, account_id, now=now, cause=event))
        log.warning(
            "trading blocked",
            extra={
                "account_id": account_id,
                "blocked_by": blocking.block.blocked_by.value,
                "canceled_orders": len(blocking.canceled),
            },
        )

    def _unblock(
        self, unit: OrdersUnitOfWork, command: UnblockTrading, event: CloudEvent, now: datetime
    ) -> None:
        account_id = command.account_id
        current = unit.trading_block(account_id)
        unblocked = domain.unblock_trading(current, command, now)
        if unblocked is None:
            log.info(
                "unblock refused" if current is not None else "unblock of an unblocked account",
                extra={
                    "account_id": account_id,
                    "unblocked_by": command.unblocked_by.value,
                    "blocked_by": None if current is None else current.blocked_by.value,
                },
            )
            return
        unit.save_trading_block(account_id, None)
        unit.stage(self.events.account_row(unblocked, account_id, now=now, cause=event))
        log.warning("trading unblocked", extra={"account_id": account_id})

    def _execute_on_arrival(
        self, unit: OrdersUnitOfWork, order: Order, event: CloudEvent, now: datetime
    ) -> bool:
        """A new order meets the latest quote at once when this batch holds its fresh book;
        whether it traded."""
        if not unit.holds_book(order.symbol):
            return False
        match = domain.execute_on_arrival(
            order,
            unit.book(order.symbol),
            now,
            max_quote_age=self.max_quote_age,
            lot_size=unit.lot_size(order.symbol),
        )
        if match is not None and match.changes:
            self.events.settle(unit, match, now=now, cause=event)
        return match is not None and bool(match.executions)


class _Ticks:
    """The clock, read once per command and strictly increasing within a batch: commands keep
    their delivery order in time priority (created_at), even when the clock has not moved."""

    def __init__(self, clock: Callable[[], datetime]) -> None:
        self.clock = clock
        self.last: datetime | None = None

    def next(self) -> datetime:
        now = self.clock()
        if self.last is not None and now <= self.last:
            now = self.last + _MICROSECOND
        self.last = now
        return now


_MICROSECOND = timedelta(microseconds=1)


def _owned_order(unit: OrdersUnitOfWork, order_id: UUID, account_id: str) -> Order:
    order = unit.changeable(order_id)
    if order is None or order.account_id != account_id:
        raise OrderNotFound(
            f"order {order_id} not found for account {account_id!r}; "
            "it may not have been placed yet"
        )
    return order


async def _decode(batch: Sequence[Incoming], outcome: BatchOutcome) -> list[_Received]:
    received: list[_Received] = []
    work = TimeSlice()
    for position, incoming in enumerate(batch):
        await work.share()
        command_type = _COMMAND_TYPES.get(incoming.event.type)
        if command_type is None:
            log.debug(
                "ignoring unknown command type",
                extra={
                    "command_type": incoming.event.type,
                    "message_id": incoming.delivery.message_id,
                },
            )
            continue
        try:
            command = incoming.event.data_as(command_type)
        except EnvelopeError as exc:
            outcome.park[position] = exc
            continue
        received.append(_Received(position, incoming, command))
    return received


def _first_deliveries(received: Sequence[_Received], claimed: set[str]) -> list[_Received]:
    """The messages this batch processes: claimed now, and only the first copy of each."""
    first: list[_Received] = []
    seen: set[str] = set()
    for item in received:
        if item.message_id not in claimed or item.message_id in seen:
            log.info(
                "command already processed; ignoring the redelivery",
                extra={"message_id": item.message_id, "command_type": item.event.type},
            )
            continue
        seen.add(item.message_id)
        first.append(item)
    return first
