"""Replaying a recorded quote sequence through the pure matching code gives the recorded result.

replay/session.json holds the orders and quotes; replay/expected.json the executions, events,
final orders and positions, worked out by hand. The same input must always give the same output,
execution ids included: that is what makes a redelivered or replayed quote harmless.
"""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import UUID

from tradewind.common.contracts import OrderFill, Quote
from tradewind.common.contracts.types import OrderType, Side, TimeInForce
from tradewind.orders.domain import Order, Position, SymbolBook, match_quote, settle
from unit.orders.builders import T0, working_order

RECORDINGS = Path(__file__).parent / "replay"


def load(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((RECORDINGS / name).read_text())
    return loaded


def clock_at(sequence: int) -> Any:
    return T0 + timedelta(seconds=sequence)


def text(value: Decimal | None) -> str | None:
    return None if value is None else format(value, "f")


def replay(session: dict[str, Any]) -> dict[str, Any]:
    """Feed the session's quotes, in order, to the matching code; describe what happened."""
    symbol = session["symbol"]
    specs = session["orders"]
    orders: dict[UUID, Order] = {}
    names: dict[UUID, str] = {}
    for age, spec in enumerate(reversed(specs), start=1):
        order = working_order(
            order_id=UUID(spec["id"]),
            account=spec["account"],
            side=Side(spec["side"]),
            order_type=OrderType(spec["type"]),
            qty=spec["qty"],
            limit=spec.get("limit_price"),
            stop=spec.get("stop_price"),
            tif=TimeInForce(spec["time_in_force"]),
            symbol=symbol,
            age=age,
        )
        orders[order.id] = order
        names[order.id] = spec["name"]
    book = SymbolBook(symbol)
    positions: dict[str, Position] = {}
    result: dict[str, Any] = {"skipped_sequences": [], "executions": [], "events": []}
    triggered_at: dict[str, int | None] = {}
    for fields in session["quotes"]:
        quote = Quote(symbol=symbol, timestamp=clock_at(fields["sequence"]), **fields)
        if not book.is_older_than(quote):
            result["skipped_sequences"].append(quote.sequence)
            continue
        now = clock_at(quote.sequence)
        working = [order for order in orders.values() if order.is_working]
        match = match_quote(book, quote, working, now)
        settlement = settle(match, positions, now)
        book = match.book
        for change in match.changes:
            orders[change.order.id] = change.order
            if change.order.stop_triggered_at == now:
                triggered_at[names[change.order.id]] = quote.sequence
        positions.update({position.account_id: position for position in settlement.positions})
        result["executions"] += [
            {
                "id": str(execution.id),
                "sequence": execution.quote_sequence,
                "order": names[execution.order_id],
                "account": execution.account_id,
                "side": execution.side.value,
                "qty": text(execution.qty),
                "price": text(execution.price),
            }
            for execution in match.executions
        ]
        for staged in settlement.events:
            event: dict[str, Any] = {
                "sequence": quote.sequence,
                "type": staged.data.TYPE,
                "order": names[staged.order.id],
                "filled_qty": text(staged.order.filled_qty),
            }
            if isinstance(staged.data, OrderFill):
                event["filled_avg_price"] = text(staged.data.filled_avg_price)
                event["position_qty"] = text(staged.data.position_qty)
            result["events"].append(event)
    result["orders"] = {
        names[order.id]: {
            "status": order.status.value,
            "filled_qty": text(order.filled_qty),
            "filled_avg_price": text(order.filled_avg_price),
            "stop_triggered_at_sequence": triggered_at.get(names[order.id]),
        }
        for order in orders.values()
    }
    result["positions"] = {
        account: {
            "qty": text(position.qty),
            "avg_entry_price": text(position.avg_entry_price),
            "realized_pl": text(position.realized_pl),
        }
        for account, position in sorted(positions.items())
    }
    return result


def test_the_recorded_session_replays_to_the_recorded_result() -> None:
    expected = load("expected.json")
    expected.pop("description")

    outcome = replay(load("session.json"))

    for part in ("skipped_sequences", "executions", "events", "orders", "positions"):
        assert outcome[part] == expected[part], part


def test_replaying_twice_gives_identical_results() -> None:
    session = load("session.json")

    assert replay(session) == replay(session)


def test_replaying_a_quote_again_changes_nothing() -> None:
    session = load("session.json")
    with_redeliveries = {
        **session,
        "quotes": [quote for quote in session["quotes"] for _ in range(2)],
    }

    outcome = replay(with_redeliveries)
    reference = replay(session)

    assert outcome["executions"] == reference["executions"]
    assert outcome["orders"] == reference["orders"]
    assert outcome["positions"] == reference["positions"]
