"""What must hold after any fault, read from the stores, the receiver and the broker.

Nothing lost: every order answered 202 exists and is decided; every command answered 202 has
its outcome; every event of the account reached the partner. Nothing doubled: one event per
state change, one fill event per execution, no order filled beyond its executions, positions
equal to the sum of the fills. The parking lots hold the injected poison and nothing else.

Each broken promise is a ``Finding``: ``lost`` (something answered for never happened),
``duplicated`` (something happened twice) or ``wrong`` (the stores disagree).
"""

from __future__ import annotations

import json
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

import asyncpg

from chaos.load import Ledger
from chaos.receiver import WebhookReceiver
from chaos.system import ChaosSystem, Poison

Kind = Literal["lost", "duplicated", "wrong"]
FILL_EVENTS = frozenset({"order.filled", "order.partially_filled"})
DECISIONS = frozenset({"order.accepted", "order.rejected"})
CANCEL_OUTCOMES = frozenset({"order.canceled", "order.cancel_rejected"})


@dataclass(frozen=True)
class Finding:
    kind: Kind
    what: str


@dataclass(frozen=True)
class OrderRow:
    id: uuid.UUID
    status: str
    qty: Decimal
    filled_qty: Decimal
    replaces: uuid.UUID | None


@dataclass(frozen=True)
class ExecutionRow:
    id: uuid.UUID
    order_id: uuid.UUID
    symbol: str
    side: str
    qty: Decimal


@dataclass(frozen=True)
class OutboxEvent:
    id: str
    type: str
    subject: str | None
    published: bool
    data: Mapping[str, Any]


@dataclass(frozen=True)
class WebhookMessage:
    webhook_id: str
    event_id: str
    delivery_status: str | None


@dataclass
class AccountSnapshot:
    """One account as the stores and the receiver see it at one moment."""

    account: str
    orders: dict[uuid.UUID, OrderRow]
    executions: list[ExecutionRow]
    positions: dict[str, Decimal]
    events: list[OutboxEvent]
    messages: dict[str, WebhookMessage]
    """event id -> the webhook message made of it."""
    received: Counter[str]
    """webhook-id -> times the receiver got it."""


@dataclass
class Verdict:
    findings: list[Finding] = field(default_factory=list)
    redelivered_webhooks: int = 0
    """Extra arrivals of a webhook-id already received: allowed (at-least-once), reported."""
    webhooks_received: int = 0
    """Distinct webhook-ids received for the account."""

    def add(self, kind: Kind, what: str) -> None:
        self.findings.append(Finding(kind, what))

    def count(self, kind: Kind) -> int:
        return sum(1 for finding in self.findings if finding.kind == kind)

    def extend(self, other: Verdict) -> None:
        self.findings.extend(other.findings)
        self.redelivered_webhooks += other.redelivered_webhooks
        self.webhooks_received += other.webhooks_received


async def snapshot(system: ChaosSystem, receiver: WebhookReceiver, account: str) -> AccountSnapshot:
    orders_rows, execution_rows, position_rows, outbox_rows = await _orders_side(
        system.orders_db, account
    )
    message_rows = await system.webhooks_db.fetch(
        """SELECT m.id, m.event_id, d.status FROM messages m
           LEFT JOIN deliveries d ON d.message_id = m.id
           WHERE m.account_id = $1""",
        account,
    )
    events = []
    for row in outbox_rows:
        body = json.loads(row["body"])
        events.append(
            OutboxEvent(
                id=body["id"],
                type=body["type"],
                subject=body.get("subject"),
                published=row["published_at"] is not None,
                data=body.get("data") or {},
            )
        )
    return AccountSnapshot(
        account=account,
        orders={
            row["id"]: OrderRow(
                row["id"], row["status"], row["qty"], row["filled_qty"], row["replaces"]
            )
            for row in orders_rows
        },
        executions=[
            ExecutionRow(row["id"], row["order_id"], row["symbol"], row["side"], row["qty"])
            for row in execution_rows
        ],
        positions={row["symbol"]: row["qty"] for row in position_rows},
        events=events,
        messages={
            row["event_id"]: WebhookMessage(row["id"], row["event_id"], row["status"])
            for row in message_rows
        },
        received=receiver.times_received(account),
    )


async def _orders_side(
    pool: asyncpg.Pool, account: str
) -> tuple[list[asyncpg.Record], list[asyncpg.Record], list[asyncpg.Record], list[asyncpg.Record]]:
    # One repeatable-read transaction: the four reads see the same committed state.
    async with pool.acquire() as connection, connection.transaction(isolation="repeatable_read"):
        orders = await connection.fetch(
            "SELECT id, status, qty, filled_qty, replaces FROM orders WHERE account_id = $1",
            account,
        )
        executions = await connection.fetch(
            "SELECT id, order_id, symbol, side, qty FROM executions WHERE account_id = $1",
            account,
        )
        positions = await connection.fetch(
            "SELECT symbol, qty FROM positions WHERE account_id = $1", account
        )
        # The account is only inside the body: a scan, which the drills' outbox affords.
        outbox = await connection.fetch(
            """SELECT body, published_at FROM outbox
               WHERE message_type LIKE 'order.%'
               AND convert_from(body, 'UTF8')::jsonb ->> 'accountid' = $1""",
            account,
        )
    return orders, executions, positions, outbox


def judge(state: AccountSnapshot, ledger: Ledger) -> Verdict:
    verdict = Verdict()
    about: dict[str, list[OutboxEvent]] = defaultdict(list)
    for event in state.events:
        about[event.subject or ""].append(event)
    _answered_orders_exist(state, ledger, verdict)
    _one_decision_per_order(state, about, verdict)
    _one_event_per_change(state, about, verdict)
    _one_outcome_per_cancel(about, ledger, verdict)
    _fills_add_up(state, verdict)
    _positions_add_up(state, verdict)
    _events_reached_the_partner(state, verdict)
    for conflict in ledger.conflicting_answers:
        verdict.add("duplicated", f"one Idempotency-Key answered with two orders: {conflict}")
    return verdict


def _answered_orders_exist(state: AccountSnapshot, ledger: Ledger, verdict: Verdict) -> None:
    for order_id in ledger.placed:
        row = state.orders.get(order_id)
        if row is None or row.status == "pending_new":
            verdict.add("lost", f"order {order_id} answered 202, never decided")
    # A refused replace records its replacement as rejected: every answered one has its row.
    for new_id, old_id in ledger.replacements.items():
        row = state.orders.get(new_id)
        if row is None:
            verdict.add("lost", f"replace of {old_id} by {new_id} answered 202, never decided")
        elif row.replaces != old_id:
            verdict.add("wrong", f"replacement {new_id} replaces {row.replaces}, not {old_id}")


def _one_decision_per_order(
    state: AccountSnapshot, about: Mapping[str, list[OutboxEvent]], verdict: Verdict
) -> None:
    """A placed order is accepted or rejected once; a replacement is born once, in the
    order.replaced that made it or the order.replace_rejected that refused it."""
    replacement_births = Counter(
        str(event.data["replacement"]["id"])
        for event in state.events
        if event.type == "order.replaced"
    ) + Counter(
        str(event.data["new_order_id"])
        for event in state.events
        if event.type == "order.replace_rejected"
    )
    for order in state.orders.values():
        if order.replaces is None:
            born = sum(1 for event in about.get(str(order.id), ()) if event.type in DECISIONS)
            what = "order.accepted/rejected"
        else:
            born = replacement_births[str(order.id)]
            what = "order.replaced or order.replace_rejected naming it as the replacement"
        _exactly_one(verdict, born, f"{what} for order {order.id}")


def _one_event_per_change(
    state: AccountSnapshot, about: Mapping[str, list[OutboxEvent]], verdict: Verdict
) -> None:
    """Each terminal change by a command or a sweep has its one event; none without it."""
    for order in state.orders.values():
        types = Counter(event.type for event in about.get(str(order.id), ()))
        for event_type, status in (
            ("order.canceled", "canceled"),
            ("order.replaced", "replaced"),
            ("order.expired", "expired"),
        ):
            if order.status == status:
                _exactly_one(verdict, types[event_type], f"{event_type} for order {order.id}")
            elif types[event_type]:
                verdict.add("wrong", f"{event_type} for order {order.id}, which is {order.status}")
    fill_events = Counter(
        str(event.data.get("execution_id")) for event in state.events if event.type in FILL_EVENTS
    )
    executed = {str(execution.id) for execution in state.executions}
    for execution in state.executions:
        _exactly_one(
            verdict, fill_events[str(execution.id)], f"fill event of execution {execution.id}"
        )
    for execution_id in set(fill_events) - executed:
        verdict.add("wrong", f"a fill event for execution {execution_id}, which does not exist")


def _one_outcome_per_cancel(
    about: Mapping[str, list[OutboxEvent]], ledger: Ledger, verdict: Verdict
) -> None:
    """Every cancel command ends in order.canceled or order.cancel_rejected, once.

    The drills place no ioc/fok orders, so no order.canceled comes from anything but a cancel.
    A cancel answered 202 must have its outcome; a cancel that was sent but not answered (the
    gateway died) may have one too, so more outcomes than cancels sent is the duplicate.
    """
    for order_id in set(ledger.cancel_attempts) | set(ledger.cancels_accepted):
        outcomes = sum(1 for event in about.get(str(order_id), ()) if event.type in CANCEL_OUTCOMES)
        if outcomes < ledger.cancels_accepted[order_id]:
            verdict.add(
                "lost",
                f"{ledger.cancels_accepted[order_id]} cancels of {order_id} answered 202, "
                f"{outcomes} outcomes",
            )
        elif outcomes > ledger.cancel_attempts[order_id]:
            verdict.add(
                "duplicated",
                f"{ledger.cancel_attempts[order_id]} cancels of {order_id} sent, "
                f"{outcomes} outcomes",
            )


def _fills_add_up(state: AccountSnapshot, verdict: Verdict) -> None:
    executed: dict[uuid.UUID, Decimal] = defaultdict(Decimal)
    for execution in state.executions:
        executed[execution.order_id] += execution.qty
    for order in state.orders.values():
        total = executed.get(order.id, Decimal(0))
        if total > order.filled_qty or order.filled_qty > order.qty:
            verdict.add(
                "duplicated",
                f"order {order.id}: qty {order.qty}, filled {order.filled_qty}, executed {total}",
            )
        elif total < order.filled_qty:
            verdict.add("wrong", f"order {order.id}: filled {order.filled_qty}, executed {total}")


def _positions_add_up(state: AccountSnapshot, verdict: Verdict) -> None:
    signed: dict[str, Decimal] = defaultdict(Decimal)
    for execution in state.executions:
        signed[execution.symbol] += execution.qty if execution.side == "buy" else -execution.qty
    for symbol in set(signed) | set(state.positions):
        held = state.positions.get(symbol, Decimal(0))
        if held != signed.get(symbol, Decimal(0)):
            verdict.add("wrong", f"position {symbol}: {held}, fills sum to {signed[symbol]}")


def _events_reached_the_partner(state: AccountSnapshot, verdict: Verdict) -> None:
    for event in state.events:
        if not event.published:
            verdict.add("lost", f"{event.type} {event.id} still in the outbox")
            continue
        message = state.messages.get(event.id)
        if message is None:
            verdict.add("lost", f"{event.type} {event.id} never reached the webhooks service")
        elif state.received[message.webhook_id] == 0:
            verdict.add(
                "lost",
                f"{event.type} {event.id} ({message.webhook_id}, delivery "
                f"{message.delivery_status}) never reached the receiver",
            )
    known = {message.webhook_id for message in state.messages.values()}
    for webhook_id in set(state.received) - known:
        verdict.add("wrong", f"received webhook-id {webhook_id!r} the webhooks service never made")
    verdict.webhooks_received = sum(1 for times in state.received.values() if times)
    verdict.redelivered_webhooks = sum(max(0, times - 1) for times in state.received.values())


def _exactly_one(verdict: Verdict, count: int, what: str) -> None:
    if count == 0:
        verdict.add("lost", f"no {what}")
    elif count > 1:
        verdict.add("duplicated", f"{count} x {what}")


def judge_parking_lots(parked: Mapping[str, Sequence[str]], poisons: Iterable[Poison]) -> Verdict:
    """Every poison in its parking lot, once; nothing else in any parking lot."""
    verdict = Verdict()
    expected = Counter((poison.parking_lot, poison.message_id) for poison in poisons)
    found = Counter((lot, message_id) for lot, ids in parked.items() for message_id in ids)
    for (lot, message_id), times in (found - expected).items():
        verdict.add("wrong", f"{lot} holds {message_id} ({times}x), which is no injected poison")
    for (lot, message_id), times in (expected - found).items():
        verdict.add("wrong", f"poison {message_id} not parked in {lot} ({times}x missing)")
    return verdict
