"""The chaos drills' judge: each broken promise is found, and a sound state passes.

The drills themselves (tests/e2e/test_chaos_short.py, `make chaos`) can only show that nothing
was found; these show that something would have been.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections import Counter
from decimal import Decimal

from chaos.invariants import (
    AccountSnapshot,
    ExecutionRow,
    OrderRow,
    OutboxEvent,
    WebhookMessage,
    judge,
    judge_parking_lots,
)
from chaos.load import Ledger, PlacedOrder
from chaos.system import Poison

ACCOUNT = "acct"


class Story:
    """A sound account built step by step: every state change with its event, every event
    with its webhook, received once."""

    def __init__(self) -> None:
        self.ledger = Ledger()
        self.state = AccountSnapshot(ACCOUNT, {}, [], {}, [], {}, Counter())

    def event(self, event_type: str, subject: uuid.UUID, **data: object) -> OutboxEvent:
        event = OutboxEvent(str(uuid.uuid4()), event_type, str(subject), True, data)
        self.state.events.append(event)
        webhook_id = f"msg_{event.id}"
        self.state.messages[event.id] = WebhookMessage(webhook_id, event.id, "succeeded")
        self.state.received[webhook_id] += 1
        return event

    def place(self, qty: str = "10", status: str = "new") -> uuid.UUID:
        order_id = uuid.uuid4()
        self.ledger.place_requests += 1
        self.ledger.placed[order_id] = PlacedOrder("limit", "AAPL")
        self.state.orders[order_id] = OrderRow(order_id, status, Decimal(qty), Decimal(0), None)
        self.event("order.accepted", order_id)
        return order_id

    def fill(self, order_id: uuid.UUID, qty: str, side: str = "buy") -> uuid.UUID:
        order = self.state.orders[order_id]
        filled = order.filled_qty + Decimal(qty)
        status = "filled" if filled == order.qty else "partially_filled"
        self.state.orders[order_id] = dataclasses.replace(order, status=status, filled_qty=filled)
        execution = ExecutionRow(uuid.uuid4(), order_id, "AAPL", side, Decimal(qty))
        self.state.executions.append(execution)
        signed = Decimal(qty) if side == "buy" else -Decimal(qty)
        self.state.positions["AAPL"] = self.state.positions.get("AAPL", Decimal(0)) + signed
        self.event(f"order.{status}", order_id, execution_id=str(execution.id))
        return execution.id

    def cancel(self, order_id: uuid.UUID) -> None:
        self.ledger.cancel_attempts[order_id] += 1
        self.ledger.cancels_accepted[order_id] += 1
        order = self.state.orders[order_id]
        self.state.orders[order_id] = dataclasses.replace(order, status="canceled")
        self.event("order.canceled", order_id)

    def replace(self, order_id: uuid.UUID) -> uuid.UUID:
        new_id = uuid.uuid4()
        self.ledger.replace_requests += 1
        self.ledger.replacements[new_id] = order_id
        order = self.state.orders[order_id]
        self.state.orders[order_id] = dataclasses.replace(order, status="replaced")
        self.state.orders[new_id] = OrderRow(new_id, "new", order.qty, Decimal(0), order_id)
        self.event("order.replaced", order_id, replacement={"id": str(new_id)})
        return new_id

    def findings(self) -> list[tuple[str, str]]:
        return [(f.kind, f.what) for f in judge(self.state, self.ledger).findings]

    def kinds(self) -> Counter[str]:
        return Counter(kind for kind, _ in self.findings())


def a_busy_account() -> Story:
    story = Story()
    filled = story.place()
    story.fill(filled, "4")
    story.fill(filled, "6", side="buy")
    canceled = story.place()
    story.fill(canceled, "3")
    story.cancel(canceled)
    replaced = story.place()
    replacement = story.replace(replaced)
    story.fill(replacement, "2", side="sell")
    story.place()
    return story


def test_a_sound_account_has_no_findings() -> None:
    story = a_busy_account()
    assert story.findings() == []


def test_an_order_answered_202_that_never_arrived_is_lost() -> None:
    story = a_busy_account()
    story.ledger.placed[uuid.uuid4()] = PlacedOrder("market", "AAPL")
    assert story.kinds() == {"lost": 1}


def test_a_refused_replace_is_decided_by_its_rejected_replacement_and_its_refusal() -> None:
    story = a_busy_account()
    original = story.place()
    refused = uuid.uuid4()
    story.ledger.replacements[refused] = original
    assert story.kinds() == {"lost": 1}
    story.event("order.replace_rejected", original, new_order_id=str(refused))
    assert story.kinds() == {"lost": 1}, "a refusal without the rejected order it records"
    story.state.orders[refused] = OrderRow(refused, "rejected", Decimal(5), Decimal(0), original)
    assert story.findings() == []


def test_a_rejected_replacement_without_its_refusal_is_lost() -> None:
    story = a_busy_account()
    original = story.place()
    refused = uuid.uuid4()
    story.ledger.replacements[refused] = original
    story.state.orders[refused] = OrderRow(refused, "rejected", Decimal(5), Decimal(0), original)
    assert story.kinds() == {"lost": 1}
    story.event("order.replace_rejected", original, new_order_id=str(refused))
    story.event("order.replace_rejected", original, new_order_id=str(refused))
    assert story.kinds() == {"duplicated": 1}


def test_a_second_acceptance_of_one_order_is_a_duplicate() -> None:
    story = a_busy_account()
    story.event("order.accepted", next(iter(story.ledger.placed)))
    assert story.kinds() == {"duplicated": 1}


def test_a_fill_event_per_execution_exactly() -> None:
    story = a_busy_account()
    execution = story.state.executions[0]
    twice = OutboxEvent("again", "order.partially_filled", str(execution.order_id), True, {})
    story.state.events.append(
        OutboxEvent(
            twice.id,
            twice.type,
            twice.subject,
            True,
            {"execution_id": str(execution.id)},
        )
    )
    story.state.messages[twice.id] = WebhookMessage("msg_again", twice.id, "succeeded")
    story.state.received["msg_again"] += 1
    assert story.kinds() == {"duplicated": 1}
    story.state.events[:] = [
        e for e in story.state.events if e.data.get("execution_id") != str(execution.id)
    ]
    assert story.kinds() == {"lost": 1}


def test_a_fill_beyond_the_executions_or_the_quantity_is_a_double_fill() -> None:
    story = a_busy_account()
    order_id = story.place(qty="5")
    story.fill(order_id, "5")
    # The same execution applied twice to the order (its figures), once to the record.
    story.state.orders[order_id] = dataclasses.replace(
        story.state.orders[order_id], filled_qty=Decimal(10)
    )
    assert ("duplicated", f"order {order_id}: qty 5, filled 10, executed 5") in story.findings()


def test_a_position_that_is_not_the_sum_of_the_fills_is_wrong() -> None:
    story = a_busy_account()
    story.state.positions["AAPL"] += 1
    assert story.kinds() == {"wrong": 1}


def test_an_event_the_partner_never_got_is_lost_and_one_got_twice_is_only_reported() -> None:
    story = a_busy_account()
    first, second = story.state.events[0], story.state.events[1]
    story.state.received[story.state.messages[first.id].webhook_id] = 0
    story.state.received[story.state.messages[second.id].webhook_id] = 3
    verdict = judge(story.state, story.ledger)
    assert [f.kind for f in verdict.findings] == ["lost"]
    assert verdict.redelivered_webhooks == 2


def test_an_event_still_in_the_outbox_is_lost() -> None:
    story = a_busy_account()
    event = story.state.events[0]
    story.state.events[0] = OutboxEvent(event.id, event.type, event.subject, False, event.data)
    assert story.kinds() == {"lost": 1}


def test_a_cancel_answered_202_has_one_outcome_and_no_more_than_were_sent() -> None:
    story = a_busy_account()
    order_id = story.place()
    story.ledger.cancel_attempts[order_id] += 1
    story.ledger.cancels_accepted[order_id] += 1
    assert story.kinds() == {"lost": 1}
    story.event("order.cancel_rejected", order_id)
    assert story.findings() == []
    story.event("order.cancel_rejected", order_id)
    assert story.kinds() == {"duplicated": 1}


def test_parking_lots_hold_the_poison_and_nothing_else() -> None:
    poison = Poison("poison-1", "ns.orders.commands.parked")
    assert judge_parking_lots({"ns.orders.commands.parked": ["poison-1"]}, [poison]).findings == []
    stray = judge_parking_lots({"ns.orders.commands.parked": ["poison-1", "a-cancel"]}, [poison])
    assert [f.kind for f in stray.findings] == ["wrong"]
    missing = judge_parking_lots({"ns.orders.commands.parked": []}, [poison])
    assert [f.kind for f in missing.findings] == ["wrong"]
